"""The htb_private_file module, run through ansible-playbook itself on localhost."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from localplay import REPO, play, results

pytestmark = pytest.mark.ansible

ME = pwd.getpwuid(os.getuid()).pw_name
CAPTURE_WRITES = REPO / "testbed" / "files" / "capture_writes.py"


def task(path: Path, content: str, **params: Any) -> dict[str, Any]:
    body = {"path": str(path), "content": content, "owner": ME, **params}
    return {"htb_private_file": body}


def ok(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.stdout + run.stderr
    return results(run)


def test_writes_then_nothing_then_fixes_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "introducers.yaml"
    content = "introducers:\n  x:\n    furl: pb://swissnum-one@tor:x.onion:1/s\n"
    (checked,) = ok(play(tmp_path, task(target, content), args=("--check",)))
    assert checked["changed"] is True and not target.exists()
    (first,) = ok(play(tmp_path, task(target, content)))
    assert first["changed"] is True
    assert target.read_text() == content
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".intro")) == []
    (again,) = ok(play(tmp_path, task(target, content)))
    assert again["changed"] is False
    target.chmod(0o644)
    inode = target.stat().st_ino
    (fixed,) = ok(play(tmp_path, task(target, content)))
    assert fixed["changed"] is True
    assert (target.stat().st_mode & 0o777, target.stat().st_ino) == (0o600, inode)
    (other,) = ok(play(tmp_path, task(target, "other\n", mode="0640")))
    assert other["changed"] is True
    assert (target.read_text(), target.stat().st_mode & 0o777) == ("other\n", 0o640)
    # Check mode on a new node: its directory does not exist yet.
    (new,) = ok(play(tmp_path, task(tmp_path / "no" / "f", content), args=("--check",)))
    assert new["changed"] is True


def test_refusals_are_one_line_without_the_content(tmp_path: Path) -> None:
    secret = "swissnum-" + secrets.token_hex(16)
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    cases = {
        "link": (task(tmp_path / "link", secret), "is a symlink: refused"),
        "nodir": (task(tmp_path / "no" / "f", secret), "the directory must exist"),
        "mode": (task(tmp_path / "f", secret, mode="644"), "is not an octal mode"),
        "owner": (task(tmp_path / "f", secret, owner="no-such-user-htb"), "no user"),
    }
    for name, (body, message) in cases.items():
        run = play(tmp_path, body | {"ignore_errors": True}, args=("-vvv",), callback="default")
        assert message in run.stdout, (name, run.stdout)
        assert secret not in run.stdout + run.stderr, name
    assert (tmp_path / "real").read_text() == "x"
    assert not (tmp_path / "f").exists()


def found_in(directory: Path, needle: bytes) -> list[str]:
    hits = []
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(path.name)
    return hits


def test_its_content_is_written_nowhere_else_with_pipelining(tmp_path: Path) -> None:
    """Everything written under the controller's local temporary directory and
    remote_tmp while the module runs (kept by capture_writes.py as it is written) holds
    no byte of the content. Controls, with the same capture and search: copy's content
    is found there (copy writes it to a temporary file first), and so is the module's
    with ANSIBLE_PIPELINING=False (the AnsiballZ file carries its arguments) - the
    mutation of ansible.cfg's pipelining this test catches."""
    local_tmp, remote_tmp, capture = (tmp_path / n for n in ("local-tmp", "remote-tmp", "kept"))
    watcher = subprocess.Popen(
        [sys.executable, str(CAPTURE_WRITES), str(capture), str(local_tmp), str(remote_tmp)]
    )
    try:
        for _ in range(100):
            if (capture / "ready").exists():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("capture_writes.py did not start")
        env = {"ANSIBLE_LOCAL_TEMP": str(local_tmp)}
        args = ("-e", f"ansible_remote_tmp={remote_tmp}")
        piped, copied, unpiped = ("swissnum-" + secrets.token_hex(16) for _ in range(3))
        ok(play(tmp_path, task(tmp_path / "a", piped), args=args, extra_env=env))
        copy = {"ansible.builtin.copy": {"content": copied, "dest": str(tmp_path / "b")}}
        ok(play(tmp_path, copy, args=args, extra_env=env))
        off = env | {"ANSIBLE_PIPELINING": "False"}
        ok(play(tmp_path, task(tmp_path / "c", unpiped), args=args, extra_env=off))
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    assert "overflow" not in (capture / "index.jsonl").read_text()
    assert (tmp_path / "a").read_text() == piped
    assert found_in(capture, piped.encode()) == []
    assert found_in(local_tmp, piped.encode()) + found_in(remote_tmp, piped.encode()) == []
    assert found_in(capture, copied.encode()) != []
    assert any("AnsiballZ" in name for name in found_in(capture, unpiped.encode()))
