"""Binary envelopes: the reference reading, byte mutations and header field edits."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator

from hostile.expect import cost_ok
from hostile.format import HEADER, MAGIC, MAX_INPUT, MAX_PLAINTEXT, MEM_MAX, PREFIX_LEN, TAG_LEN


def ref_binary(blob: bytes) -> tuple[str, bool]:
    """The design's check order up to the KDF: (reason, refused before the KDF)."""
    if len(blob) > MAX_INPUT:
        return "too-large", True
    if blob[:4] != MAGIC:
        return "not-sealed", True
    if len(blob) < 5:
        return "truncated", True
    if blob[4] != 1:
        return "version", True
    if len(blob) < PREFIX_LEN:
        return "truncated", True
    _, _, kdf_id, ops, mem, _, _, n = HEADER.unpack_from(blob)
    if kdf_id != 1:
        return "kdf-id", True
    if not cost_ok(ops, mem):
        return "kdf-cost", True
    if n < TAG_LEN:
        return "impossible-length", True
    if n > MAX_PLAINTEXT + TAG_LEN:
        return "too-large", True
    if len(blob) < PREFIX_LEN + n:
        return "truncated", True
    if len(blob) > PREFIX_LEN + n:
        return "trailing-bytes", True
    return "kdf", False


# --- mutations ---------------------------------------------------------------------
def _bitflip(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "bitflip-empty", data
    b = bytearray(data)
    pos = rng.randrange(len(b))
    b[pos] ^= 1 << rng.randrange(8)
    return f"bitflip@{pos}", bytes(b)


def _byteset(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "byteset-empty", data
    pos = rng.randrange(len(data))
    return f"byteset@{pos}", data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]


def _insert(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    pos = rng.randrange(len(data) + 1)
    junk = rng.choice([rng.randbytes(rng.randint(1, 8)), b"\n", b"\r", b"=", b"A", b"\x00"])
    return f"insert@{pos}", data[:pos] + junk + data[pos:]


def _delete(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "delete-empty", data
    pos = rng.randrange(len(data))
    n = rng.choice([1, 1, 2, 3, rng.randint(1, 64)])
    return f"delete@{pos}+{n}", data[:pos] + data[pos + n :]


def _truncate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    n = rng.randrange(len(data) + 1)
    return f"truncate@{n}", data[:n]


def _duplicate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "duplicate-empty", data
    a = rng.randrange(len(data))
    b = rng.randint(a, min(len(data), a + 64))
    return f"duplicate@{a}:{b}", data[:b] + data[a:b] + data[b:]


def _append(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    junk = rng.choice([b"\n", b"\x00", rng.randbytes(rng.randint(1, 32)), data[:16]])
    return "append", data + junk


def _prepend(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    junk = rng.choice([b"\n", b" ", rng.randbytes(rng.randint(1, 32)), b"HTBM"])
    return "prepend", junk + data


BYTE_OPS: tuple[Callable[[random.Random, bytes], tuple[str, bytes]], ...] = (
    _bitflip,
    _bitflip,
    _bitflip,
    _byteset,
    _insert,
    _delete,
    _truncate,
    _duplicate,
    _append,
    _prepend,
)

_FIELDS = {  # name: (offset, struct format)
    "version": (4, ">B"),
    "kdf-id": (5, ">B"),
    "opslimit": (6, ">I"),
    "memlimit": (10, ">Q"),
    "ct-len": (58, ">I"),
}
_INTERESTING = {
    "version": [0, 2, 255],
    "kdf-id": [0, 2, 255],
    "opslimit": [0, 2, 3, 16, 17, 64, 2**31, 2**32 - 1],
    "memlimit": [
        0,
        1,
        1023,
        8191,
        8193,
        9216,
        2**20,
        2**20 + 1,
        256 * 2**20,
        MEM_MAX - 1,
        MEM_MAX,
        MEM_MAX + 1024,
        2 * 2**30,
        2**32,
        2**63,
        2**64 - 1,
    ],
    "ct-len": [*range(16), 16, 17, MAX_PLAINTEXT + 16, MAX_PLAINTEXT + 17, 2**31, 2**32 - 1],
}


def header_edit(blob: bytes, name: str, value: int, fit: bool) -> bytes:
    """Set one header field; ``fit``: make the file length agree with ct-len if feasible."""
    offset, fmt = _FIELDS[name]
    size = struct.calcsize(fmt)
    out = blob[:offset] + struct.pack(fmt, value) + blob[offset + size :]
    if fit:
        n = struct.unpack_from(">I", out, 58)[0]
        if PREFIX_LEN + n <= MAX_INPUT + 1:
            body = out[PREFIX_LEN:]
            out = out[:PREFIX_LEN] + (body + b"\0" * max(0, n - len(body)))[:n]
    return out


def header_edits(blob: bytes) -> Iterator[tuple[str, bytes]]:
    for name, values in _INTERESTING.items():
        for value in values:
            for fit in (False, True) if name == "ct-len" else (False,):
                yield (
                    f"header:{name}={value}{'+fit' if fit else ''}",
                    header_edit(blob, name, value, fit),
                )
    # Costs at the edges of what a reader runs: 2 GiB passes x memory, and just above.
    for ops, mem in ((4, MEM_MAX), (5, MEM_MAX), (8, 256 * 2**20), (9, 256 * 2**20), (16, 2**27)):
        yield (
            f"header:cost={ops}x{mem}",
            header_edit(header_edit(blob, "opslimit", ops, False), "memlimit", mem, False),
        )
    yield "header:version=2+truncated", header_edit(blob, "version", 2, False)[:40]
    yield "header:magic-lower", b"htbm" + blob[4:]
    yield "header:magic-only", MAGIC
    yield "header:magic+version", MAGIC + b"\x01"
    yield "header:short-3", MAGIC[:3]
    yield "header:prefix-only", blob[:PREFIX_LEN]
    yield "header:check-zero", blob[:62] + b"\0" * 16 + blob[PREFIX_LEN:]
    yield "header:salt-zero", blob[:18] + b"\0" * 16 + blob[34:]
    yield "header:nonce-zero", blob[:34] + b"\0" * 24 + blob[58:]
    yield "header:tag-zero", blob[:PREFIX_LEN] + b"\0" * 16 + blob[PREFIX_LEN + 16 :]
    yield "header:body-swapped-ends", blob[:PREFIX_LEN] + blob[-1:] + blob[PREFIX_LEN:-1]
    yield "header:doubled", blob + blob
    yield "header:trailing-newline", blob + b"\n"
