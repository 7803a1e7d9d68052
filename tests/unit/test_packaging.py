"""The wheel (what the Tails wheelhouse installs) carries htb and not its test doubles."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_leaves_out_the_test_doubles(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("hidden_tahoe_backup-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "htb/cli.py" in names
    assert "htb/manifest/manifest-v1.schema.json" in names
    assert [n for n in names if n.startswith("htb/testing/")] == []
