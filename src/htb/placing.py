"""Where an invitation (or a friend's copy) becomes the installed manifest: one writer.

The release's bundle carries no invitation: the activist's sealed ``<name>.htbm.asc``
travels beside it, and either the app's first screen (:mod:`htb.gui.core`) or
``htb join FILE`` (:mod:`htb.cli`) puts it at ``$HTB_MANIFEST``. Both call
:func:`install`: the bytes as they came (sealed, never opened here), atomically,
0600, and never over a different manifest unless the person said so - after first
use that file is her own full manifest, and losing it loses her backups.
"""

from __future__ import annotations

from pathlib import Path

from htb.errors import ManifestInstalledError
from htb.files import write_atomic


def installed_differs(target: Path, data: bytes) -> bool:
    """Whether another manifest (or anything but a plain file) is at ``target``."""
    if target.is_symlink() or (target.exists() and not target.is_file()):
        return True
    return target.is_file() and target.read_bytes() != data


def check(data: bytes, target: Path, *, replace: bool = False) -> None:
    """Refuse (exit 12) where another manifest is and replacing it was not asked for."""
    if installed_differs(target, data) and not replace:
        raise ManifestInstalledError(
            f"a different manifest is installed at {target} (perhaps your own, sealed by "
            "htb): it is kept; --replace-manifest replaces it"
        )


def install(data: bytes, target: Path, *, replace: bool = False) -> bool:
    """Put the sealed ``data`` at ``target``; whether it wrote. Refuses another unasked."""
    if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
        return False
    check(data, target, replace=replace)
    if target.is_symlink():
        target.unlink()
    write_atomic(target, data)
    return True
