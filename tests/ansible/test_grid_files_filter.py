"""The filter htb.grid.grid_files, through ansible-playbook itself: the role's grid
files are htb's bytes (htb.nodeconfig.grid_files) for the same grid."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from localplay import REPO, play, results

from htb.nodeconfig import grid_files

pytestmark = pytest.mark.ansible
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")

SWISSNUM = "s" * 32  # a FURL's secret part: in no output
FURL = "pb://" + "a" * 32 + "@tor:" + "c" * 56 + ".onion:3457/" + SWISSNUM
ANN = {
    "anonymous-storage-FURL": FURL.replace("c" * 56, "d" * 56),
    "nickname": "storage-\U0001f600 caf\u00e9 \u2028",
    "grid-manager-certificates": [{"certificate": "{}", "signature": "a" * 103}],
}
GRID = {
    "introducers": {"introducer-cccccccc": {"furl": FURL}},
    "servers": {"v0-dddd": {"ann": ANN}},
    "grid_managers": {"operator": "pub-v0-" + "a" * 52},
}


def role_grid_files(tmp_path: Path, grid: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """tahoe_node's own tahoe_node_grid_files (its vars/main.yml) for the fact ``grid``."""
    return play(
        tmp_path,
        {"ansible.builtin.set_fact": {"tahoe_node_grid": grid}, "no_log": True},
        {"ansible.builtin.include_vars": str(REPO / "roles/tahoe_node/vars/main.yml")},
        {
            "ansible.builtin.copy": {
                "content": "{{ tahoe_node_grid_files | to_json }}",
                "dest": str(tmp_path / "files.json"),
                "mode": "0600",
            },
            "no_log": True,
        },
    )


def test_the_roles_grid_files_are_htbs_bytes(tmp_path: Path) -> None:
    # Mutation (run): tahoe_node's vars back to to_nice_yaml fails here.
    run = role_grid_files(tmp_path, GRID)
    assert run.returncode == 0, run.stdout + run.stderr
    written = json.loads((tmp_path / "files.json").read_text())
    assert written == grid_files({"introducer-cccccccc": FURL}, {"v0-dddd": {"ann": ANN}})
    assert yaml.safe_load(written["servers.yaml"]) == {"storage": GRID["servers"]}
    assert SWISSNUM not in run.stdout + run.stderr


def test_an_empty_part_is_null(tmp_path: Path) -> None:
    run = role_grid_files(tmp_path, {"introducers": GRID["introducers"], "servers": {}})
    assert run.returncode == 0, run.stdout + run.stderr
    written = json.loads((tmp_path / "files.json").read_text())
    assert written["servers.yaml"] is None
    assert yaml.safe_load(written["introducers.yaml"]) == {"introducers": GRID["introducers"]}


def test_a_malformed_grid_is_one_line_without_the_furl(tmp_path: Path) -> None:
    # An introducer given as its bare FURL, not {furl: FURL}.
    run = play(
        tmp_path,
        {
            "ansible.builtin.debug": {
                "msg": "{{ {'introducers': {'introducer-x': furl}} | htb.grid.grid_files }}"
            },
            "vars": {"furl": FURL},
        },
    )
    assert run.returncode != 0
    (failed,) = results(run)
    assert "introducer introducer-x is not {furl: FURL}" in failed["msg"]
    assert SWISSNUM not in run.stdout + run.stderr


def test_ansible_doc_shows_the_filter() -> None:
    doc = subprocess.run(
        [ANSIBLE_DOC, "-t", "filter", "--json", "htb.grid.grid_files"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
    )
    entry = json.loads(doc.stdout)["htb.grid.grid_files"]
    assert entry["doc"]["options"]["_input"]["type"] == "dict"
    assert entry["return"]["_value"]["type"] == "dict"


def test_without_htb_the_filter_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.errors import AnsibleFilterError

    path = REPO / "plugins" / "filter" / "grid_files.py"
    spec = importlib.util.spec_from_file_location("grid_files", path)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)  # loads where htb is missing: it imports htb when used
    monkeypatch.setitem(sys.modules, "htb.nodeconfig", None)  # import htb.nodeconfig fails
    install = r"pip install 'hidden-tahoe-backup\[controller\]'"
    with pytest.raises(AnsibleFilterError, match=install):
        plugin.grid_files(GRID)
