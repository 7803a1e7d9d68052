"""The sealed envelope: Argon2id key derivation + NaCl SecretBox, every byte authenticated.

Binary layout (all integers big-endian), documented in docs/manifest-format.md::

    offset size  field
    0      4     magic  b"HTBM"
    4      1     format version (1)
    5      1     KDF id (1 = Argon2id v1.3, libsodium crypto_pwhash_argon2id)
    6      4     opslimit   (uint32)
    10     8     memlimit   (uint64, bytes)
    18     16    salt       (random)
    34     24    nonce      (random)
    58     4     ciphertext length (uint32, includes the 16-byte Poly1305 tag)
    62     16    check: BLAKE2b-128(key=master, person="htb-check-v1", header[0:62])
    78     n     SecretBox ciphertext (XSalsa20-Poly1305) under
                 BLAKE2b-256(key=master, person="htb-box-v1", header[0:62])

``master = Argon2id(passphrase, salt, opslimit, memlimit)``. Binding the box key
to the header authenticates the header; the check value lets a reader tell a
wrong passphrase from a tampered body. It adds nothing for an attacker: a guess
costs the same Argon2id run whether it is tested against the check or the tag.

The armored form wraps the binary in base64 between BEGIN/END lines, with a
checksum line so damage in transit is reported before the slow KDF runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import unicodedata
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from htb.errors import (
    DamagedArmorError,
    NotSealedError,
    TamperedError,
    TruncatedError,
    UnsupportedVersionError,
    WrongPassphraseError,
)

MAGIC = b"HTBM"
FORMAT_VERSION = 1
KDF_ARGON2ID = 1

_HEADER = struct.Struct(">4sBBIQ16s24sI")
HEADER_LEN = _HEADER.size  # 62
CHECK_LEN = 16
PREFIX_LEN = HEADER_LEN + CHECK_LEN  # 78
SALT_LEN = 16
TAG_LEN = nacl.secret.SecretBox.MACBYTES

ARMOR_BEGIN = "-----BEGIN HTB SEALED MANIFEST-----"
ARMOR_END = "-----END HTB SEALED MANIFEST-----"
_ARMOR_WIDTH = 64


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: operations and memory (bytes) per passphrase guess."""

    opslimit: int
    memlimit: int

    def validate(self) -> None:
        """Refuse costs outside what libsodium accepts or what a reader should run."""
        if not OPSLIMIT_MIN <= self.opslimit <= OPSLIMIT_MAX:
            raise UnsupportedVersionError(
                f"KDF opslimit {self.opslimit} is outside {OPSLIMIT_MIN}..{OPSLIMIT_MAX}: "
                "the file is damaged or was not written by htb"
            )
        if not MEMLIMIT_MIN <= self.memlimit <= MEMLIMIT_MAX:
            raise UnsupportedVersionError(
                f"KDF memlimit {self.memlimit} bytes is outside {MEMLIMIT_MIN}..{MEMLIMIT_MAX}: "
                "the file is damaged or was not written by htb"
            )


OPSLIMIT_MIN = nacl.pwhash.argon2id.OPSLIMIT_MIN
MEMLIMIT_MIN = nacl.pwhash.argon2id.MEMLIMIT_MIN
# A reader refuses to run more than this: a hostile header must not exhaust a
# Tails laptop's RAM (Tails runs from memory).
OPSLIMIT_MAX = 64
MEMLIMIT_MAX = 2 * 1024**3

# libsodium's MODERATE: 256 MiB and 3 passes per guess (see docs/benchmarks.md).
DEFAULT_KDF = KdfParams(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
)
# Cheapest valid cost: for tests only, never a default.
TEST_KDF = KdfParams(opslimit=OPSLIMIT_MIN, memlimit=MEMLIMIT_MIN)


@dataclass(frozen=True)
class Header:
    """The parsed, not yet authenticated, header of a binary envelope."""

    version: int
    kdf_id: int
    kdf: KdfParams
    salt: bytes
    nonce: bytes
    ciphertext_len: int

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            self.version,
            self.kdf_id,
            self.kdf.opslimit,
            self.kdf.memlimit,
            self.salt,
            self.nonce,
            self.ciphertext_len,
        )


def normalize_passphrase(passphrase: str) -> bytes:
    """NFC-normalize, so the same words typed on another system give the same key."""
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _master_key(passphrase: str, salt: bytes, kdf: KdfParams) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        32,
        normalize_passphrase(passphrase),
        salt,
        opslimit=kdf.opslimit,
        memlimit=kdf.memlimit,
    )


def _subkey(master: bytes, person: bytes, header: bytes, size: int) -> bytes:
    return hashlib.blake2b(header, digest_size=size, key=master, person=person).digest()


def seal(plaintext: bytes, passphrase: str, kdf: KdfParams = DEFAULT_KDF) -> bytes:
    """Encrypt and authenticate ``plaintext``; returns the binary envelope."""
    kdf.validate()
    parsed = Header(
        version=FORMAT_VERSION,
        kdf_id=KDF_ARGON2ID,
        kdf=kdf,
        salt=nacl.utils.random(SALT_LEN),
        nonce=nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE),
        ciphertext_len=len(plaintext) + TAG_LEN,
    )
    header = parsed.pack()
    master = _master_key(passphrase, parsed.salt, kdf)
    check = _subkey(master, b"htb-check-v1", header, CHECK_LEN)
    box = nacl.secret.SecretBox(_subkey(master, b"htb-box-v1", header, 32))
    ciphertext = box.encrypt(plaintext, parsed.nonce).ciphertext
    return header + check + ciphertext


def parse_header(blob: bytes) -> Header:
    """Parse and sanity-check the header; raise a distinct error for each defect."""
    if len(blob) < len(MAGIC) or blob[: len(MAGIC)] != MAGIC:
        raise NotSealedError("not a sealed htb manifest (no HTBM header)")
    if len(blob) < len(MAGIC) + 1:
        raise TruncatedError("sealed manifest truncated inside its header")
    version = blob[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"sealed with format version {version}; this htb reads version "
            f"{FORMAT_VERSION}: use a newer htb"
        )
    if len(blob) < PREFIX_LEN:
        raise TruncatedError(
            f"sealed manifest truncated inside its header ({len(blob)} of {PREFIX_LEN} bytes)"
        )
    _, version, kdf_id, ops, mem, salt, nonce, ct_len = _HEADER.unpack_from(blob)
    if kdf_id != KDF_ARGON2ID:
        raise UnsupportedVersionError(f"unknown key-derivation function id {kdf_id}")
    kdf = KdfParams(opslimit=ops, memlimit=mem)
    kdf.validate()
    if ct_len < TAG_LEN:
        raise TamperedError("sealed manifest damaged: impossible ciphertext length")
    actual = len(blob) - PREFIX_LEN
    if actual < ct_len:
        raise TruncatedError(
            f"sealed manifest truncated: {PREFIX_LEN + ct_len} bytes expected, {len(blob)} found"
        )
    if actual > ct_len:
        raise TamperedError(
            f"sealed manifest damaged: {actual - ct_len} unexpected bytes after its end"
        )
    return Header(version, kdf_id, kdf, salt, nonce, ct_len)


def unseal(blob: bytes, passphrase: str) -> bytes:
    """Return the plaintext, or raise; never returns partial or unauthenticated data."""
    parsed = parse_header(blob)
    header = blob[:HEADER_LEN]
    master = _master_key(passphrase, parsed.salt, parsed.kdf)
    expected = _subkey(master, b"htb-check-v1", header, CHECK_LEN)
    if not hmac.compare_digest(expected, blob[HEADER_LEN:PREFIX_LEN]):
        raise WrongPassphraseError(
            "wrong passphrase (or the manifest's header was altered): nothing was decrypted"
        )
    box = nacl.secret.SecretBox(_subkey(master, b"htb-box-v1", header, 32))
    try:
        return box.decrypt(blob[PREFIX_LEN:], parsed.nonce)
    except nacl.exceptions.CryptoError:
        raise TamperedError(
            "the manifest was altered or damaged after sealing (authentication failed): "
            "ask a trusted friend for another copy"
        ) from None


# --- ASCII armor -------------------------------------------------------------
def _armor_checksum(blob: bytes) -> str:
    return base64.b64encode(hashlib.blake2b(blob, digest_size=6).digest()).decode()


def armor(blob: bytes) -> str:
    """Wrap a binary envelope in a text block that survives e-mail and chat."""
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + _ARMOR_WIDTH] for i in range(0, len(body), _ARMOR_WIDTH)]
    return "\n".join([ARMOR_BEGIN, "", *lines, "=" + _armor_checksum(blob), ARMOR_END, ""])


# A pasted block may be quoted ("> ") or indented; tolerate both.
_QUOTE = re.compile(r"^[\s>]*")


def is_armored(data: bytes) -> bool:
    return ARMOR_BEGIN.encode() in data


def dearmor(text: bytes | str) -> bytes:
    """Extract the binary envelope from the first armored block in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [_QUOTE.sub("", line).strip() for line in text.splitlines()]
    try:
        start = lines.index(ARMOR_BEGIN)
    except ValueError:
        raise NotSealedError(f"no '{ARMOR_BEGIN}' line found") from None
    try:
        end = lines.index(ARMOR_END, start)
    except ValueError:
        raise TruncatedError(
            f"armored manifest truncated: no '{ARMOR_END}' line (was it cut off?)"
        ) from None
    body = [line for line in lines[start + 1 : end] if line]
    if not body or not body[-1].startswith("="):
        raise TruncatedError("armored manifest truncated: its checksum line is missing")
    checksum = body.pop()[1:]
    try:
        blob = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise DamagedArmorError(
            "armored manifest damaged in transit (not valid base64): ask for another copy"
        ) from None
    if not hmac.compare_digest(_armor_checksum(blob), checksum):
        raise DamagedArmorError(
            "armored manifest damaged in transit (checksum mismatch): ask for another copy"
        )
    return blob


def to_binary(data: bytes) -> bytes:
    """Accept either form (binary or armored) and return the binary envelope."""
    return dearmor(data) if is_armored(data) else data
