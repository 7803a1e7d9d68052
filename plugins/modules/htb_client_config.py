#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the tahoe.cfg settings of a hide-IP client, from the htb package."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_client_config
short_description: The tahoe.cfg sections of a Tor-only Tahoe client, as htb writes them
version_added: "0.2.0"
description:
  - Returns the tahoe.cfg settings of a client node that reaches the grid only through
    Tor and listens nowhere - C(reveal-IP-address = false), C(tub.port) and
    C(tub.location) disabled, C([connections] tcp = tor), the C([tor]) ports and the
    erasure coding - computed by the same function (C(htb.nodeconfig.tor_client_config))
    with which htb configures the client node on an activist's laptop, so that the
    grid_client role and htb cannot drift apart.
  - Changes nothing anywhere. Run it where the C(htb) package is importable - the
    controller (C(delegate_to=localhost)). A module rather than a filter, so that a role
    calls it by the same name whether it runs from this repository or from the
    collection.
options:
  socks_port:
    description: tor's SOCKS endpoint, for example C(tcp:127.0.0.1:9050).
    type: str
    required: true
  control_port:
    description:
      - tor's control endpoint, for example C(tcp:127.0.0.1:9051); Tahoe 1.20 needs one
        for its HTTPS storage protocol over Tor.
      - Empty - no control port, and the node speaks Foolscap only.
    type: str
    default: ""
  shares_needed:
    description: Shares needed to restore a file (K).
    type: int
    required: true
  shares_happy:
    description: Servers an upload must reach.
    type: int
    required: true
  shares_total:
    description: Shares written per file (N).
    type: int
    required: true
  force_foolscap:
    description: Speak Foolscap only (then O(control_port) is not written).
    type: bool
    default: false
  grid_managers:
    description:
      - Grid Manager public keys (name to C(pub-v0-...)), written as tahoe.cfg's
        C([grid_managers]) - the node then uploads only to storage servers whose
        announcement carries an unexpired certificate signed by one of them.
      - Empty - no such section, and the node uploads to any server announced.
    type: dict
    default: {}
requirements:
  - hidden-tahoe-backup (the C(htb) package of this repository)
author:
  - hidden-tahoe-backup grid authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The hide-IP settings of the client node
  htb_client_config:
    socks_port: tcp:127.0.0.1:9050
    control_port: tcp:127.0.0.1:9051
    shares_needed: 2
    shares_happy: 3
    shares_total: 4
    grid_managers:
      default: pub-v0-ywtp6g5252he245dh4tbipcvz2wrqb45cjngleab4vgzoghx3ima
  delegate_to: localhost
  become: false
  register: client_config
"""

RETURN = r"""
config:
  description: tahoe.cfg as a mapping of sections to options (all values strings).
  returned: success
  type: dict
  sample:
    node: {reveal-IP-address: "false", tub.port: disabled, tub.location: disabled}
    connections: {tcp: tor}
    tor: {enabled: "true", socks.port: "tcp:127.0.0.1:9050", control.port: "tcp:127.0.0.1:9051"}
    client: {shares.needed: "2", shares.happy: "3", shares.total: "4", force_foolscap: "false"}
    grid_managers: {default: pub-v0-ywtp6g5252he245dh4tbipcvz2wrqb45cjngleab4vgzoghx3ima}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.failure import failing_on  # noqa: E402
from ansible_collections.htb.grid.plugins.module_utils.htb_import import ImportGuard  # noqa: E402

HTB = ImportGuard()
with HTB:
    from htb.nodeconfig import tor_client_config


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socks_port": {"type": "str", "required": True},
            "control_port": {"type": "str", "default": ""},
            "shares_needed": {"type": "int", "required": True},
            "shares_happy": {"type": "int", "required": True},
            "shares_total": {"type": "int", "required": True},
            "force_foolscap": {"type": "bool", "default": False},
            "grid_managers": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    HTB.require(module, "for the client settings htb writes")
    p = module.params
    with failing_on(module, ValueError):
        config = tor_client_config(
            p["socks_port"],
            p["control_port"] or None,
            (p["shares_needed"], p["shares_happy"], p["shares_total"]),
            force_foolscap=p["force_foolscap"],
            grid_managers=p["grid_managers"],
        )
    module.exit_json(changed=False, config=config)


if __name__ == "__main__":
    main()
