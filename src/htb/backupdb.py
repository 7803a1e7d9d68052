"""``tahoe backup``'s backupdb between sessions: sealed beside the manifest, plaintext only in RAM.

The backupdb (``NODE/private/backupdb.sqlite``) lets ``tahoe backup`` skip every
file and directory unchanged since the last backup; without it the first backup
of a session reads, hashes and offers every file and directory to the grid again
(measured: bench/ram_node.py). It holds each file's cap (a LIT cap is the file
itself) and the local paths, so it never rests in plaintext: after each
``htb backup`` it is sealed next to the manifest (``M.backupdb``), and ``htb
start`` opens it into the node directory in RAM.

The key is derived from the manifest's secrets (its rootcaps and convergence
secret), not from the passphrase: whoever cannot open the manifest cannot open
this file, and it costs no second Argon2id run. A file that is missing, was
sealed for another manifest, or is damaged is ignored: it only costs time.

Format: ``HTBD`` (4 bytes), version ``01``, then ``crypto_secretbox`` (XSalsa20-
Poly1305, a random 24-byte nonce first, as PyNaCl writes it) of the SQLite file.
Key: ``BLAKE2b(canonical JSON of {"aliases": ..., "convergence": ...},
digest_size=32, person="htb-backupdb-v1")``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nacl.exceptions
import nacl.secret

from htb.manifest import Manifest, canonical_json

MAGIC = b"HTBD\x01"
_PERSON = b"htb-backupdb-v1"
SUFFIX = ".backupdb"


def path_for(manifest_path: Path) -> Path:
    """Where the sealed backupdb of the manifest at ``manifest_path`` is kept."""
    return manifest_path.with_name(manifest_path.name + SUFFIX)


def key(manifest: Manifest) -> bytes | None:
    """The backupdb key of a full manifest; None if it holds no secret to derive one from."""
    if manifest.is_invitation or not (manifest.aliases or manifest.convergence):
        return None
    material = canonical_json({"aliases": manifest.aliases, "convergence": manifest.convergence})
    return hashlib.blake2b(material, digest_size=32, person=_PERSON).digest()


def seal(data: bytes, key: bytes) -> bytes:
    return MAGIC + bytes(nacl.secret.SecretBox(key).encrypt(data))


def unseal(blob: bytes, key: bytes) -> bytes | None:
    """The backupdb, or None if ``blob`` is not one sealed under ``key`` (or was altered)."""
    if not blob.startswith(MAGIC):
        return None
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(blob[len(MAGIC) :]))
    except nacl.exceptions.CryptoError:
        return None
