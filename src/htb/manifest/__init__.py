"""The sealed manifest: the one implementation of its format.

Both the ``htb`` tool and the ``htb_manifest`` Ansible module call only this
package. Layers: :mod:`schema` (the JSON plaintext), :mod:`envelope` (the sealed
bytes, binary or armored), :mod:`legacy` (2014 hidden-tahoe-backup manifests).

Every manifest input is read with :func:`read_limited` (at most ``MAX_INPUT``
bytes) and every failure is an :class:`~htb.errors.HtbError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from htb.errors import NotSealedError

# htb's one atomic writer, also under this name: callers and modules import it from here.
from htb.files import write_atomic
from htb.manifest import envelope, legacy
from htb.manifest.envelope import (
    DEFAULT_KDF,
    MAX_INPUT,
    MAX_KDF,
    MAX_PLAINTEXT,
    TEST_KDF,
    KdfParams,
    read_limited,
)
from htb.manifest.schema import BackupEntry, Manifest, canonical_json, loads, validate

__all__ = [
    "DEFAULT_KDF",
    "MAX_INPUT",
    "MAX_KDF",
    "MAX_PLAINTEXT",
    "TEST_KDF",
    "BackupEntry",
    "KdfParams",
    "Manifest",
    "Opened",
    "canonical_json",
    "loads",
    "open_sealed",
    "read_limited",
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
    """Unseal either form, or a 2014 manifest; raise a distinct error for each failure.

    Order: size; an armored block (a BEGIN line) is dearmored, else the input is
    the binary form if it starts with ``HTBM``, else a 2014 manifest if it looks
    like one (and ``allow_legacy``), else not a manifest.
    """
    envelope.check_input_size(data)
    if envelope.is_armored(data):
        header, plaintext = envelope.open_envelope(envelope.dearmor(data), passphrase)
        return Opened(loads(plaintext), "armored", header.kdf)
    if data.startswith(envelope.MAGIC):
        header, plaintext = envelope.open_envelope(data, passphrase)
        return Opened(loads(plaintext), "binary", header.kdf)
    if allow_legacy and legacy.looks_legacy(data):
        return Opened(
            legacy.legacy_loads(legacy.legacy_unseal(data, passphrase)), "legacy-2014", None
        )
    raise NotSealedError(
        "not a sealed manifest: neither the binary form (HTBM header) nor an armored "
        f"'{envelope.ARMOR_BEGIN}' block"
    )


def read_sealed(path: Path | None, passphrase: str, *, allow_legacy: bool = True) -> Opened:
    """Read (``None``: standard input, at most ``MAX_INPUT`` bytes) and open a manifest."""
    data = read_limited(path, error=NotSealedError)
    return open_sealed(data, passphrase, allow_legacy=allow_legacy)
