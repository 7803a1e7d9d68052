"""The htb command as a person runs it, against a real Tahoe grid on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GridHarness, make_tree, read_tree

from htb.manifest import open_sealed

pytestmark = [pytest.mark.tahoe, pytest.mark.slow]

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
HTB = [sys.executable, "-m", "htb"]
CHEAP_KDF = ["--kdf-opslimit", "1", "--kdf-memlimit", "1"]


def htb(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HTB_PASSPHRASE": PW}
    proc = subprocess.run([*HTB, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"htb {args[0]} exited {proc.returncode}: {proc.stderr}")
    return proc


def _cmdlines() -> str:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            out.append(
                (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
    return "\n".join(out)


def test_backup_lose_everything_restore_byte_identical(
    tahoe_grid: GridHarness, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    files = make_tree(home / "documents")
    template = {
        **tahoe_grid.grid_manifest,
        "aliases": {},
        "backups": [{"alias": "e2e", "path": "laptop/documents", "local": str(home / "documents")}],
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    sealed = tmp_path / "friend-copy.htb"
    node = tmp_path / "node"
    node_args = ["-d", str(node), "--web-port", "tcp:0:interface=127.0.0.1"]
    htb(
        "new-manifest",
        str(tmp_path / "template.json"),
        "-o",
        str(sealed),
        "--armor",
        *CHEAP_KDF,
        *node_args,
        "--unsafe-no-tor",
    )
    rootcap = open_sealed(sealed.read_bytes(), PW).manifest.aliases["e2e"]
    m = ["-m", str(sealed), *node_args]
    try:
        backup = htb("backup", *m, "--verbose")
        assert "backing up" in backup.stderr
        status = htb("status", *node_args)
        assert "connected: 3 of 3" in status.stdout
        # Neither the passphrase nor a capability is in any process's arguments.
        cmdlines = _cmdlines()
        assert rootcap not in cmdlines
        assert PW not in cmdlines
        assert (node / "private" / "aliases").stat().st_mode & 0o777 == 0o600
    finally:
        htb("stop", *node_args)

    # `htb stop` deleted the node directory: no rootcap, key or backupdb is left.
    assert not node.exists()
    # The laptop is seized: data and plaintext are gone; the friend's copy comes back.
    shutil.rmtree(home)
    htb("start", *m, "--unsafe-no-tor")
    try:
        restore = htb("restore", *m)
        assert "verified" in restore.stderr
        assert read_tree(home / "documents") == files

        # A second restore refuses to overwrite what is now there.
        again = htb("restore", *m, check=False)
        assert again.returncode == 7
        assert "not empty" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        htb("stop", *node_args)
    assert htb("status", *node_args, check=False).returncode == 1


def test_unreachable_grid_is_a_clear_error(tmp_path: Path) -> None:
    """A node whose grid does not answer: one line, non-zero, nothing written."""
    template = {
        "version": 1,
        "grid": {
            "introducers": {"default": {"furl": "pb://aaaa@tcp:127.0.0.1:9/introducer"}},
            "shares": {"needed": 1, "happy": 1, "total": 1},
        },
        "aliases": {},
        "backups": [{"alias": "x", "path": "p", "local": str(tmp_path / "data")}],
    }
    (tmp_path / "t.json").write_text(json.dumps(template))
    node_args = ["-d", str(tmp_path / "node"), "--web-port", "tcp:0:interface=127.0.0.1"]
    try:
        proc = htb(
            "new-manifest",
            str(tmp_path / "t.json"),
            "-o",
            str(tmp_path / "out.htb"),
            *CHEAP_KDF,
            *node_args,
            "--unsafe-no-tor",
            "--timeout",
            "3",
            check=False,
        )
    finally:
        htb("stop", *node_args)
    assert proc.returncode == 6
    assert "0 of 1 needed storage servers connected" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.htb").exists()
