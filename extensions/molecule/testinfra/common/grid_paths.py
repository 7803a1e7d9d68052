"""Where the scenario's Tahoe nodes live, read once for every testinfra module.

The node directories are the tahoe_node role's ``tahoe_node_base_dir``: the
scenario's inventory value where it sets one (group_vars all), else the role's
default. (On the verifier's PYTHONPATH: .config/molecule/config.yml.)
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


@cache
def tahoe_base_dir() -> str:
    inventory = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    host = inventory.get_hosts("all")[0]
    chosen = inventory.get_variables(host).get("tahoe_node_base_dir")
    if chosen:
        return str(chosen)
    defaults = PROJECT / "roles" / "tahoe_node" / "defaults" / "main.yml"
    return str(yaml.safe_load(defaults.read_text(encoding="utf-8"))["tahoe_node_base_dir"])


def node_dir(node: str) -> str:
    """A node's directory: ``introducer``, ``storage``, ``client`` (a role's node name)."""
    return f"{tahoe_base_dir()}/{node}"
