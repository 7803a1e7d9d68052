#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a file whose content is secret, written where it belongs and nowhere else."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_private_file
short_description: Write a secret file (a FURL, a key) with no copy on the way
version_added: "0.2.0"
description:
  - Writes O(content) to O(path), whole or not at all - a temporary file in the same
    directory, given its owner and mode before a byte is written, synced, then renamed
    over O(path) - and sets O(owner), O(group) and O(mode) on a file that already holds
    that content.
  - The content is a module argument. With pipelining (the project's C(ansible.cfg)) it
    reaches the host on the connection's stdin and is written nowhere but O(path);
    M(ansible.builtin.copy) with C(content) writes it to a file in the controller's
    local temporary directory and another in the host's C(remote_tmp) first.
  - For the grid files of a Tahoe node (C(introducers.yaml), C(servers.yaml)), whose
    FURLs are keys to the grid.
options:
  path:
    description:
      - The file to write. Its directory must exist (in check mode, a missing one means
        the file would be written); a symlink is refused.
    type: path
    required: true
  content:
    description: What the file holds (text, written as UTF-8). Masked in every output.
    type: str
    required: true
  owner:
    description: The file's owner (a user name).
    type: str
    required: true
  group:
    description: The file's group; default the group named like O(owner).
    type: str
  mode:
    description: The file's mode, four octal digits with a leading zero.
    type: str
    default: "0600"
attributes:
  check_mode:
    support: full
    description: Says whether the file would change; writes nothing.
  diff_mode:
    support: none
    description: No diff - it would show the secret.
  idempotent:
    support: full
    description: A second run finds the same content, owner and mode, and writes nothing.
notes:
  - Nothing of O(content) is returned. A failure names the path, never the content.
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Write the grid the node joins (htb's one writer of the grid files)
  htb.grid.htb_private_file:
    path: /var/lib/tahoe/client/private/introducers.yaml
    content: "{{ (grid | htb.grid.grid_files)['introducers.yaml'] }}"
    owner: tahoe-client
    mode: "0600"
  no_log: true
"""

RETURN = r"""
path:
  description: The file written (or, in check mode, that would be).
  returned: always
  type: str
  sample: /var/lib/tahoe/client/private/introducers.yaml
"""

import errno  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.failure import Fail, failing_on  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.node_files import (  # noqa: E402
    octal_mode,
    owner_ids,
    write_private,
)


def _current(path: str) -> tuple[os.stat_result, bytes] | None:
    """The regular file at path and its content, None if there is none."""
    try:
        # O_NOFOLLOW: this runs as root and follows no symlink; O_NONBLOCK: a FIFO
        # does not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Fail(f"{path} is a symlink: refused") from None
        raise Fail(f"{path}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Fail(f"{path} is not a regular file")
        return st, f.read()


def _check_parent(path: str) -> str:
    parent = os.path.dirname(path) or "."
    try:
        st = os.lstat(parent)
    except OSError as exc:
        raise Fail(f"{parent}: {exc.strerror} (the directory must exist)") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Fail(f"{parent} is not a directory")
    return parent


def _set_attributes(path: str, uid: int, gid: int, mode: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def apply(
    path: str, content: str, owner: str, group: str | None, mode_text: str, check: bool
) -> bool:
    """Whether path changed (would change, in check mode)."""
    mode = octal_mode("mode", mode_text)
    data = content.encode("utf-8")
    if check and not os.path.lexists(os.path.dirname(path) or "."):
        # A new node in check mode: its directory (and user) come from earlier tasks.
        return True
    uid, gid = owner_ids(owner, group)
    _check_parent(path)
    found = _current(path)
    if found is not None and found[1] == data:
        st = found[0]
        if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode):
            return False
        if not check:
            _set_attributes(path, uid, gid, mode)
        return True
    if not check:
        try:
            write_private(path, data, uid, gid, mode)
        except OSError as exc:
            raise Fail(f"{path}: cannot write it ({exc.strerror})") from None
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
            "owner": {"type": "str", "required": True},
            "group": {"type": "str"},
            "mode": {"type": "str", "default": "0600"},
        },
        supports_check_mode=True,
    )
    p = module.params
    with failing_on(module):
        changed = apply(
            p["path"], p["content"], p["owner"], p["group"], p["mode"], module.check_mode
        )
    module.exit_json(changed=changed, path=p["path"])


if __name__ == "__main__":
    main()
