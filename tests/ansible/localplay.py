"""Run tasks through ansible-playbook itself on localhost, this repository's modules first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")


def play(
    tmp_path: Path,
    *tasks: dict[str, Any],
    args: tuple[str, ...] = (),
    interpreter: str = sys.executable,
    callback: str = "json",
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    book = tmp_path / "play.yml"
    book.write_text(
        yaml.safe_dump(
            [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}],
            sort_keys=False,
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LIBRARY": str(REPO / "library"),
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp"),
        **(extra_env or {}),
    }
    env.pop("HTB_PASSPHRASE", None)
    return subprocess.run(
        [
            str(PLAYBOOK_BIN),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={interpreter}",
            *args,
            str(book),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def results(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """Each task's result on localhost, from the json callback."""
    out = json.loads(run.stdout)
    return [t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]]
