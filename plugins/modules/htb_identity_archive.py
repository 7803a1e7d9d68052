#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the operator's sealed archive of every server node's identity."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_identity_archive
short_description: Keep every server node's identity in one sealed archive; open it to rebuild
version_added: "0.2.0"
description:
  - A node's identity is what its clients know it by - its onion service keys and its Tahoe
    node's certificate, key and FURL files (as M(htb.grid.htb_node_identity) reads them). Restored
    on an empty machine before the node first starts, it comes back at the same onion with
    the same FURL and server ID, and every manifest in circulation keeps working.
  - The archive is one file, the project's sealed envelope (Argon2id and SecretBox,
    C(htb.manifest.envelope)) under O(passphrase), holding each host's identity and,
    optionally, the Grid Manager's sealed key file. Nothing in it is ever written
    unsealed, returned in O(state=present) or shown.
  - O(state=present) stores O(hosts) in the archive, replacing those hosts' entries and
    keeping every other host's (a node left out of this run is not forgotten). The file is
    rewritten only when what it holds changes. A file that does not open under the
    passphrase is never replaced.
  - O(state=opened) returns the identities of O(names) (secrets - give the task
    C(no_log)) and can put the Grid Manager's key file back where it is missing.
  - Runs where the C(htb) package is importable - the controller (C(delegate_to=localhost)).
  - In check mode nothing is written.
options:
  path:
    description: The sealed archive file.
    type: path
    required: true
  state:
    description:
      - V(present) - the archive holds O(hosts) (and O(grid_manager_key_path)'s file).
      - V(opened) - return the identities of O(names).
    type: str
    choices: [present, opened]
    default: present
  hosts:
    description:
      - V(state=present) - each host's identity as M(htb.grid.htb_node_identity) returns it - C(tor)
        maps each onion service to its files, C(tahoe) each node to its files (path
        relative to the node directory), contents base64.
    type: dict
    default: {}
  grid_manager_key_path:
    description:
      - V(state=present) - the Grid Manager's sealed key file, stored as it is.
      - V(state=opened) with O(restore_grid_manager_key=true) - where to put it back.
    type: path
  names:
    description:
      - V(state=opened) - the hosts whose identities to return. Each must be in the
        archive; a missing one is an error that names the hosts it holds.
    type: list
    elements: str
    default: []
  restore_grid_manager_key:
    description:
      - V(state=opened) - write the archive's Grid Manager key file to
        O(grid_manager_key_path) when that file does not exist (mode 0600). An existing
        file that differs is an error; nothing is overwritten.
    type: bool
    default: false
extends_documentation_fragment:
  - htb.grid.sealing
requirements:
  - hidden-tahoe-backup (the C(htb) package of this repository)
  - PyNaCl >= 1.5
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read each server node's identity
  htb_node_identity:
  register: identity_node
  no_log: true

- name: Keep them in the sealed archive on the controller
  htb_identity_archive:
    path: ~/.htb/identity.sealed
    passphrase: "{{ identity_passphrase }}"
    hosts: >-
      {{ dict(ansible_play_hosts
              | zip(ansible_play_hosts
                    | map('extract', hostvars, ['identity_node', 'identity']))) }}
    grid_manager_key_path: ~/.htb/grid-manager.key
  delegate_to: localhost
  run_once: true
  no_log: true

- name: Open the identity of the storage node to rebuild
  htb_identity_archive:
    path: ~/.htb/identity.sealed
    passphrase: "{{ identity_passphrase }}"
    state: opened
    names: [storage1]
  delegate_to: localhost
  run_once: true
  register: identity_opened
  no_log: true
"""

RETURN = r"""
hosts:
  description: The hosts the archive holds (after this run, for V(state=present)).
  returned: always
  type: list
  elements: str
  sample: [introducer1, storage1, storage2]
updated:
  description: The hosts whose entries this run added or changed (V(state=present)).
  returned: always
  type: list
  elements: str
  sample: [storage2]
identities:
  description:
    - The identities of O(names) by host name, as O(hosts) holds them (contents base64).
      Secrets - the task must have C(no_log).
  returned: when O(state=opened)
  type: dict
grid_manager_key_restored:
  description: Whether the Grid Manager's key file was put back (would be, in check mode).
  returned: when O(state=opened)
  type: bool
"""

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.failure import Fail, failing_on  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.htb_import import (  # noqa: E402
    HTB_AND_NACL,
    ImportGuard,
)
from ansible_collections.htb.grid.plugins.module_utils.sealing import (  # noqa: E402
    sealing_argument_spec,
)

HTB = ImportGuard(HTB_AND_NACL)
with HTB:
    from htb import identity
    from htb import passphrase as htb_passphrase
    from htb.errors import HtbError
    from htb.manifest import KdfParams, write_atomic


def _open(path: Path, secret: str) -> tuple[dict[str, Any], bytes | None]:
    # A file that does not open is never replaced: it may be the only copy.
    return identity.open_archive(path.read_bytes(), secret) if path.exists() else ({}, None)


def _present(module: AnsibleModule, secret: str) -> dict[str, Any]:
    p = module.params
    path = Path(p["path"])
    old_hosts, old_key = _open(path, secret)
    hosts = {**old_hosts, **p["hosts"]}
    key = old_key
    if p["grid_manager_key_path"]:
        key_path = Path(p["grid_manager_key_path"])
        if key_path.is_file():
            key = key_path.read_bytes()
        # In check mode a first run has no key yet (htb_grid_manager would create it).
        elif not module.check_mode:
            raise Fail(f"no Grid Manager key file at {key_path}")
    updated = sorted(h for h, i in p["hosts"].items() if old_hosts.get(h) != i)
    changed = not path.exists() or bool(updated) or key != old_key
    if changed:
        # Checked before anything is written, in check mode too.
        blob = identity.seal_archive(
            hosts, key, secret, KdfParams.from_options(p["kdf_opslimit"], p["kdf_memlimit_mib"])
        )
        if not module.check_mode:
            if not old_hosts and old_key is None:
                htb_passphrase.check(secret, allow_weak=p["allow_weak_passphrase"])
            if not path.parent.exists():
                path.parent.mkdir(mode=0o700, parents=True)
            write_atomic(path, blob, mode=0o600)
    return {"changed": changed, "hosts": sorted(hosts), "updated": updated}


def _restore_key(module: AnsibleModule, key: bytes | None) -> bool:
    p = module.params
    if not p["grid_manager_key_path"]:
        raise Fail("restore_grid_manager_key needs grid_manager_key_path")
    if key is None:
        raise Fail("the identity archive holds no Grid Manager key")
    target = Path(p["grid_manager_key_path"])
    if target.exists():
        if target.read_bytes() != key:
            raise Fail(
                f"{target} exists and differs from the archive's Grid Manager key:"
                " move it away by hand to restore"
            )
        return False
    if not module.check_mode:
        if not target.parent.exists():
            target.parent.mkdir(mode=0o700, parents=True)
        write_atomic(target, key, mode=0o600)
    return True


def _opened(module: AnsibleModule, secret: str) -> dict[str, Any]:
    p = module.params
    path = Path(p["path"])
    if not path.is_file():
        raise Fail(f"no identity archive at {path}: nothing to rebuild from")
    hosts, key = identity.open_archive(path.read_bytes(), secret)
    missing = [n for n in p["names"] if n not in hosts]
    if missing:
        held = ", ".join(sorted(hosts)) or "none"
        raise Fail(f"not in the identity archive: {', '.join(missing)} (it holds: {held})")
    restored = _restore_key(module, key) if p["restore_grid_manager_key"] else False
    return {
        "changed": restored,
        "hosts": sorted(hosts),
        "updated": [],
        "identities": {n: hosts[n] for n in p["names"]},
        "grid_manager_key_restored": restored,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            **sealing_argument_spec(),
            "state": {"type": "str", "choices": ["present", "opened"], "default": "present"},
            "hosts": {"type": "dict", "default": {}, "no_log": True},
            "grid_manager_key_path": {"type": "path"},
            "names": {"type": "list", "elements": "str", "default": []},
            "restore_grid_manager_key": {"type": "bool", "default": False},
        },
        mutually_exclusive=[("passphrase", "passphrase_file")],
        supports_check_mode=True,
    )
    HTB.require(module, "for the identity archive")
    p = module.params
    with failing_on(module, HtbError):
        secret = htb_passphrase.from_options(
            p["passphrase"], p["passphrase_file"], "identity_passphrase"
        )
        result = _present(module, secret) if p["state"] == "present" else _opened(module, secret)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
