"""The sealed manifest: the one implementation of its format.

Both the ``htb`` tool and the ``htb_manifest`` Ansible module call only this
package. Layers: :mod:`schema` (the JSON plaintext), :mod:`envelope` (the sealed
bytes, binary or armored), :mod:`legacy` (2014 hidden-tahoe-backup manifests).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from htb.errors import NotSealedError
from htb.manifest import envelope, legacy
from htb.manifest.envelope import DEFAULT_KDF, TEST_KDF, KdfParams
from htb.manifest.schema import BackupEntry, Manifest, canonical_json, loads, validate

__all__ = [
    "DEFAULT_KDF",
    "TEST_KDF",
    "BackupEntry",
    "KdfParams",
    "Manifest",
    "Opened",
    "canonical_json",
    "loads",
    "open_sealed",
    "read_sealed",
    "seal",
    "validate",
    "write_atomic",
]


@dataclass(frozen=True)
class Opened:
    """An unsealed manifest and how it was sealed (never the passphrase)."""

    manifest: Manifest
    form: str  # "binary", "armored" or "legacy-2014"
    kdf: KdfParams | None  # None for legacy manifests


def seal(
    manifest: Manifest, passphrase: str, *, armored: bool = False, kdf: KdfParams = DEFAULT_KDF
) -> bytes:
    """Seal a validated manifest; ``armored`` gives the ASCII text form."""
    blob = envelope.seal(manifest.to_json(), passphrase, kdf)
    return envelope.armor(blob).encode() if armored else blob


def open_sealed(data: bytes, passphrase: str, *, allow_legacy: bool = True) -> Opened:
    """Unseal either form, or a 2014 manifest; raise a distinct error for each failure."""
    if envelope.is_armored(data) or data.startswith(envelope.MAGIC):
        blob = envelope.to_binary(data)
        plaintext = envelope.unseal(blob, passphrase)
        form = "armored" if envelope.is_armored(data) else "binary"
        return Opened(loads(plaintext), form, envelope.parse_header(blob).kdf)
    if allow_legacy and legacy.looks_legacy(data):
        return Opened(
            legacy.legacy_loads(legacy.legacy_unseal(data, passphrase)), "legacy-2014", None
        )
    raise NotSealedError(
        "not a sealed manifest: neither the binary form (HTBM header) nor an armored "
        f"'{envelope.ARMOR_BEGIN}' block"
    )


def read_sealed(path: Path, passphrase: str, *, allow_legacy: bool = True) -> Opened:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotSealedError(f"cannot read manifest {path}: {exc.strerror}") from None
    return open_sealed(data, passphrase, allow_legacy=allow_legacy)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write via a temporary file in the same directory and rename: never half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
