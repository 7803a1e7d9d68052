"""Roles refuse a missing or malformed variable before touching anything, naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")


# Lease expiry with a stated renewal, weekly, against Tahoe's default 31-day leases.
LEASES = {
    "storage_expire_enabled": True,
    "storage_lease_renewal": "each activist runs htb check weekly",
    "storage_lease_renewal_days": 7,
}


def run_role(tmp_path: Path, role: str, variables: dict[str, Any]) -> str:
    book = tmp_path / "play.yml"
    book.write_text(
        yaml.safe_dump(
            [{"hosts": "localhost", "gather_facts": False, "vars": variables, "roles": [role]}]
        )
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "-c", "local", "--check", str(book)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode != 0
    return run.stdout + run.stderr


@pytest.mark.parametrize(
    ("role", "variables", "named"),
    [
        ("storage", {"storage_grid_join": "sideways"}, "storage_grid_join"),
        ("storage", {"storage_readonly": "perhaps"}, "storage_readonly"),
        ("storage", {"storage_web_port": "tcp:3456"}, "storage_web_port"),
        ("introducer", {"introducer_port": "not-a-port"}, "introducer_port"),
        ("tor", {"tor_onion_services": [{"name": "web"}]}, "ports"),
        ("grid_client", {"grid_client_shares_needed": "two"}, "grid_client_shares_needed"),
        ("grid_client", {"grid_client_shares_happy": 9}, "grid_client_shares_happy"),
        ("tahoe_node", {}, "tahoe_node_name"),
        # Nicknames must not identify the machine (inventory hostname here: localhost).
        ("storage", {"storage_nickname": "localhost"}, "storage_nickname"),
        ("storage", {"storage_nickname": "node-10.0.3.7"}, "storage_nickname"),
        (
            "storage",
            {"ansible_host": "store1.example.net", "storage_nickname": "Store1.example.net"},
            "storage_nickname",
        ),
        ("introducer", {"introducer_nickname": "192.168.1.20"}, "introducer_nickname"),
        ("introducer", {"introducer_nickname": "intro-2001:db8::7"}, "introducer_nickname"),
        ("grid_client", {"grid_client_nickname": "localhost"}, "grid_client_nickname"),
        ("grid_client", {"grid_client_nickname": "fe80::1"}, "grid_client_nickname"),
        (
            "host_firewall",
            {"host_firewall_allowed_tcp_ports": ["ssh"]},
            "host_firewall_allowed_tcp_ports",
        ),
        (
            "host_firewall",
            {"host_firewall_allowed_tcp_ports": [70000]},
            "host_firewall_allowed_tcp_ports",
        ),
        ("host_firewall", {"host_firewall_allow_ping": "sometimes"}, "host_firewall_allow_ping"),
        ("client_tails", {}, "client_tails_bundle"),
        # gpg --assert-signer takes anything but a bare fingerprint for a file name.
        (
            "client_tails",
            {"client_tails_bundle": "/b/htb-a.run", "client_tails_operator_fingerprint": "AB CD"},
            "client_tails_operator_fingerprint",
        ),
        ("activist_bundle", {}, "activist_bundle_operator_fingerprint"),
        ("activist_manifests", {}, "activist_manifests_activists"),
        ("activist_manifests", {"activist_manifests_activists": [{"name": "alice"}]}, "backups"),
        # No passphrase for the Grid Manager's key: refused before any key is made.
        ("grid_manager", {}, "set exactly one of grid_manager_passphrase"),
        (
            "grid_manager",
            {"grid_manager_kdf_opslimit": "many"},
            "grid_manager_kdf_opslimit",
        ),
    ],
)
def test_bad_input_stops_the_play_and_names_the_variable(
    tmp_path: Path, role: str, variables: dict[str, Any], named: str
) -> None:
    out = run_role(tmp_path, role, variables)
    assert named in out
    assert "changed=0" in out


# The storage role's refusal, in its fail_msg.
LEASE_REFUSAL = "deletes every share whose lease nobody renewed"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"storage_expire_enabled": True}, "storage_lease_renewal"),
        ({**LEASES, "storage_lease_renewal_days": 20}, "storage_lease_renewal_days"),
        (
            # Weekly renewal against 10-day leases: one late renewal loses shares.
            {**LEASES, "storage_expire_override_lease_duration": "10 days"},
            "storage_lease_renewal_days",
        ),
        (
            {
                **LEASES,
                "storage_expire_mode": "cutoff-date",
                "storage_expire_cutoff_date": "2999-01-01",
            },
            "storage_lease_renewal_days",
        ),
    ],
)
def test_lease_expiry_without_a_renewal_in_time_is_refused(
    tmp_path: Path, variables: dict[str, Any], named: str
) -> None:
    # Lease expiry deletes what nobody renewed: refused until renewal is stated.
    out = run_role(tmp_path, "storage", variables)
    assert LEASE_REFUSAL in out
    assert named in out
    assert "changed=0" in out


@pytest.mark.parametrize(
    "variables",
    [
        LEASES,
        {**LEASES, "storage_expire_override_lease_duration": "2 months"},
        {
            **LEASES,
            "storage_expire_mode": "cutoff-date",
            "storage_expire_cutoff_date": "2020-01-01",
        },
    ],
)
def test_lease_expiry_with_a_stated_renewal_passes_the_check(
    tmp_path: Path, variables: dict[str, Any]
) -> None:
    # The play still stops later (localhost is no storage node): the check itself passed.
    out = run_role(tmp_path, "storage", variables)
    passed = r"Refuse lease expiry without a stated renewal\].*\nok: \[localhost\]"
    assert re.search(passed, out), out
    assert LEASE_REFUSAL not in out
