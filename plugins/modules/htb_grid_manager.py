#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the operator's Grid Manager key, sealed, and its storage certificates."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_grid_manager
short_description: Keep a sealed Tahoe Grid Manager key and certify storage nodes with it
version_added: "0.2.0"
description:
  - A Tahoe-LAFS client that trusts a Grid Manager (tahoe.cfg C([grid_managers])) uploads
    only to storage servers whose announcement carries an unexpired certificate signed by
    it, so a node joined with a leaked introducer FURL gets no shares.
  - Keeps the Grid Manager's Ed25519 private key in O(path), sealed with the project's
    envelope (Argon2id and SecretBox, C(htb.manifest.envelope)) under O(passphrase); the
    key is never written unsealed, never returned and never shown. A missing key file is
    created (mode 0600, directory 0700) when O(create=true).
  - With O(node_public_key), returns a certificate for that storage node - the one given
    in O(certificate) while it is signed by this Grid Manager for this node and valid for
    more than O(renew_days) days, otherwise a new one valid for O(validity_days) days
    (reported as changed, with the reason in RV(renewal)). The certificate is Tahoe's format
    (C(allmydata.grid_manager)); Tahoe's own C(grid-manager) tool is not needed.
  - Runs where the C(htb) package is importable - the controller (C(delegate_to=localhost)).
  - In check mode nothing is written; a key that does not exist yet is reported as a
    change and no certificate can be signed.
options:
  path:
    description: The sealed key file.
    type: path
    required: true
  create:
    description:
      - Create the key (and the file) when O(path) does not exist. V(false) - a missing
        file is an error (for example a run that must use the key kept offline).
    type: bool
    default: true
  node_public_key:
    description:
      - The storage node's public key (its C(node.pubkey), C(pub-v0-...)) to certify.
        Without it the module only makes sure the key exists and returns RV(public_key).
    type: str
  certificate:
    description:
      - The certificate the node holds now (JSON text or mapping), if any; it is returned
        unchanged unless it must be renewed.
    type: raw
  validity_days:
    description:
      - How long a new certificate is valid, in days (1 to 1825, as Tahoe's
        C(grid-manager sign)).
    type: int
    default: 90
  renew_days:
    description:
      - Renew a certificate that expires within this many days. Must be less than
        O(validity_days); re-run the playbook more often than O(validity_days) minus
        this (a node whose certificate expired gets no new shares).
    type: int
    default: 30
extends_documentation_fragment:
  - htb.grid.sealing
requirements:
  - hidden-tahoe-backup (the C(htb) package of this repository)
  - PyNaCl >= 1.5
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Make sure the Grid Manager key exists
  htb_grid_manager:
    path: ~/.htb/grid-manager.key
    passphrase: "{{ grid_manager_passphrase }}"
  delegate_to: localhost
  run_once: true
  register: gm

- name: Certify this storage node
  htb_grid_manager:
    path: ~/.htb/grid-manager.key
    passphrase: "{{ grid_manager_passphrase }}"
    create: false
    node_public_key: "{{ node_pubkey }}"
    certificate: "{{ current_certificate | default(omit) }}"
    validity_days: 90
    renew_days: 30
  delegate_to: localhost
  register: cert
"""

RETURN = r"""
public_key:
  description:
    - The Grid Manager's public key, for clients' C([grid_managers]).
    - Empty in check mode before the key exists.
  returned: always
  type: str
  sample: pub-v0-ywtp6g5252he245dh4tbipcvz2wrqb45cjngleab4vgzoghx3ima
created:
  description: Whether this run created the key (in check mode - would create it).
  returned: always
  type: bool
certificate:
  description:
    - The node's certificate, as JSON text (Tahoe's certificate file) - the one given, or a
      new one. Not a secret. Empty in check mode when no key exists yet.
  returned: when O(node_public_key) is given
  type: str
expires:
  description: When RV(certificate) expires (ISO 8601, UTC).
  returned: when O(node_public_key) is given and a certificate is returned
  type: str
renewal:
  description: Why a new certificate was issued (C(none yet), C(expired), ...), or empty.
  returned: when O(node_public_key) is given
  type: str
"""

import json  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
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
    from htb import gridmanager
    from htb import passphrase as htb_passphrase
    from htb.errors import HtbError
    from htb.manifest import KdfParams, write_atomic

MAX_VALIDITY_DAYS = 5 * 365


def _kdf(p: dict[str, Any]) -> KdfParams:
    return KdfParams.from_options(p["kdf_opslimit"], p["kdf_memlimit_mib"])


def _key(module: AnsibleModule, secret: str) -> tuple[str | None, bool]:
    """The private key (None in check mode before it exists) and whether it is new."""
    p = module.params
    path = Path(p["path"])
    if path.exists():
        # A file that does not open is never replaced: it may be the only copy.
        return gridmanager.open_key(path.read_bytes(), secret), False
    if not p["create"]:
        raise Fail(f"no Grid Manager key at {path} (create is false)")
    if module.check_mode:
        return None, True
    htb_passphrase.check(secret, allow_weak=p["allow_weak_passphrase"])
    private = gridmanager.new_private_key()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    write_atomic(path, gridmanager.seal_key(private, secret, _kdf(p)), mode=0o600)
    return private, True


def _certify(module: AnsibleModule, private: str | None, result: dict[str, Any]) -> None:
    p = module.params
    if not 1 <= p["validity_days"] <= MAX_VALIDITY_DAYS:
        raise Fail(f"validity_days must be 1 to {MAX_VALIDITY_DAYS}, not {p['validity_days']}")
    if not 0 <= p["renew_days"] < p["validity_days"]:
        raise Fail("renew_days must be at least 0 and less than validity_days")
    current = p["certificate"] or None
    if isinstance(current, str) and not current.strip():
        current = None
    if private is None:  # check mode, no key yet
        result.update(changed=True, certificate="", renewal="none yet")
        return
    public = gridmanager.public_key(private)
    node = p["node_public_key"]
    # Refuse a malformed node key before judging the certificate it holds.
    gridmanager.check_public_key(node, "the storage node's public key")
    reason = gridmanager.needs_renewal(public, node, current, timedelta(days=p["renew_days"]))
    if reason is None:
        cert = current if isinstance(current, dict) else json.loads(current)
    else:
        cert = gridmanager.sign(private, node, datetime.now(UTC) + timedelta(p["validity_days"]))
        result["changed"] = True
    expires = gridmanager.verify(public, cert).expires
    result.update(
        certificate=json.dumps(cert, indent=4) + "\n",
        expires=expires.isoformat(),
        renewal=reason or "",
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            **sealing_argument_spec(),
            "create": {"type": "bool", "default": True},
            "node_public_key": {"type": "str"},
            "certificate": {"type": "raw"},
            "validity_days": {"type": "int", "default": 90},
            "renew_days": {"type": "int", "default": 30},
        },
        mutually_exclusive=[("passphrase", "passphrase_file")],
        supports_check_mode=True,
    )
    HTB.require(module, "for the Grid Manager")
    p = module.params
    with failing_on(module, HtbError):
        private, created = _key(
            module,
            htb_passphrase.from_options(
                p["passphrase"], p["passphrase_file"], "grid_manager_passphrase"
            ),
        )
        result: dict[str, Any] = {
            "changed": created,
            "created": created,
            "public_key": gridmanager.public_key(private) if private else "",
        }
        if p["node_public_key"] is not None:
            _certify(module, private, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
