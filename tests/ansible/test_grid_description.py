"""tahoe_node tasks_from grid: the one description of the grid, built from the facts
the introducer and storage hosts published, run through ansible-playbook itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
FURL = "pb://" + "a" * 32 + "@tor:" + "c" * 56 + ".onion:3457/" + "d" * 32
ANN = {"nickname": "storage-x", "anonymous-storage-FURL": FURL.replace("d" * 32, "e" * 32)}


def describe(tmp_path: Path, grid_vars: dict[str, Any], publish: bool = True) -> Any:
    """Run grid.yml on host c after i1 (introducer) and s1, s2 (storage) publish."""
    inventory = {
        "all": {
            "children": {
                "introducers": {"hosts": {"i1": {}}},
                "storage": {"hosts": {"s1": {}, "s2": {}}},
                "clients": {"hosts": {"c": {}}},
            },
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        }
    }
    out = tmp_path / "grid.json"
    plays: list[dict[str, Any]] = []
    if publish:
        plays += [
            {
                "hosts": "introducers",
                "gather_facts": False,
                "tasks": [
                    {
                        "ansible.builtin.set_fact": {
                            "introducer_furl": FURL,
                            "introducer_petname": "introducer-cccccccc",
                        }
                    }
                ],
            },
            {
                "hosts": "storage",
                "gather_facts": False,
                "tasks": [
                    {
                        "ansible.builtin.set_fact": {
                            "storage_announcement": {
                                "id": "v0-{{ inventory_hostname }}",
                                "ann": ANN,
                            }
                        }
                    }
                ],
            },
        ]
    plays.append(
        {
            "hosts": "clients",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {"name": "tahoe_node", "tasks_from": "grid"},
                    "vars": grid_vars,
                },
                {
                    "ansible.builtin.copy": {
                        "content": "{{ tahoe_node_grid | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    }
                },
            ],
        }
    )
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=REPO,
    )
    return run, (json.loads(out.read_text()) if out.exists() else None)


def test_introducers_and_static_servers(tmp_path: Path) -> None:
    run, grid = describe(
        tmp_path,
        {
            "tahoe_node_grid_introducer_hosts": ["i1"],
            "tahoe_node_grid_storage_hosts": ["s1", "s2"],
        },
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert grid == {
        "introducers": {"introducer-cccccccc": {"furl": FURL}},
        "servers": {"v0-s1": {"ann": ANN}, "v0-s2": {"ann": ANN}},
        "grid_managers": {},
    }
    # FURLs are secrets: not in the output.
    assert "d" * 32 not in run.stdout + run.stderr
    assert "e" * 32 not in run.stdout + run.stderr


def test_only_the_hosts_given(tmp_path: Path) -> None:
    run, grid = describe(tmp_path, {"tahoe_node_grid_introducer_hosts": ["i1"]})
    assert run.returncode == 0, run.stdout + run.stderr
    assert grid == {
        "introducers": {"introducer-cccccccc": {"furl": FURL}},
        "servers": {},
        "grid_managers": {},
    }


def test_the_grid_managers_the_grid_manager_role_published(tmp_path: Path) -> None:
    keys = {"operator": "pub-v0-" + "a" * 52}
    run, grid = describe(
        tmp_path,
        {"tahoe_node_grid_introducer_hosts": ["i1"], "grid_manager_public_keys": keys},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert grid["grid_managers"] == keys


def test_a_host_that_published_nothing_is_named(tmp_path: Path) -> None:
    run, grid = describe(tmp_path, {"tahoe_node_grid_storage_hosts": ["s2"]}, publish=False)
    assert run.returncode != 0
    assert grid is None
    assert "s2 has no storage_announcement" in run.stdout + run.stderr
