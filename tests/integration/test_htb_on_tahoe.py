"""The htb command as a person runs it, against a real Tahoe grid on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
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


def _processes() -> list[tuple[bytes, bytes]]:
    """(arguments, environment) of every process this user can read, NUL-joined."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            out.append(((proc / "cmdline").read_bytes(), (proc / "environ").read_bytes()))
        except OSError:
            continue
    return out


def _backup_sampled(*args: str) -> tuple[int, str, list[tuple[bytes, bytes]]]:
    """Run `htb backup ARGS`, reading every process's arguments and environment while
    it runs (not after: a secret in `tahoe backup`'s arguments is gone once it exits).
    Returns htb's exit code, its stderr and `tahoe ... backup` each time it was seen."""
    env = {**os.environ, "HTB_PASSPHRASE": PW}
    proc = subprocess.Popen(
        [*HTB, "backup", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: list[tuple[bytes, bytes]] = []
    while proc.poll() is None:
        for cmdline, environ in _processes():
            argv = cmdline.split(b"\0")
            if b"backup" in argv and any(a.endswith(b"tahoe") for a in argv[:3]):
                seen.append((cmdline, environ))
            # No process at all (htb itself included) shows the passphrase as an argument.
            assert PW.encode() not in cmdline
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr.decode(errors="replace"), seen


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
        # Neither the passphrase nor a capability is in the arguments or environment
        # of `tahoe backup`, read while it runs. Control: it was seen running (the
        # sampling is real). Mutation: the rootcap passed as `tahoe backup`'s target
        # instead of its alias, or HTB_PASSPHRASE left in the child's environment,
        # fails here.
        rc, stderr, seen = _backup_sampled(*m, "--verbose")
        assert rc == 0, stderr
        assert "backing up" in stderr
        assert seen, "`tahoe backup` was never seen running"
        for cmdline, environ in seen:
            assert rootcap.encode() not in cmdline + environ
            assert PW.encode() not in cmdline + environ
        status = htb("status", *node_args)
        assert "connected: 3 of 3" in status.stdout
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
