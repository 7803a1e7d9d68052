"""playbooks/identity_restore.yml refuses bad input with one line, before any host is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from htb import identity
from htb.manifest.envelope import TEST_KDF

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
NODE = {"tor": {"tahoe-storage": {"hs_ed25519_secret_key": "c2VjcmV0IGtleQ=="}}, "tahoe": {}}


def restore(tmp_path: Path, **variables: Any) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(
        yaml.safe_dump({"all": {"children": {"storage": {"hosts": {"s1": local}}}}})
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    extra = {"grid_manager_passphrase": PW, **variables}
    return subprocess.run(
        [
            str(PLAYBOOK_BIN),
            "-i",
            str(inventory),
            "-e",
            yaml.safe_dump(extra, default_flow_style=True).strip(),
            str(REPO / "playbooks" / "identity_restore.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_without_names_nothing_is_opened(tmp_path: Path) -> None:
    run = restore(tmp_path, identity_archive_path=str(tmp_path / "missing"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipping" in run.stdout


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"identity_restore_hosts": ["s1"]}, "no identity archive at"),
        (
            {"identity_restore_hosts": ["s1"], "grid_manager_passphrase": PW + "x"},
            "wrong passphrase",
        ),
        ({"identity_restore_hosts": ["s9"]}, "not in the identity archive: s9 (it holds: s1)"),
        ({"identity_restore_hosts": "s1"}, "identity_restore_hosts must be a list"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    tmp_path: Path, variables: dict[str, Any], message: str
) -> None:
    archive = tmp_path / "identity.sealed"
    if message != "no identity archive at":
        archive.write_bytes(identity.seal_archive({"s1": NODE}, None, PW, TEST_KDF))
    before = archive.read_bytes() if archive.exists() else None
    run = restore(tmp_path, identity_archive_path=str(archive), **variables)
    assert run.returncode != 0
    assert message in run.stdout, run.stdout
    assert (archive.read_bytes() if archive.exists() else None) == before
    # The key is in the archive, never in the output.
    assert "c2VjcmV0IGtleQ" not in run.stdout + run.stderr
