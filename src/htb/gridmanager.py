"""The operator's Grid Manager: its key, sealed at rest, and the certificates it signs.

A Tahoe client with Grid Manager keys in ``[grid_managers]`` uploads only to
storage servers whose announcement carries an unexpired certificate signed by one
of them (Tahoe 1.20, ``allmydata.grid_manager``). A node that joins with a leaked
introducer FURL gets no shares. This module writes Tahoe's formats exactly
(``priv-v0-``/``pub-v0-`` keys, the signed JSON certificate), so the controller
needs PyNaCl, not Tahoe; ``tests/integration`` checks with Tahoe's own code that
Tahoe accepts what it signs.

The private key never rests unsealed: its file is the project's sealed envelope
(``htb.manifest.envelope``, Argon2id + SecretBox) under the operator's passphrase,
holding ``{"htb": "grid-manager-key", "private_key": "priv-v0-..."}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.exceptions
import nacl.signing

from htb.errors import GridManagerError, SealError
from htb.manifest.envelope import DEFAULT_KDF, KdfParams, seal, unseal

PRIVATE_PREFIX = "priv-v0-"
PUBLIC_PREFIX = "pub-v0-"
# 32 raw bytes in Tahoe's base32 (lower case, no padding) are 52 characters.
PUBLIC_KEY_RE = re.compile(r"^pub-v0-[a-z2-7]{52}$")
_KEY_FILE_KIND = "grid-manager-key"
CERTIFICATE_VERSION = 1


def _b2a(raw: bytes) -> str:
    """Tahoe's base32: RFC 3548 alphabet, lower case, no padding."""
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _a2b(text: str) -> bytes:
    if not re.fullmatch(r"[a-z2-7]+", text):
        raise ValueError("not Tahoe base32")
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def new_private_key() -> str:
    """A fresh Ed25519 signing key, as Tahoe writes one (``priv-v0-...``)."""
    return PRIVATE_PREFIX + _b2a(bytes(nacl.signing.SigningKey.generate()))


def _signing_key(private_key: str) -> nacl.signing.SigningKey:
    try:
        if not private_key.startswith(PRIVATE_PREFIX):
            raise ValueError("no priv-v0- prefix")
        seed = _a2b(private_key[len(PRIVATE_PREFIX) :])
        return nacl.signing.SigningKey(seed)
    except (ValueError, binascii.Error, nacl.exceptions.ValueError, TypeError):
        # The message names no byte of the key.
        raise GridManagerError("the Grid Manager's private key is malformed") from None


def check_public_key(public_key: str, what: str) -> nacl.signing.VerifyKey:
    """The key of a ``pub-v0-...`` string; GridManagerError naming ``what`` otherwise."""
    if not isinstance(public_key, str) or not PUBLIC_KEY_RE.fullmatch(public_key):
        raise GridManagerError(f"{what} is not a Tahoe public key (pub-v0-<52 base32>)")
    return nacl.signing.VerifyKey(_a2b(public_key[len(PUBLIC_PREFIX) :]))


def public_key(private_key: str) -> str:
    """The ``pub-v0-...`` string clients put under ``[grid_managers]``."""
    return PUBLIC_PREFIX + _b2a(bytes(_signing_key(private_key).verify_key))


def sign(private_key: str, node_public_key: str, expires: datetime) -> dict[str, str]:
    """A certificate for the storage node whose ``node.pubkey`` is ``node_public_key``.

    The mapping is what Tahoe reads from a certificate file and what a storage
    announcement carries under ``grid-manager-certificates``.
    """
    check_public_key(node_public_key, "the storage node's public key")
    if expires.tzinfo is None:
        raise ValueError("expires must carry a time zone")
    body = json.dumps(
        {
            "expires": expires.astimezone(UTC).isoformat(),
            "public_key": node_public_key,
            "version": CERTIFICATE_VERSION,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    signature = _signing_key(private_key).sign(body.encode("utf-8")).signature
    return {"certificate": body, "signature": _b2a(signature)}


@dataclass(frozen=True)
class Certificate:
    """What a certificate verified against a Grid Manager's public key says."""

    node_public_key: str
    expires: datetime


def verify(grid_manager_public_key: str, certificate: Any) -> Certificate:
    """Check ``certificate`` as a Tahoe client does: signed by this key, version 1.

    Raises :class:`GridManagerError` for anything else (one line, no bytes of it).
    Expiry is the caller's to judge: :attr:`Certificate.expires`.
    """
    if isinstance(certificate, str):
        try:
            certificate = json.loads(certificate)
        except ValueError:
            raise GridManagerError("the certificate is not JSON") from None
    if not isinstance(certificate, dict) or set(certificate) != {"certificate", "signature"}:
        raise GridManagerError("a certificate has exactly the fields certificate and signature")
    body, signature = certificate["certificate"], certificate["signature"]
    if not isinstance(body, str) or not isinstance(signature, str):
        raise GridManagerError("a certificate's fields are strings")
    key = check_public_key(grid_manager_public_key, "the Grid Manager's public key")
    try:
        key.verify(body.encode("utf-8"), _a2b(signature))
    except (ValueError, binascii.Error, nacl.exceptions.BadSignatureError):
        raise GridManagerError(
            "the certificate is not signed by this Grid Manager (foreign or altered)"
        ) from None
    try:
        data = json.loads(body)
        if data["version"] != CERTIFICATE_VERSION:
            raise GridManagerError(f"unknown certificate version {data['version']!r}")
        expires = datetime.fromisoformat(data["expires"])
        node = data["public_key"]
    except (ValueError, KeyError, TypeError):
        raise GridManagerError("the certificate's signed content is malformed") from None
    if expires.tzinfo is None:
        raise GridManagerError("the certificate's expiry has no time zone")
    check_public_key(node, "the certified node's public key")
    return Certificate(node_public_key=node, expires=expires)


def needs_renewal(
    grid_manager_public_key: str,
    node_public_key: str,
    certificate: Any,
    renew_before: timedelta,
    now: datetime | None = None,
) -> str | None:
    """Why ``certificate`` must be replaced, or None when it may stay.

    Replaced: none at all, not this Grid Manager's, not this node's, expired, or
    expiring within ``renew_before``.
    """
    if not certificate:
        return "none yet"
    try:
        cert = verify(grid_manager_public_key, certificate)
    except GridManagerError as exc:
        return str(exc)
    if cert.node_public_key != node_public_key:
        return "certifies another node's key"
    now = now or datetime.now(UTC)
    if cert.expires <= now:
        return "expired"
    if cert.expires - now <= renew_before:
        return "expires within the renewal window"
    return None


def seal_key(private_key: str, passphrase: str, kdf: KdfParams = DEFAULT_KDF) -> bytes:
    """The key file's bytes: the sealed envelope of the key."""
    _signing_key(private_key)
    plain = json.dumps({"htb": _KEY_FILE_KIND, "private_key": private_key})
    return seal(plain.encode("utf-8"), passphrase, kdf)


def open_key(blob: bytes, passphrase: str) -> str:
    """The private key in a key file; raises GridManagerError with one line."""
    try:
        plain = unseal(blob, passphrase)
    except SealError as exc:
        raise GridManagerError(f"Grid Manager key file: {exc}") from None
    try:
        data = json.loads(plain)
        if data.get("htb") != _KEY_FILE_KIND:
            raise ValueError
        key: str = data["private_key"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GridManagerError(
            "that sealed file is not a Grid Manager key (a manifest or another secret?)"
        ) from None
    _signing_key(key)
    return key
