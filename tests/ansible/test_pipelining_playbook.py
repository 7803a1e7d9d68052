"""playbooks/pipelining.yml (site.yml and manifests.yml import it first): a connection
that would write module arguments to a file is refused, with one line, before any
module runs; the repository's ansible.cfg pipelines every connection the project uses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from localplay import PLAYBOOK_BIN, REPO

pytestmark = pytest.mark.ansible

CONNECTIONS = {
    "operator": "ssh",  # inventories/production
    "testbed": "htb_nsenter",  # molecule and inventories/local
    "stock-nsenter": "community.docker.nsenter",  # has_pipelining = False
    "podman": "containers.podman.podman",  # has_pipelining = False
    "su": "ssh",  # with ansible_become_method su, which cannot pipeline
}


def run(tmp_path: Path, hosts: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "storage": {
                    "hosts": {
                        h: {"ansible_connection": CONNECTIONS[h]}
                        | ({"ansible_become_method": "ansible.builtin.su"} if h == "su" else {})
                        for h in hosts
                    }
                }
            }
        )
    )
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(inventory), str(REPO / "playbooks" / "pipelining.yml")],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        | env,
        check=False,
    )


def refused(out: subprocess.CompletedProcess[str]) -> list[str]:
    # Each refusal is one line (ansible prints it twice: the error, then the result).
    return sorted(
        {
            line.split(" connection to ")[1].split()[0]
            for line in out.stdout.splitlines()
            if " connection to " in line and "does not pipeline" in line
        }
    )


def test_the_repositorys_config_pipelines_ssh_local_and_the_test_bed(tmp_path: Path) -> None:
    """Fails if ansible.cfg loses `pipelining = True` (ssh and local default to off)."""
    out = run(tmp_path, ["operator", "testbed"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok: [localhost]" in out.stdout  # the controller's own modules: local


def test_connections_that_cannot_pipeline_are_refused(tmp_path: Path) -> None:
    out = run(tmp_path, list(CONNECTIONS))
    assert out.returncode != 0
    assert refused(out) == ["podman", "stock-nsenter", "su"], out.stdout
    assert "(become method su cannot)" in out.stdout


@pytest.mark.parametrize(
    "env", [{"ANSIBLE_PIPELINING": "False"}, {"ANSIBLE_KEEP_REMOTE_FILES": "1"}]
)
def test_pipelining_off_or_remote_files_kept_is_refused(tmp_path: Path, env) -> None:
    out = run(tmp_path, ["operator", "testbed"], **env)
    assert out.returncode != 0
    assert refused(out) == ["localhost", "operator", "testbed"], out.stdout
    if "ANSIBLE_KEEP_REMOTE_FILES" in env:
        assert "(ANSIBLE_KEEP_REMOTE_FILES is set)" in out.stdout
