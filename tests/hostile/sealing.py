"""Sealing, independently of the product: binary, armored and 2014 envelopes."""

from __future__ import annotations

import base64
import hashlib
import random
import unicodedata

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from hostile.format import ARMOR_BEGIN, ARMOR_END, HEADER, MAGIC, TAG_LEN, TEST_MEM
from hostile.leaks import PASSPHRASE

# --- sealing, independently of the product ----------------------------------------
_REAL_KDF = nacl.pwhash.argon2id.kdf
_REAL_SCRYPT = hashlib.scrypt


def seal_bytes(
    plaintext: bytes, rng: random.Random, *, passphrase: str = PASSPHRASE, ops: int = 1
) -> bytes:
    """The binary envelope of docs/manifest-format.md, with rng-drawn salt and nonce."""
    salt, nonce = rng.randbytes(16), rng.randbytes(24)
    header = HEADER.pack(MAGIC, 1, 1, ops, TEST_MEM, salt, nonce, len(plaintext) + TAG_LEN)
    secret = unicodedata.normalize("NFC", passphrase).encode()
    master = _REAL_KDF(32, secret, salt, opslimit=ops, memlimit=TEST_MEM)
    check = hashlib.blake2b(header, digest_size=16, key=master, person=b"htb-check-v1").digest()
    key = hashlib.blake2b(header, digest_size=32, key=master, person=b"htb-box-v1").digest()
    return header + check + nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext


def armor_checksum(blob: bytes) -> bytes:
    return base64.b64encode(hashlib.blake2b(blob, digest_size=6).digest())


def armor(blob: bytes, width: int = 64) -> bytes:
    body = base64.b64encode(blob)
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return b"\n".join([ARMOR_BEGIN, b"", *lines, b"=" + armor_checksum(blob), ARMOR_END, b""])


def legacy_key(passphrase: str = PASSPHRASE) -> bytes:
    return hashlib.sha256(passphrase.encode()).digest()


def seal_legacy(plaintext: bytes, rng: random.Random, width: int = 0) -> bytes:
    """secretBox.py --encrypt: base64(nonce || SecretBox(sha256(passphrase))), a newline."""
    nonce = rng.randbytes(24)
    raw = nonce + nacl.secret.SecretBox(legacy_key()).encrypt(plaintext, nonce).ciphertext
    text = base64.b64encode(raw)
    if width:
        text = b"\n".join(text[i : i + width] for i in range(0, len(text), width))
    return text + b"\n"
