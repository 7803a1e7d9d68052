"""One pin of tahoe-lafs: the tahoe_node role's default, read by every installer.

The role installs it on the servers; scripts/bootstrap into .venv-tahoe (the tests'
tahoe, and the servers' wheelhouse); scripts/build-tails-wheelhouse into the bundles.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ("scripts/bootstrap", "scripts/build-tails-wheelhouse")


def _pin() -> str:
    defaults = yaml.safe_load((ROOT / "roles/tahoe_node/defaults/main.yml").read_text())
    version = defaults["tahoe_node_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    return str(version)


def test_every_installer_reads_the_roles_pin() -> None:
    # Each script's own line, run as the script runs it (from the repository's root).
    # Mutation: TAHOE_VERSION=1.19.0 written back into one script fails here.
    for script in INSTALLERS:
        lines = [
            line
            for line in (ROOT / script).read_text().splitlines()
            if line.startswith(("TAHOE_VERSION=", "[[ -n $TAHOE_VERSION ]]"))
        ]
        assert len(lines) == 2, (script, lines)
        out = subprocess.run(
            ["bash", "-c", "set -eu\n" + "\n".join(lines) + '\necho "$TAHOE_VERSION"'],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == _pin(), script


def test_no_other_file_pins_tahoe_lafs() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    pinned = re.compile(r"tahoe-lafs(\[tor\])?\s*==\s*\d|tahoe_node_version:\s*\"?\d")
    found = sorted(
        name
        for name in tracked
        if name.endswith((".yml", ".yaml", ".py", ".toml", ".txt", ".cfg", ".sh"))
        or name.startswith("scripts/")
        if (ROOT / name).is_file() and pinned.search((ROOT / name).read_text(errors="replace"))
    )
    assert found == ["roles/tahoe_node/defaults/main.yml"], found
