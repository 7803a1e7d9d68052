"""What the benches of htb on a 127.0.0.1 grid share (bench/ram_node.py,
bench/incremental.py): the old htb from a git revision, one laptop's environment, a
timed `htb` run, and a main that runs a bench on a fresh devgrid and removes it.

Imported by those scripts (run as `.venv/bin/python bench/NAME.py`: this folder is on
the path); it puts the repository's src/ first and the test bed's tahoe in HTB_TAHOE.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HTB_TAHOE", str(REPO / ".venv-tahoe/bin/tahoe"))

from htb.testing.devgrid import DevGrid  # noqa: E402

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
WEB = ["--web-port", "tcp:0:interface=127.0.0.1"]


def old_htb(rev: str, dest: Path) -> Path:
    """``src/`` of git revision ``rev``, unpacked into ``dest`` (the repository is not touched)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src/htb"], capture_output=True, check=True
    ).stdout
    tar = dest / "old.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    return dest / "src"


def laptop_env(src: Path, home: Path, runtime: Path) -> dict[str, str]:
    """A laptop's environment for the htb in ``src``: nothing of this process's HTB_/XDG_."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTB_", "XDG_"))}
    return env | {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "HTB_PASSPHRASE": PW,
        "HTB_TAHOE": os.environ["HTB_TAHOE"],
        "PYTHONPATH": str(src),
    }


def timed_htb(
    args: tuple[str, ...],
    env: dict[str, str],
    *,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
) -> float:
    """Seconds of ``python BEFORE -m htb ARGS AFTER``; a failure stops the bench with its
    stderr (BEFORE: e.g. cProfile's options; AFTER: e.g. ``-d NODE``)."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *before, "-m", "htb", *args, *after],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"htb {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return took


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def main_on_devgrid(
    doc: str,
    run: Callable[[argparse.Namespace, Path, DevGrid], None],
    *,
    rounds: int,
    old_rev: str,
    old_rev_help: str,
    prefix: str,
) -> None:
    """Parse the benches' options, run ``run`` on a fresh 4-storage-node devgrid, remove it."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--large-mib", type=int, default=4)
    parser.add_argument("--old-rev", default=old_rev, help=old_rev_help)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o700)
    grid = DevGrid(base / "grid", storage_nodes=4)
    grid.start()
    try:
        run(args, base, grid)
    finally:
        grid.destroy()
