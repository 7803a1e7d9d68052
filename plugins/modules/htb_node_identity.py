#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: back up and restore the keys that make a Tor/Tahoe node itself."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_node_identity
short_description: Read or restore the identity files of a host's onion services and Tahoe nodes
version_added: "0.2.0"
description:
  - A node of the grid is its keys - the onion service's Ed25519 key (its C(.onion)
    address) and the Tahoe node's TLS key and certificate (its node id, in every FURL
    that names it) - and the FURLs it was given. A host rebuilt without them is a new
    node - at addresses that no manifest or invitation in circulation knows.
  - V(read) returns those files of the managed host, base64-encoded (the onion service's
    secret key is binary), as RV(identity), to keep on the controller. Changes nothing.
  - V(restore) writes into O(directory) the files of O(files) that are missing there and
    never overwrites one - a file that exists with other bytes means the host already has
    another identity, and the module fails before writing anything.
  - Runs on the managed host with its system Python (the standard library only). Refuses
    symlinks - it runs as root - where it reads and where it writes.
options:
  state:
    description:
      - V(read) returns the identity files under O(tor_onion_dir) and O(tahoe_base_dir).
      - V(restore) writes the missing files of O(files) into O(directory).
    type: str
    choices: [read, restore]
    default: read
  tor_onion_dir:
    description:
      - With O(state=read), the directory of the onion services, one subdirectory each.
        A subdirectory's C(hs_ed25519_secret_key), C(hs_ed25519_public_key) and
        C(hostname) are read; one without C(hs_ed25519_secret_key) is skipped.
      - Missing - no onion service (an empty C(tor) part).
    type: path
    default: /var/lib/tor/onion
  tahoe_base_dir:
    description:
      - With O(state=read), the directory of the Tahoe nodes, one subdirectory with a
        C(tahoe.cfg) each. A node's C(private/node.pem), C(private/node.privkey),
        C(node.pubkey), C(private/introducer.furl) and C(private/storage.furl) are read;
        a node without C(private/node.pem) is skipped.
      - Missing - no Tahoe node (an empty C(tahoe) part).
    type: path
    default: /var/lib/tahoe
  directory:
    description:
      - With O(state=restore), the directory to restore into - one onion service's or one
        Tahoe node's. It must exist already (its role makes it) and not be a symlink.
      - Required with O(state=restore).
    type: path
  files:
    description:
      - With O(state=restore), the files to restore - path relative to O(directory)
        (normalized, without C(..)) to the base64 of its content - for example one service
        or node of RV(identity) as V(read) returned it.
      - The contents are masked in every output.
      - Required with O(state=restore).
    type: dict
  owner:
    description:
      - With O(state=restore), the user that owns the files and directories written.
      - Required with O(state=restore).
    type: str
  group:
    description:
      - With O(state=restore), their group. Default - the group named as O(owner).
    type: str
  mode:
    description:
      - With O(state=restore), the mode of the files written, four octal digits with a
        leading zero - quote it in YAML.
    type: str
    default: "0600"
  dir_mode:
    description:
      - With O(state=restore), the mode of the subdirectories of O(directory) it creates
        (for example C(private)), four octal digits with a leading zero.
    type: str
    default: "0700"
attributes:
  check_mode:
    support: full
    description: V(read) reads; V(restore) writes nothing and lists what it would write.
  diff_mode:
    support: none
    description: No diff - it would show secrets.
  idempotent:
    support: full
    description: A second V(restore) finds every file there and writes nothing.
notes:
  - RV(identity) holds the node's secret keys. Set C(no_log) on a V(read) task - with
    C(-v) its result would show them otherwise. A V(restore) task needs no C(no_log) -
    O(files) is masked.
  - The files and directories that V(restore) finds already there are left as they are,
    their owner and mode included.
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the identity of this host's onion services and Tahoe nodes
  htb_node_identity:
  register: node_identity
  no_log: true

- name: Keep it on the controller (a vault-encrypted file)
  ansible.builtin.copy:
    content: "{{ node_identity.identity | to_nice_json }}"
    dest: "{{ playbook_dir }}/../private/identity/{{ inventory_hostname }}.json"
    mode: "0600"
  delegate_to: localhost
  no_log: true

- name: Say what was read, without the contents
  ansible.builtin.debug:
    var: node_identity.summary

- name: Give a rebuilt storage node its keys back, before its first start
  htb_node_identity:
    state: restore
    directory: /var/lib/tahoe/storage
    files: "{{ saved_identity.tahoe.storage }}"
    owner: tahoe-storage

- name: ... and its onion address
  htb_node_identity:
    state: restore
    directory: /var/lib/tor/onion/storage
    files: "{{ saved_identity.tor.storage }}"
    owner: debian-tor
    dir_mode: "0700"
"""

RETURN = r"""
identity:
  description:
    - The identity files, base64-encoded - C(tor) maps each onion service's directory name,
      C(tahoe) each node's, to its files (path relative to that directory to content).
    - Secrets - set C(no_log) on the task.
  returned: O(state=read)
  type: dict
  sample:
    tor:
      storage:
        hs_ed25519_secret_key: PT0gZWQyNTUxOXYxLXNlY3JldDogdHlwZTAgPT0AAAA=
        hs_ed25519_public_key: PT0gZWQyNTUxOXYxLXB1YmxpYzogdHlwZTAgPT0AAAA=
        hostname: bXlvbmlvbmFkZHJlc3Mub25pb24K
    tahoe:
      storage:
        private/node.pem: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==
        node.pubkey: cHViLXYwLXl3dHA2ZzUyNTJoZTI0NWRoNHRiaXBjdnoyd3JxYjQ1Cg==
summary:
  description: The names of the files of RV(identity), sorted, without their contents.
  returned: O(state=read)
  type: dict
  sample:
    tor:
      storage: [hostname, hs_ed25519_public_key, hs_ed25519_secret_key]
    tahoe:
      storage: [node.pubkey, private/node.pem]
restored:
  description:
    - The files written (in check mode - that would be written), relative to O(directory),
      sorted. Empty when every file was there already.
  returned: O(state=restore)
  type: list
  elements: str
  sample: [private/node.pem, private/node.privkey]
"""

import base64  # noqa: E402
import binascii  # noqa: E402
import errno  # noqa: E402
import os  # noqa: E402
import posixpath  # noqa: E402
import stat  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.failure import Fail, failing_on  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.node_files import (  # noqa: E402
    fsync_dir,
    octal_mode,
    owner_ids,
    write_private,
)

TOR_FILES = ("hs_ed25519_secret_key", "hs_ed25519_public_key", "hostname")
TOR_REQUIRED = "hs_ed25519_secret_key"
TAHOE_FILES = (
    "private/node.pem",
    "private/node.privkey",
    "node.pubkey",
    "private/introducer.furl",
    "private/storage.furl",
)
TAHOE_REQUIRED = "private/node.pem"
TAHOE_MARKER = "tahoe.cfg"


def _lstat(path: str) -> os.stat_result | None:
    """The path's own status (None if missing); a symlink is refused, not followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Fail(f"{path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise Fail(f"{path} is a symlink: refused (this module runs as root and follows none)")
    return st


def _inspect(base: str, rel: str) -> os.stat_result | None:
    """The status of the regular file base/rel, None if it or a directory above is missing."""
    path = base
    parts = rel.split("/")
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        st = _lstat(path)
        if st is None:
            return None
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(st.st_mode):
            raise Fail(f"{path} is not a regular file")
        if not last and not stat.S_ISDIR(st.st_mode):
            raise Fail(f"{path} is not a directory")
        if last:
            return st
    return None  # rel is never empty


def _read(path: str) -> bytes:
    # O_NOFOLLOW: a symlink swapped in after the lstat is not followed either;
    # O_NONBLOCK: nor does a FIFO swapped in hang the run.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Fail(f"{path} is a symlink: refused") from None
        raise Fail(f"{path}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Fail(f"{path} is not a regular file")
        return f.read()


def _subdirs(base: str) -> list[str]:
    """base's subdirectories, sorted; [] if base is missing."""
    st = _lstat(base)
    if st is None:
        return []
    if not stat.S_ISDIR(st.st_mode):
        raise Fail(f"{base} is not a directory")
    names = []
    for name in sorted(os.listdir(base)):
        entry = _lstat(os.path.join(base, name))
        if entry is not None and stat.S_ISDIR(entry.st_mode):
            names.append(name)
    return names


def _read_part(
    base: str, wanted: tuple[str, ...], required: str, marker: str | None
) -> dict[str, dict[str, str]]:
    part: dict[str, dict[str, str]] = {}
    for name in _subdirs(base):
        top = os.path.join(base, name)
        if marker is not None and _lstat(os.path.join(top, marker)) is None:
            continue
        present = [rel for rel in wanted if _inspect(top, rel) is not None]
        if required not in present:
            continue
        part[name] = {
            rel: base64.b64encode(_read(os.path.join(top, rel))).decode("ascii") for rel in present
        }
    return part


def read_identity(tor_onion_dir: str, tahoe_base_dir: str) -> dict[str, Any]:
    identity = {
        "tor": _read_part(tor_onion_dir, TOR_FILES, TOR_REQUIRED, None),
        "tahoe": _read_part(tahoe_base_dir, TAHOE_FILES, TAHOE_REQUIRED, TAHOE_MARKER),
    }
    summary = {
        part: {name: sorted(files) for name, files in nodes.items()}
        for part, nodes in identity.items()
    }
    return {"identity": identity, "summary": summary}


def _check_relpath(rel: Any) -> str:
    ok = (
        isinstance(rel, str)
        and rel not in ("", ".")
        and "\0" not in rel
        and not rel.startswith("/")
        and posixpath.normpath(rel) == rel
        and ".." not in rel.split("/")
    )
    if not ok:
        raise Fail(
            f"files: {rel!r} is not a normalized path relative to the directory "
            "(no absolute path, no '..')"
        )
    return str(rel)


def _decode(rel: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise Fail(f"files: the content of {rel!r} is not a base64 string")
    try:
        # Whitespace is dropped: a base64 text folded over lines in YAML is still valid.
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Fail(f"files: the content of {rel!r} is not valid base64") from None


def plan_restore(directory: str, files: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The files to write, sorted; checks every file before anything is written."""
    st = _lstat(directory)
    if st is None:
        raise Fail(
            f"directory {directory} does not exist: restore writes into the existing "
            "directory of the service or node (its role makes it)"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise Fail(f"directory {directory} is not a directory")
    decoded = [(rel, _decode(rel, files[rel])) for rel in sorted(map(_check_relpath, files))]
    # A path that is both a file and a directory above another would fail half-way.
    for rel, _data in decoded:
        if any(other.startswith(rel + "/") for other in files):
            raise Fail(f"files: {rel!r} is both a file and a directory above another file")
    missing = []
    for rel, data in decoded:
        if _inspect(directory, rel) is None:
            missing.append((rel, data))
        elif _read(os.path.join(directory, rel)) != data:
            raise Fail(
                f"{os.path.join(directory, rel)} exists and differs from the identity archive: "
                "this host already has another identity; remove it by hand to restore"
            )
    return missing


def _make_dirs(directory: str, rel: str, uid: int, gid: int, dir_mode: int) -> str:
    """Create the missing directories above directory/rel; return its parent."""
    path = directory
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, dir_mode)
        except FileExistsError:
            st = _lstat(path)
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise Fail(f"{path} is not a directory") from None
            continue
        os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(path, dir_mode)  # mkdir's mode is filtered by the umask
        fsync_dir(os.path.dirname(path))
    return path


def _write_new(path: str, data: bytes, uid: int, gid: int, mode: int) -> None:
    """Write path, which must not exist, whole or not at all."""
    try:
        write_private(path, data, uid, gid, mode, replace=False)
    except FileExistsError:
        raise Fail(f"{path} appeared while restoring: left as it is") from None


def restore(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    mode = octal_mode("mode", p["mode"])
    dir_mode = octal_mode("dir_mode", p["dir_mode"])
    uid, gid = owner_ids(p["owner"], p["group"])
    directory = p["directory"]
    missing = plan_restore(directory, p["files"])
    done: list[str] = []
    for rel, data in [] if module.check_mode else missing:
        try:
            parent = _make_dirs(directory, rel, uid, gid, dir_mode)
            _write_new(os.path.join(parent, os.path.basename(rel)), data, uid, gid, mode)
        except OSError as exc:
            why = f"{os.path.join(directory, rel)}: cannot write it ({exc.strerror})"
        except Fail as exc:
            why = str(exc)
        else:
            done.append(rel)
            continue
        # Whatever was written before stays: say what, for the operator's next step.
        raise Fail(f"{why}; restored before this error: {done}" if done else why)
    return {"changed": bool(missing), "restored": [rel for rel, _data in missing]}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["read", "restore"], "default": "read"},
            "tor_onion_dir": {"type": "path", "default": "/var/lib/tor/onion"},
            "tahoe_base_dir": {"type": "path", "default": "/var/lib/tahoe"},
            "directory": {"type": "path"},
            "files": {"type": "dict", "no_log": True},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "str", "default": "0600"},
            "dir_mode": {"type": "str", "default": "0700"},
        },
        required_if=[("state", "restore", ("directory", "files", "owner"))],
        supports_check_mode=True,
    )
    p = module.params
    with failing_on(module):
        result: dict[str, Any]
        if p["state"] == "read":
            result = {"changed": False, **read_identity(p["tor_onion_dir"], p["tahoe_base_dir"])}
        else:
            result = restore(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
