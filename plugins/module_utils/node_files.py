# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules that run on a node share: owners, modes, the one private-file writer.

Standard library only: these modules run with the node's system Python, which has no htb.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import re
import tempfile

from ansible_collections.htb.grid.plugins.module_utils.failure import Fail

# A leading zero so that YAML's unquoted 0600 (the integer 384, "384" here) is refused
# rather than read as another mode.
_MODE = re.compile(r"0[0-7]{3}")


def octal_mode(option: str, value: str) -> int:
    """The mode that option's value spells, four octal digits with a leading zero."""
    if not _MODE.fullmatch(value):
        raise Fail(f"{option}: {value!r} is not an octal mode such as '0600' (quote it in YAML)")
    return int(value, 8)


def owner_ids(owner: str, group: str | None) -> tuple[int, int]:
    """The uid of owner and the gid of group (default: the group named as owner)."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise Fail(f"owner: no user {owner!r} on this host") from None
    group = owner if group is None else group
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise Fail(f"group: no group {group!r} on this host") from None
    return uid, gid


def fsync_dir(path: str) -> None:
    """Sync a directory, so that a name just made in it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(
    path: str, data: bytes, uid: int, gid: int, mode: int, *, replace: bool = True
) -> None:
    """Write path whole or not at all, with no moment at which another user can read it.

    A temporary file in path's directory gets its owner and mode before the first byte
    (mkstemp's file is 0600 and the module's user's), is synced, then takes path's name:
    over whatever is there with replace, else only where nothing is - FileExistsError
    otherwise. Raises OSError as the system does.
    """
    parent = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(parent)


def _place_new(tmp: str, path: str) -> None:
    try:
        # link, unlike rename, never replaces a file that appeared since the caller looked.
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links: rename, after checking once more.
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from None
        os.replace(tmp, path)
