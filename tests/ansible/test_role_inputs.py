"""Roles refuse a missing or malformed variable before touching anything, naming it.

Each case asserts the refusal itself: the one task that failed, and its message (the
argument spec's or the check's own words), not merely the variable's name somewhere
in the output (it is also in task titles, and on localhost the play would fail later
anyway). Mutation: drop a refusal and the play stops elsewhere, or not at all: the
case fails (checked: ``choices`` of storage_grid_join removed, check_names' IPv4
condition removed, the storage role's renewal-days condition replaced by ``true``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
VALIDATION = "Validating arguments against arg spec"


# Lease expiry with a stated renewal, weekly, against Tahoe's default 31-day leases.
LEASES = {
    "storage_expire_enabled": True,
    "storage_lease_renewal": "each activist runs htb check weekly",
    "storage_lease_renewal_days": 7,
}


@dataclass
class Play:
    """What a play did on localhost: its tasks' names and results, and its totals."""

    tasks: list[tuple[str, dict[str, Any]]]
    stats: dict[str, int]

    @property
    def failed(self) -> list[tuple[str, str]]:
        """(task name, message) of each failed task; a loop's message is its items'."""
        out = []
        for name, result in self.tasks:
            if result.get("failed"):
                items = [r.get("msg", "") for r in result.get("results", []) if r.get("failed")]
                out.append((name, "\n".join(items) or str(result.get("msg", ""))))
        return out

    def ok(self, task: str) -> bool:
        """The task ran (not skipped) and passed."""
        return any(
            task in name and not r.get("failed") and not r.get("skipped") for name, r in self.tasks
        )


def run_play(tmp_path: Path, play: dict[str, Any]) -> Play:
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, **play}]))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
    }
    run = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "-c", "local", "--check", str(book)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    out = json.loads(run.stdout)
    tasks = [(t["task"]["name"], t["hosts"].get("localhost", {})) for t in out["plays"][0]["tasks"]]
    return Play(tasks, out["stats"]["localhost"])


def refusal(tmp_path: Path, play: dict[str, Any]) -> tuple[str, str]:
    """The one failed task of a play that must stop there, having changed nothing."""
    ran = run_play(tmp_path, play)
    assert len(ran.failed) == 1, ran.failed
    assert ran.stats["changed"] == 0
    return ran.failed[0]


def run_role(tmp_path: Path, role: str, variables: dict[str, Any]) -> tuple[str, str]:
    return refusal(tmp_path, {"vars": variables, "roles": [role]})


NAMES_TASK = "Refuse a nickname or petname that names this host or an address"
NAMES_REFUSAL = "would identify this machine in every announcement of the grid"


@pytest.mark.parametrize(
    ("role", "variables", "task", "message"),
    [
        (
            "storage",
            {"storage_grid_join": "sideways"},
            VALIDATION,
            "value of storage_grid_join must be one of: introducer, servers, both, got: sideways",
        ),
        (
            "storage",
            {"storage_readonly": "perhaps"},
            VALIDATION,
            "argument 'storage_readonly' is of type str and we were unable to convert to bool",
        ),
        (
            "storage",
            {"storage_web_port": "tcp:3456"},
            "Check storage_web_port is loopback-only",
            "storage_web_port must be empty or bind interface=127.0.0.1, not tcp:3456",
        ),
        (
            "introducer",
            {"introducer_port": "not-a-port"},
            VALIDATION,
            "argument 'introducer_port' is of type str and we were unable to convert to int",
        ),
        (
            "tor",
            {"tor_onion_services": [{"name": "web"}]},
            VALIDATION,
            "missing required arguments: ports found in tor_onion_services",
        ),
        (
            "grid_client",
            {"grid_client_shares_needed": "two"},
            VALIDATION,
            "argument 'grid_client_shares_needed' is of type str and we were unable to convert",
        ),
        (
            "grid_client",
            {"grid_client_shares_happy": 9},
            "Check grid_client_shares_needed, _happy and _total",
            "grid_client_shares_needed (2) <= grid_client_shares_happy (9)"
            " <= grid_client_shares_total (4) must hold",
        ),
        # A required variable that the spec's own defaults use: Ansible's one line, from
        # the validation task, before anything runs.
        ("tahoe_node", {}, VALIDATION, "'tahoe_node_name' is undefined"),
        # Nicknames must not identify the machine (inventory hostname here: localhost).
        (
            "storage",
            {"storage_nickname": "localhost"},
            NAMES_TASK,
            "storage_nickname (localhost) " + NAMES_REFUSAL,
        ),
        (
            "storage",
            {"storage_nickname": "node-10.0.3.7"},
            NAMES_TASK,
            "storage_nickname (node-10.0.3.7) " + NAMES_REFUSAL,
        ),
        (
            "storage",
            {"ansible_host": "store1.example.net", "storage_nickname": "Store1.example.net"},
            NAMES_TASK,
            "storage_nickname (Store1.example.net) " + NAMES_REFUSAL,
        ),
        (
            "introducer",
            {"introducer_nickname": "192.168.1.20"},
            NAMES_TASK,
            "introducer_nickname (192.168.1.20) " + NAMES_REFUSAL,
        ),
        (
            "introducer",
            {"introducer_nickname": "intro-2001:db8::7"},
            NAMES_TASK,
            "introducer_nickname (intro-2001:db8::7) " + NAMES_REFUSAL,
        ),
        (
            "grid_client",
            {"grid_client_nickname": "localhost"},
            NAMES_TASK,
            "grid_client_nickname (localhost) " + NAMES_REFUSAL,
        ),
        (
            "grid_client",
            {"grid_client_nickname": "fe80::1"},
            NAMES_TASK,
            "grid_client_nickname (fe80::1) " + NAMES_REFUSAL,
        ),
        (
            "host_firewall",
            {"host_firewall_allowed_tcp_ports": ["ssh"]},
            VALIDATION,
            "Elements value for option 'host_firewall_allowed_tcp_ports' is of type str"
            " and we were unable to convert to int",
        ),
        (
            "host_firewall",
            {"host_firewall_allowed_tcp_ports": [70000]},
            "Check host_firewall_allowed_tcp_ports",
            "host_firewall_allowed_tcp_ports must be a list of TCP ports (1-65535), such as [22],"
            " not [70000]",
        ),
        # A bare port passes the argument spec (converted for the check only) and the
        # template then failed on a type error; refused by name now.
        (
            "host_firewall",
            {"host_firewall_allowed_tcp_ports": 2222},
            "Check host_firewall_allowed_tcp_ports",
            "host_firewall_allowed_tcp_ports must be a list of TCP ports (1-65535), such as [22],"
            " not 2222",
        ),
        (
            "host_firewall",
            {"host_firewall_allow_ping": "sometimes"},
            VALIDATION,
            "argument 'host_firewall_allow_ping' is of type str and we were unable to convert",
        ),
        ("client_tails", {}, VALIDATION, "'client_tails_bundle' is undefined"),
        # gpg --assert-signer takes anything but a bare fingerprint for a file name.
        (
            "client_tails",
            {"client_tails_bundle": "/b/htb-a.run", "client_tails_operator_fingerprint": "AB CD"},
            "Refuse an operator fingerprint that is not 40 (or 64) hexadecimal digits",
            "client_tails_operator_fingerprint must be the operator key's full fingerprint",
        ),
        (
            "activist_bundle",
            {},
            VALIDATION,
            "missing required arguments: activist_bundle_operator_fingerprint",
        ),
        (
            "activist_manifests",
            {},
            VALIDATION,
            "missing required arguments: activist_manifests_activists",
        ),
        (
            "activist_manifests",
            {"activist_manifests_activists": [{"name": "alice"}]},
            VALIDATION,
            "missing required arguments: backups found in activist_manifests_activists",
        ),
        # No passphrase for the Grid Manager's key: refused before any key is made.
        (
            "grid_manager",
            {},
            "Refuse to run without the key's passphrase",
            "set exactly one of grid_manager_passphrase (ansible-vault) and"
            " grid_manager_passphrase_file",
        ),
        (
            "grid_manager",
            {"grid_manager_kdf_opslimit": "many"},
            VALIDATION,
            "argument 'grid_manager_kdf_opslimit' is of type str and we were unable to convert",
        ),
    ],
)
def test_bad_input_stops_the_play_with_its_refusal(
    tmp_path: Path, role: str, variables: dict[str, Any], task: str, message: str
) -> None:
    failed_task, said = run_role(tmp_path, role, variables)
    assert task in failed_task
    assert message in said


# Petnames (what other nodes call an introducer in introducers.yaml, and the name of
# their cache file) are derived from the introducer's onion, never set by the operator;
# the same check refuses one that names the host or holds an address.
@pytest.mark.parametrize(
    ("variables", "petname"),
    [
        ({}, "localhost"),
        ({"ansible_host": "intro1.example.net"}, "INTRO1.example.net"),
        ({}, "introducer-10.0.3.7"),
        ({}, "introducer-2001:db8::7"),
    ],
)
def test_a_petname_that_names_the_host_or_an_address_is_refused(
    tmp_path: Path, variables: dict[str, Any], petname: str
) -> None:
    failed_task, said = refusal(tmp_path, _check_petname(variables, petname))
    assert NAMES_TASK in failed_task
    assert f"introducer_petname ({petname}) {NAMES_REFUSAL}" in said


def test_control_an_onion_derived_petname_passes(tmp_path: Path) -> None:
    ran = run_play(tmp_path, _check_petname({}, "introducer-abcdefgh"))
    assert ran.failed == []
    assert ran.ok(NAMES_TASK)


def _check_petname(variables: dict[str, Any], petname: str) -> dict[str, Any]:
    include = {"name": "tahoe_node", "tasks_from": "check_names.yml"}
    return {
        "vars": variables,
        "tasks": [
            {
                "name": "Check the petname",
                "ansible.builtin.include_role": include,
                "vars": {"tahoe_node_check_names": {"introducer_petname": petname}},
            }
        ],
    }


# The storage role's refusal, in its fail_msg.
LEASE_TASK = "Refuse lease expiry without a stated renewal"
LEASE_REFUSAL = "storage_expire_enabled deletes every share whose lease nobody renewed"


@pytest.mark.parametrize(
    ("variables", "values"),
    [
        ({"storage_expire_enabled": True}, "lease duration, 31 days; "),
        ({**LEASES, "storage_lease_renewal_days": 20}, "31 days; "),
        (
            # Weekly renewal against 10-day leases: one late renewal loses shares.
            {**LEASES, "storage_expire_override_lease_duration": "10 days"},
            "10 days; ",
        ),
        (
            {
                **LEASES,
                "storage_expire_mode": "cutoff-date",
                "storage_expire_cutoff_date": "2999-01-01",
            },
            "31 days; ",
        ),
    ],
)
def test_lease_expiry_without_a_renewal_in_time_is_refused(
    tmp_path: Path, variables: dict[str, Any], values: str
) -> None:
    # Lease expiry deletes what nobody renewed: refused until renewal is stated.
    failed_task, said = run_role(tmp_path, "storage", variables)
    assert LEASE_TASK in failed_task
    assert LEASE_REFUSAL in said
    # The message quotes the lease duration and the renewal it refused.
    renewal = variables.get("storage_lease_renewal", "")
    days = variables.get("storage_lease_renewal_days", 0)
    assert values in said
    assert f'not "{renewal}" every {days} days' in said


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
    ran = run_play(tmp_path, {"vars": variables, "roles": ["storage"]})
    assert ran.ok(LEASE_TASK), ran.tasks
    assert all(LEASE_TASK not in name for name, _ in ran.failed)
