"""Where the client node lives while it runs: in RAM, rebuilt at each start, gone at stop.

The node directory holds every secret of a session in plaintext (the rootcaps in
``private/aliases``, the introducer FURLs, the convergence secret, node keys, the
web API token, ``tahoe backup``'s backupdb). It is never kept: ``htb start``
builds it from the sealed manifest and ``htb stop`` deletes it. By default it is
in RAM: ``$XDG_RUNTIME_DIR/htb-node`` (``/run/user/<uid>``, a tmpfs), else
``/tmp/htb-<uid>/node`` (on Tails everything outside Persistent Storage is RAM).

The directory that holds it must be ours, a real directory (not a symbolic
link) and closed to everyone else (0700); htb creates it so when it is missing
and refuses it otherwise. htb deletes only a directory it built (it leaves the
file :data:`MARKER` in each) or an empty one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from htb.errors import LocalSystemError

NODE_DIR_ENV = "HTB_NODE_DIR"
RUNTIME_ENV = "XDG_RUNTIME_DIR"
MARKER = "htb-node"
_MARKER_TEXT = "A Tahoe client node built by htb from a sealed manifest; `htb stop` deletes it.\n"
# tahoe.cfg of a node directory written by an htb before this module existed.
_OLD_CFG_HEADER = "# Written by htb from the sealed manifest"


class UnsafeNodeDirError(LocalSystemError):
    """The node directory, or the directory holding it, could be read or replaced by others."""


def default_node_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$HTB_NODE_DIR``, else ``$XDG_RUNTIME_DIR/htb-node``, else ``/tmp/htb-<uid>/node``."""
    env = os.environ if environ is None else environ
    if env.get(NODE_DIR_ENV):
        return Path(env[NODE_DIR_ENV])
    runtime = env.get(RUNTIME_ENV, "")
    if runtime.startswith("/"):  # the XDG spec: an absolute path, else ignored
        return Path(runtime) / "htb-node"
    return Path("/tmp") / f"htb-{os.geteuid()}" / "node"  # noqa: S108 - checked: ours, 0700


def check_private(path: Path, what: str) -> None:
    """Refuse ``path`` unless it is a real directory, ours, and closed to others (0700)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeNodeDirError(f"{what} {path} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeNodeDirError(
            f"{what} {path} is a symbolic link: refusing it (the node's secrets go there)"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeNodeDirError(f"{what} {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise UnsafeNodeDirError(f"{what} {path} belongs to another user: refusing it")
    if st.st_mode & 0o077:
        raise UnsafeNodeDirError(
            f"{what} {path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"the node's secrets need a directory of mode 0700: chmod 700 {path}"
        )


def private_parent(node_dir: Path) -> None:
    """Create the directory holding ``node_dir`` (0700) if missing; refuse it if unsafe."""
    parent = node_dir.parent
    if not os.path.lexists(parent):
        # Missing ancestors too, each 0700.
        for missing in reversed([p for p in (parent, *parent.parents) if not p.exists()]):
            with contextlib.suppress(FileExistsError):
                missing.mkdir(mode=0o700)
    check_private(parent, "the directory holding the node directory")


def is_node_dir(path: Path) -> bool:
    """A directory htb built (its marker, or an older htb's tahoe.cfg), or an empty one."""
    if (path / MARKER).is_file():
        return True
    try:
        with (path / "tahoe.cfg").open(encoding="utf-8", errors="replace") as f:
            if f.readline().startswith(_OLD_CFG_HEADER):
                return True
    except OSError:
        pass
    return not any(os.scandir(path))


def remove(node_dir: Path) -> None:
    """Delete a node directory htb built, with every secret in it; nothing there is fine."""
    try:
        st = os.lstat(node_dir)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeNodeDirError(
            f"node directory {node_dir} is not a directory (a link or a file): left alone"
        )
    if st.st_uid != os.geteuid():
        raise UnsafeNodeDirError(f"node directory {node_dir} belongs to another user: left alone")
    if not is_node_dir(node_dir):
        raise UnsafeNodeDirError(
            f"{node_dir} is not a node directory htb built: refusing to delete it "
            "(choose another --node-directory)"
        )
    shutil.rmtree(node_dir)


def create(node_dir: Path) -> None:
    """A new, empty node directory (0700) in a safe parent; any old one is deleted first."""
    private_parent(node_dir)
    remove(node_dir)
    node_dir.mkdir(mode=0o700)
    check_private(node_dir, "node directory")


def mark(node_dir: Path) -> None:
    """Leave the file that lets :func:`remove` know htb built this directory."""
    fd = os.open(node_dir / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_MARKER_TEXT)
