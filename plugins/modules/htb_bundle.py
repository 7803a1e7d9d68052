#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the release's signed bundle (htb-<version>.run, its .sig, operator.gpg)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_bundle
short_description: Build and sign the release's self-installing htb bundle for Tails
version_added: "0.2.0"
description:
  - Writes C(htb-<version>.run) into O(dest) - one self-extracting file (a POSIX sh
    header and a tar payload) that installs htb and tahoe-lafs on Tails as the user,
    without root, into Persistent Storage - and its detached OpenPGP signature
    C(htb-<version>.run.sig) by the operator's key O(fingerprint), and that public key
    beside them as C(operator.gpg) (a keyring file - the activist's gpg reads it with
    C(--keyring), importing nothing).
  - One bundle per release, for every activist - tooling only, no invitation and no
    secret, so it can be published openly (file mode 0644). Each activist's sealed
    invitation (M(htb.grid.htb_manifest)) travels beside it; the app's first screen or
    C(htb join FILE) takes it. The installer upgrades an older htb, never touches an
    installed manifest, and refuses an older bundle unless forced.
  - The payload holds the wheels of O(wheelhouse) (each pinned by its sha256 for pip's
    C(--require-hashes)), C(bundle.json) (the version, the Python), C(SHA256SUMS) of
    every file and the installer (C(htb.bundle_installer)). On Tails the activist runs
    it only after her own gpg checked the signer against the fingerprint she got in
    person (C(--assert-signer);
    the command is in the bundle's header and docs/activist-guide.md). The header embeds
    O(fingerprint) and checks again - it unpacks nothing unless gpg reports a valid
    signature by that key (C(VALIDSIG)) with C(operator.gpg) beside it.
  - The same inputs give the same bytes. The bundle is rewritten only when its bytes
    change, and signed only then or when its signature is missing or not a valid
    signature by O(fingerprint) (OpenPGP signatures are not deterministic); the task
    is C(changed) only then, or when C(operator.gpg) differs from the key gpg exports.
  - Runs where the C(htb) package is importable and gpg holds the operator's secret
    key - the controller (C(delegate_to=localhost)). The key must sign without a prompt
    (no passphrase is ever handled here - a gpg-agent with the passphrase cached, or a
    key on a token).
  - In check mode nothing is written; C(changed) and RV(signed) say what would be.
options:
  version:
    description:
      - The release's version; the file is C(htb-<version>.run). Default - the version of
        the htb on the controller (C(htb.__version__), that of pyproject.toml and
        galaxy.yml). Refused if the wheelhouse holds another version of htb's own wheel.
    type: str
  dest:
    description: The directory of the bundles (created 0700 if missing).
    type: path
    required: true
  wheelhouse:
    description:
      - A tar of wheels for the activist's Python (C(scripts/build-tails-wheelhouse)),
        with pip's own wheel.
    type: path
    required: true
  fingerprint:
    description: The operator's key's full fingerprint (40 hexadecimal digits, spaces allowed).
    type: str
    required: true
  gnupg_home:
    description: The GnuPG home directory holding that secret key (default - gpg's own).
    type: path
  python_version:
    description:
      - The Python (major.minor) the wheels are for, which the installer requires on the
        system. Default - the version the wheels' C(cpXY) tags name (V(3.13) for Tails 7).
    type: str
requirements:
  - hidden-tahoe-backup (the C(htb) package of this repository)
  - gpg (GnuPG 2)
seealso:
  - module: htb.grid.htb_manifest
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The release's bundle, signed by the operator's key
  htb.grid.htb_bundle:
    dest: "{{ playbook_dir }}/../private/bundles"
    wheelhouse: "{{ playbook_dir }}/../.cache/wheelhouse/tails-trixie.tar"
    fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567
    gnupg_home: ~/.gnupg-htb-operator
  delegate_to: localhost
  register: release_bundle
"""

RETURN = r"""
path:
  description: The bundle.
  returned: always
  type: str
  sample: /srv/htb/private/bundles/htb-0.2.0.run
signature:
  description: Its detached signature (C(<path>.sig)).
  returned: always
  type: str
sha256:
  description: The bundle's sha256 (hex), to compare with the activist's copy.
  returned: always
  type: str
version:
  description: The release's version (the bundle's file name, and what the installer compares).
  returned: always
  type: str
  sample: "0.2.0"
python_version:
  description: The Python the bundle installs for (the installer refuses another).
  returned: always
  type: str
  sample: "3.13"
signed:
  description: Whether the signature was made anew (in check mode - would be).
  returned: always
  type: bool
key:
  description: The operator's public key beside the bundle (C(operator.gpg), 0644).
  returned: always
  type: str
  sample: /srv/htb/private/bundles/operator.gpg
"""

from pathlib import Path  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.failure import failing_on  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.htb_import import ImportGuard  # noqa: E402

HTB = ImportGuard()
with HTB:
    from htb import bundle
    from htb.errors import HtbError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str"},
            "dest": {"type": "path", "required": True},
            "wheelhouse": {"type": "path", "required": True},
            "fingerprint": {"type": "str", "required": True},
            "gnupg_home": {"type": "path"},
            "python_version": {"type": "str"},
        },
        supports_check_mode=True,
    )
    HTB.require(module, "for bundles")
    p = module.params
    with failing_on(module, HtbError):
        result = bundle.build(
            Path(p["dest"]),
            Path(p["wheelhouse"]),
            p["fingerprint"],
            version=p["version"],
            gnupg_home=Path(p["gnupg_home"]) if p["gnupg_home"] else None,
            python_version=p["python_version"],
            check=module.check_mode,
        )
    module.exit_json(
        changed=result.changed or result.signed or result.key_changed,
        path=str(result.path),
        key=str(result.key),
        signature=str(result.signature),
        sha256=result.sha256,
        version=result.version,
        python_version=result.python,
        signed=result.signed,
    )


if __name__ == "__main__":
    main()
