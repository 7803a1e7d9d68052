"""Reading manifests sealed by the original hidden-tahoe-backup (2014).

Its ``secretBox.py`` wrote ``base64(nonce || SecretBox ciphertext)`` with no
header. The key was ``scrypt(k0, salt=k0[:10], N=2048, r=20, p=1000)`` with
``k0 = sha256(passphrase)``; before its last commit, plainly ``k0``. Both are
tried. Weaknesses the current format fixes: the salt is derived from the
passphrase (same passphrase, same key: precomputation works), and nothing
records the format or the KDF, so neither can ever be raised.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import nacl.exceptions
import nacl.secret

from htb.errors import ManifestInvalidError, NotSealedError, WrongPassphraseError
from htb.manifest.schema import MANIFEST_VERSION, Manifest, validate

_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
NONCE_LEN = nacl.secret.SecretBox.NONCE_SIZE


def legacy_keys(passphrase: str) -> Iterator[bytes]:
    """The keys the original tool could have used, the cheap one first (scrypt: ~11 s)."""
    k0 = hashlib.sha256(passphrase.encode("utf-8")).digest()
    yield k0
    yield hashlib.scrypt(k0, salt=k0[:10], n=2048, r=20, p=1000, maxmem=64 * 1024**2, dklen=32)


def looks_legacy(data: bytes) -> bool:
    """Base64 text long enough to hold a nonce and a tag, and nothing else."""
    stripped = data.strip()
    if not stripped or not _B64.match(stripped):
        return False
    try:
        raw = base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= NONCE_LEN + nacl.secret.SecretBox.MACBYTES


def legacy_unseal(data: bytes, passphrase: str) -> bytes:
    """Decrypt an original hidden-tahoe-backup manifest; returns its JSON bytes."""
    if not looks_legacy(data):
        raise NotSealedError("not a hidden-tahoe-backup (2014) sealed manifest")
    raw = base64.b64decode(b"".join(data.strip().split()))
    nonce, ciphertext = raw[:NONCE_LEN], raw[NONCE_LEN:]
    for key in legacy_keys(passphrase):
        try:
            return nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
        except nacl.exceptions.CryptoError:
            continue
    raise WrongPassphraseError(
        "this 2014 hidden-tahoe-backup manifest does not open with that passphrase "
        "(or it was altered: that format cannot tell the two apart)"
    )


def _tor_hint(hint: str) -> str:
    """``xxx.onion:5432`` meant "via Tor" in 2014; say so explicitly now."""
    if hint.startswith(("tor:", "tcp:")):
        return hint
    host = hint.rsplit(":", 1)[0]
    return f"tor:{hint}" if host.endswith(".onion") else f"tcp:{hint}"


def _convert_furl(furl: str) -> str:
    match = re.match(r"^(pb://[^@]+@)([^/]+)(/.*)$", furl)
    if not match:
        return furl  # the schema will name it
    hints = ",".join(_tor_hint(h) for h in match.group(2).split(","))
    return f"{match.group(1)}{hints}{match.group(3)}"


def convert(old: dict[str, Any]) -> Manifest:
    """Map the 2014 JSON (``fields.introducerNodes`` etc.) onto manifest version 1."""
    if old.get("type") != "TahoeLAFSBackupManifest" or not isinstance(old.get("fields"), dict):
        raise ManifestInvalidError(
            "not a 2014 hidden-tahoe-backup manifest (type TahoeLAFSBackupManifest)"
        )
    f = old["fields"]
    introducers = {
        ("default" if i == 0 else f"introducer{i}"): {"furl": _convert_furl(furl)}
        for i, furl in enumerate(f.get("introducerNodes", []))
    }
    servers = {
        nick: {"ann": {"nickname": nick, "anonymous-storage-FURL": _convert_furl(furl)}}
        for nick, furl in f.get("storageNodes", {}).items()
    }
    backups = []
    for task in f.get("tasks", []):
        entry: dict[str, Any] = {
            "alias": task["backupAlias"],
            "path": task["remoteSnapshot"],
            "local": task["localDirectory"],
        }
        if task.get("excludes"):
            entry["excludes"] = list(task["excludes"])
        backups.append(entry)
    grid: dict[str, Any] = {
        # The original always wrote 3-of-6 with happy = total.
        "shares": {"needed": 3, "happy": 6, "total": 6},
    }
    if introducers:
        grid["introducers"] = introducers
    if servers:
        grid["servers"] = servers
    new: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "grid": grid,
        "aliases": dict(f.get("snapshotAliases", {})),
        "backups": backups,
    }
    for key in ("name", "description"):
        if isinstance(old.get(key), str):
            new[key] = old[key]
    if f.get("tails_dotfiles"):
        new["x-legacy-tails-dotfiles"] = f["tails_dotfiles"]
    return validate(new)


def legacy_loads(plaintext: bytes) -> Manifest:
    try:
        old = json.loads(plaintext)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestInvalidError(f"legacy manifest is not valid JSON: {exc}") from None
    if not isinstance(old, dict):
        raise ManifestInvalidError("legacy manifest is not a JSON object")
    return convert(old)
