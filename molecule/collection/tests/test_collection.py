"""The collection htb.grid, installed as an operator installs it, did its work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import testinfra

NODE = testinfra.get_host("podman://htb-k-node")
ONION = "/var/lib/tor/onion/web/hostname"


def test_tor_role_published_the_onion() -> None:
    assert NODE.service("tor@default.service").is_running
    assert re.fullmatch(r"[a-z2-7]{56}\.onion", NODE.file(ONION).content_string.strip())


def test_host_firewall_role_drops_inbound() -> None:
    ruleset = NODE.check_output("nft list ruleset")
    assert "policy drop" in ruleset


def test_module_sealed_the_invitation_on_the_controller() -> None:
    sealed = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "invitation.htbm"
    assert sealed.stat().st_mode & 0o777 == 0o600
    assert sealed.stat().st_size > 0
