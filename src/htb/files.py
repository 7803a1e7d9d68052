"""The one atomic file writer of htb (and of the controller-side Ansible modules).

A reader sees the old file or the new one, never half of one, and a secret never
sits in a file that others may read, not even for an instant: the temporary file
is made in the target's directory (so the rename stays on one file system) with
mode 0600 by ``mkstemp``, gets its final mode before any byte is written, is
flushed to disk, renamed over the target, and the directory is flushed too (the
rename itself survives a power cut).

The bundle's installer (:mod:`htb.bundle_installer`) keeps its own copy of this
function: it runs with the standard library alone, before htb is installed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``, whole or not at all, ``mode`` from the first byte.

    Missing parent directories are made (with the umask's mode). A failure leaves
    the old file as it was and no temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # mkstemp made it 0600; the final mode before any byte
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
