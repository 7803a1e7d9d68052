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
    58     4     ciphertext length n (uint32, includes the 16-byte Poly1305 tag)
    62     16    check: BLAKE2b-128(key=master, person="htb-check-v1", header[0:62])
    78     n     SecretBox ciphertext (XSalsa20-Poly1305) under
                 BLAKE2b-256(key=master, person="htb-box-v1", header[0:62])

``master = Argon2id(passphrase, salt, t=opslimit, m=memlimit // 1024 KiB, p=1)``,
version 0x13, 32 bytes. Binding the box key to the header authenticates the
header; the check value lets a reader tell a wrong passphrase from a tampered
body. It adds nothing for an attacker: a guess costs the same Argon2id run
whether it is tested against the check or the tag.

Hostile input. Everything here is written for files from strangers: every
defect is refused with an :class:`~htb.errors.HtbError` (one line, no bytes of
the input), and nothing costly runs before the header has been checked. A reader
checks, in this order (see :func:`parse_header`): size (``MAX_INPUT``), magic,
version, header length, KDF id, KDF cost (:meth:`KdfParams.validate`: at most 16
passes, 512 MiB, passes x memory <= 2 GiB, so one open costs at most ~2 s and
512 MiB), ciphertext length (16 .. ``MAX_PLAINTEXT`` + 16), exact file length;
only then the KDF (lack of memory -> :class:`~htb.errors.NotEnoughMemoryError`),
the check value, the box. Writers obey the same cost bound and ``MAX_PLAINTEXT``.

The armored form wraps the binary in base64 between BEGIN/END lines, with a
checksum line so damage in transit is reported before the slow KDF runs. It is
parsed as bytes by exact rules (:func:`dearmor`): lines end at LF (one CR before
it dropped), leading blanks and ``>`` quoting and trailing blanks are removed,
only the first block counts, and inside it every line but the checksum must be
base64 alphabet only, so header lines, non-ASCII and stray characters are
"damaged in transit", never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from htb.errors import (
    DamagedArmorError,
    HtbError,
    ManifestInvalidError,
    NotEnoughMemoryError,
    NotSealedError,
    PassphraseUnavailableError,
    TamperedError,
    TruncatedError,
    UnreadableFileError,
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
TAG_LEN = nacl.secret.SecretBox.MACBYTES  # 16

MIB = 1024 * 1024
# Any file read as a manifest (sealed, armored, 2014, plaintext JSON, stdin).
MAX_INPUT = 4 * MIB
# Manifest JSON; a binary header's ciphertext length n must be 16..MAX_CIPHERTEXT.
MAX_PLAINTEXT = MIB
MAX_CIPHERTEXT = MAX_PLAINTEXT + TAG_LEN
TOO_LARGE = "too large to be a manifest (over 4 MiB)"

ARMOR_BEGIN = "-----BEGIN HTB SEALED MANIFEST-----"
ARMOR_END = "-----END HTB SEALED MANIFEST-----"
_ARMOR_WIDTH = 64

# The KDF cost a reader runs and a writer writes. A hostile header must not
# exhaust a Tails laptop's RAM (Tails runs from memory, 2 GiB minimum) nor keep
# it busy for minutes: at most 512 MiB, and passes x memory at most 2 GiB (4x
# the default's 3 x 256 MiB; ~2 s on the machine of docs/benchmarks.md).
OPSLIMIT_MIN = nacl.pwhash.argon2id.OPSLIMIT_MIN  # 1
OPSLIMIT_MAX = 16
MEMLIMIT_MIN = nacl.pwhash.argon2id.MEMLIMIT_MIN  # 8192
MEMLIMIT_MAX = 512 * MIB
MEMLIMIT_UNIT = 1024  # Argon2's m is in KiB: memlimit must be whole KiB
COST_MAX = 2 * 1024**3  # opslimit * memlimit
_BOUNDS = "at most 16 passes, 512 MiB, and passes x memory <= 2 GiB"


def _show_size(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n} bytes"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: operations and memory (bytes) per passphrase guess."""

    opslimit: int
    memlimit: int

    @classmethod
    def from_options(cls, opslimit: int | None, memlimit_mib: int | None) -> KdfParams:
        """The cost an Ansible module was given (0 or None: the default's part)."""
        return cls(
            opslimit=opslimit or DEFAULT_KDF.opslimit,
            memlimit=memlimit_mib * MIB if memlimit_mib else DEFAULT_KDF.memlimit,
        )

    def in_bounds(self) -> bool:
        """Whether htb runs this cost (the bound of docs/manifest-format.md)."""
        return (
            OPSLIMIT_MIN <= self.opslimit <= OPSLIMIT_MAX
            and MEMLIMIT_MIN <= self.memlimit <= MEMLIMIT_MAX
            and self.memlimit % MEMLIMIT_UNIT == 0
            and self.opslimit * self.memlimit <= COST_MAX
        )

    def validate(self, *, reading: bool = True) -> None:
        """Refuse, before any derivation, a cost outside what htb runs.

        ``reading``: the cost comes from a file's header (else from a writer's settings).
        """
        if self.in_bounds():
            return
        passes = "pass" if self.opslimit == 1 else "passes"
        cost = f"KDF cost {self.opslimit} {passes} x {_show_size(self.memlimit)}"
        if self.opslimit < OPSLIMIT_MIN or self.memlimit < MEMLIMIT_MIN:
            problem = f"{cost} is below what Argon2id allows (at least 1 pass and 8 KiB)"
        elif self.memlimit % MEMLIMIT_UNIT:
            problem = f"{cost} is not a whole number of KiB of memory"
        else:
            problem = f"{cost} is above what htb runs ({_BOUNDS})"
        if reading:
            raise UnsupportedVersionError(
                f"{problem}: the file is damaged or was not written by htb"
            )
        raise UnsupportedVersionError(f"{problem}: choose a cost within those bounds")


# libsodium's MODERATE: 256 MiB and 3 passes per guess (see docs/benchmarks.md).
DEFAULT_KDF = KdfParams(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
)
# Cheapest valid cost: for tests only, never a default.
TEST_KDF = KdfParams(opslimit=OPSLIMIT_MIN, memlimit=MEMLIMIT_MIN)
# The costliest cost a reader accepts (most memory at the largest passes x memory).
MAX_KDF = KdfParams(opslimit=COST_MAX // MEMLIMIT_MAX, memlimit=MEMLIMIT_MAX)


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


# --- reading input, bounded ------------------------------------------------------
def _show_path(path: Path) -> str:
    """A path for a one-line message: control and undecodable characters escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))


def read_limited(source: Path | None, *, error: type[HtbError]) -> bytes:
    """Read a manifest input (``None``: standard input) of at most ``MAX_INPUT`` bytes.

    Reads at most ``MAX_INPUT + 1`` bytes, never the whole input first; more is
    refused with ``error`` ("too large to be a manifest"). A read failure is a
    local problem: :class:`~htb.errors.UnreadableFileError` (exit 1).
    """
    name = "standard input" if source is None else _show_path(source)
    try:
        if source is None:
            if sys.stdin is None:
                raise UnreadableFileError("cannot read standard input: there is none")
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with source.open("rb") as f:
                data = f.read(MAX_INPUT + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UnreadableFileError(f"cannot read {name}: {reason}") from None
    if len(data) > MAX_INPUT:
        raise error(f"{name} is {TOO_LARGE}")
    return data


def check_input_size(data: bytes) -> None:
    """Check 1 of every reader: refuse input over ``MAX_INPUT`` before parsing it."""
    if len(data) > MAX_INPUT:
        raise NotSealedError(f"the input is {TOO_LARGE}")


# --- the binary envelope ---------------------------------------------------------
def normalize_passphrase(passphrase: str) -> bytes:
    """NFC-normalize, so the same words typed on another system give the same key."""
    if not passphrase:
        raise PassphraseUnavailableError("the passphrase is empty")
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError:
        raise PassphraseUnavailableError(
            "the passphrase is not valid Unicode text (it holds a lone surrogate)"
        ) from None


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _not_enough_memory(kdf: KdfParams) -> NotEnoughMemoryError:
    need = -(-kdf.memlimit // MIB)
    return NotEnoughMemoryError(
        f"not enough free memory to derive the key (needs {need} MiB): "
        "close other programs and try again"
    )


def _master_key(secret: bytes, salt: bytes, kdf: KdfParams) -> bytes:
    kdf.validate()  # never derive with an unchecked cost, whoever calls
    # Tails has no swap: with Linux's overcommit an allocation can succeed and the
    # process then be killed without a word. Ask first.
    available = _available_memory()
    if available is not None and available < kdf.memlimit:
        raise _not_enough_memory(kdf)
    try:
        key: bytes = nacl.pwhash.argon2id.kdf(
            32, secret, salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit
        )
    except (MemoryError, nacl.exceptions.RuntimeError, RuntimeError):
        # The cost is valid (checked above), so libsodium fails only when Argon2's
        # memory cannot be allocated.
        raise _not_enough_memory(kdf) from None
    return key


def _subkey(master: bytes, person: bytes, header: bytes, size: int) -> bytes:
    return hashlib.blake2b(header, digest_size=size, key=master, person=person).digest()


def seal(plaintext: bytes, passphrase: str, kdf: KdfParams = DEFAULT_KDF) -> bytes:
    """Encrypt and authenticate ``plaintext``; returns the binary envelope."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise ManifestInvalidError(
            f"manifest too large: {len(plaintext)} bytes of JSON, at most {MAX_PLAINTEXT} (1 MiB)"
        )
    kdf.validate(reading=False)
    secret = normalize_passphrase(passphrase)
    parsed = Header(
        version=FORMAT_VERSION,
        kdf_id=KDF_ARGON2ID,
        kdf=kdf,
        salt=nacl.utils.random(SALT_LEN),
        nonce=nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE),
        ciphertext_len=len(plaintext) + TAG_LEN,
    )
    header = parsed.pack()
    master = _master_key(secret, parsed.salt, kdf)
    check = _subkey(master, b"htb-check-v1", header, CHECK_LEN)
    box = nacl.secret.SecretBox(_subkey(master, b"htb-box-v1", header, 32))
    ciphertext = box.encrypt(plaintext, parsed.nonce).ciphertext
    return header + check + ciphertext


def parse_header(blob: bytes) -> Header:
    """Checks 1-9 of a binary envelope, in the specified order; nothing costly runs."""
    check_input_size(blob)  # 1
    if blob[: len(MAGIC)] != MAGIC:  # 2 (also: shorter than 4 bytes)
        raise NotSealedError("not a sealed htb manifest (no HTBM header)")
    if len(blob) < len(MAGIC) + 1:  # 3
        raise TruncatedError("sealed manifest truncated inside its header")
    version = blob[len(MAGIC)]
    if version != FORMAT_VERSION:  # 4
        raise UnsupportedVersionError(
            f"sealed with format version {version}; this htb reads version "
            f"{FORMAT_VERSION}: use a newer htb"
        )
    if len(blob) < PREFIX_LEN:  # 5
        raise TruncatedError(
            f"sealed manifest truncated inside its header ({len(blob)} of {PREFIX_LEN} bytes)"
        )
    _, version, kdf_id, ops, mem, salt, nonce, ct_len = _HEADER.unpack_from(blob)
    if kdf_id != KDF_ARGON2ID:  # 6
        raise UnsupportedVersionError(f"unknown key-derivation function id {kdf_id}")
    kdf = KdfParams(opslimit=ops, memlimit=mem)
    kdf.validate()  # 7
    if ct_len < TAG_LEN:  # 8
        raise TamperedError("sealed manifest damaged: impossible ciphertext length")
    if ct_len > MAX_CIPHERTEXT:
        raise NotSealedError(
            "sealed manifest's header announces over 1 MiB of content: too large to be a manifest"
        )
    actual = len(blob) - PREFIX_LEN
    if actual < ct_len:  # 9
        raise TruncatedError(
            f"sealed manifest truncated: {PREFIX_LEN + ct_len} bytes expected, {len(blob)} found"
        )
    if actual > ct_len:
        raise TamperedError(
            f"sealed manifest damaged: {actual - ct_len} unexpected bytes after its end"
        )
    return Header(version, kdf_id, kdf, salt, nonce, ct_len)


def open_envelope(blob: bytes, passphrase: str) -> tuple[Header, bytes]:
    """Checks 1-11: the header and the plaintext; never partial or unauthenticated data."""
    parsed = parse_header(blob)
    secret = normalize_passphrase(passphrase)
    header = blob[:HEADER_LEN]
    master = _master_key(secret, parsed.salt, parsed.kdf)  # 10
    expected = _subkey(master, b"htb-check-v1", header, CHECK_LEN)
    if not hmac.compare_digest(expected, blob[HEADER_LEN:PREFIX_LEN]):
        raise WrongPassphraseError(
            "wrong passphrase (or the manifest's header was altered): nothing was decrypted"
        )
    box = nacl.secret.SecretBox(_subkey(master, b"htb-box-v1", header, 32))
    try:  # 11
        plaintext: bytes = box.decrypt(blob[PREFIX_LEN:], parsed.nonce)
    except nacl.exceptions.CryptoError:
        raise TamperedError(
            "the manifest was altered or damaged after sealing (authentication failed): "
            "ask a trusted friend for another copy"
        ) from None
    return parsed, plaintext


def unseal(blob: bytes, passphrase: str) -> bytes:
    """Return the plaintext, or raise; never returns partial or unauthenticated data."""
    return open_envelope(blob, passphrase)[1]


# --- ASCII armor -------------------------------------------------------------
_BEGIN = ARMOR_BEGIN.encode()
_END = ARMOR_END.encode()
_BASE64_ONLY = re.compile(rb"[A-Za-z0-9+/=]*")


def _armor_checksum(blob: bytes) -> str:
    return base64.b64encode(hashlib.blake2b(blob, digest_size=6).digest()).decode()


def armor(blob: bytes) -> str:
    """Wrap a binary envelope in a text block that survives e-mail and chat."""
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + _ARMOR_WIDTH] for i in range(0, len(body), _ARMOR_WIDTH)]
    return "\n".join([ARMOR_BEGIN, "", *lines, "=" + _armor_checksum(blob), ARMOR_END, ""])


def _clean(line: bytes) -> bytes:
    """One line as the armor rules see it: one trailing CR, quoting and blanks removed."""
    if line.endswith(b"\r"):
        line = line[:-1]
    return line.lstrip(b" \t>").rstrip(b" \t")


def _marker_line(data: bytes, marker: bytes, start: int) -> tuple[int, int] | None:
    """(start, end) of the first line at or after ``start`` that is ``marker`` once cleaned.

    ``start`` is the beginning of a line. Only lines holding ``marker`` are looked at.
    """
    at = data.find(marker, start)
    while at >= 0:
        line_start = data.rfind(b"\n", start, at) + 1 or start
        line_end = data.find(b"\n", at)
        if line_end < 0:
            line_end = len(data)
        if _clean(data[line_start:line_end]) == marker:
            return line_start, line_end
        at = data.find(marker, line_end)
    return None


def is_armored(data: bytes) -> bool:
    """Whether ``data`` holds a BEGIN line (the armor rules); if not, it is binary."""
    return _BEGIN in data and _marker_line(data, _BEGIN, 0) is not None


def dearmor(text: bytes | str) -> bytes:
    """Extract the binary envelope from the first armored block in ``text``.

    Exact rules (docs/manifest-format.md): bytes; lines end at LF, one CR before
    it is dropped; leading spaces, tabs and ``>`` and trailing spaces and tabs
    are removed from each line; the first line equal to BEGIN opens the block,
    the first END line after it closes it, all else is ignored. Inside, empty
    lines are ignored, the last line must start with ``=`` (checksum, compared
    as ASCII bytes), every other line must be base64 alphabet only, and the
    base64 must be canonical (RFC 4648, padding required).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    check_input_size(data)
    begin = _marker_line(data, _BEGIN, 0)
    if begin is None:
        raise NotSealedError(f"no '{ARMOR_BEGIN}' line found")
    body_start = begin[1] + 1
    end = _marker_line(data, _END, body_start) if body_start <= len(data) else None
    if end is None:
        raise TruncatedError(f"armored manifest truncated: no '{ARMOR_END}' line (was it cut off?)")
    lines = [_clean(line) for line in data[body_start : end[0]].split(b"\n")]
    body = [line for line in lines if line]
    if not body or not body[-1].startswith(b"="):
        raise TruncatedError("armored manifest truncated: its checksum line is missing")
    checksum = body.pop()[1:]
    joined = b"".join(body)
    if not _BASE64_ONLY.fullmatch(joined):
        raise DamagedArmorError(
            "armored manifest damaged in transit (a line holds characters outside base64): "
            "ask for another copy"
        )
    try:
        blob = binascii.a2b_base64(joined, strict_mode=True)
    except (binascii.Error, ValueError):
        blob = None
    if blob is None or base64.b64encode(blob) != joined:
        raise DamagedArmorError(
            "armored manifest damaged in transit (not valid base64): ask for another copy"
        )
    if not hmac.compare_digest(_armor_checksum(blob).encode("ascii"), checksum):
        raise DamagedArmorError(
            "armored manifest damaged in transit (checksum mismatch): ask for another copy"
        )
    return blob


def to_binary(data: bytes) -> bytes:
    """Accept either form (binary or armored) and return the binary envelope."""
    return dearmor(data) if is_armored(data) else data
