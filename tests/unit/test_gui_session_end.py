"""Issue 21, item 2: the app's secrets end with its session (what is testable without GTK).

The GUI story on Bob's laptop (extensions/molecule/testinfra/tails/test_gui.py)
searches every process of his after Lock and after a kill; the app's node dying with a killed app is
tests/integration/test_app_node_on_tahoe.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import manifest_data
from testbed_memsearch import memsearch

from htb.cli import default_client
from htb.gui import app, core
from htb.gui.clipboard import CLEAR_AFTER_SECONDS, ClipboardGuard
from htb.gui.events import Failed, Failure, Locked
from htb.manifest import TEST_KDF, seal, validate
from htb.tahoe import TahoeClient
from htb.testing.memory import MemoryClient, MemoryGrid


# --- the app's node is tied to the app, the command's is not -----------------------------
def test_the_apps_node_is_ephemeral_and_the_commands_is_not(tmp_path: Path) -> None:
    config = core.Config(None, None, "tcp:127.0.0.1:9050", tmp_path / "node")
    client = core.tahoe_client(config)
    # Fails if the app builds its client as `htb start` does (ephemeral dropped).
    assert isinstance(client, TahoeClient) and client.ephemeral
    args = argparse.Namespace(node_directory=str(tmp_path / "cli"), web_port="tcp:0")
    command = default_client(args)
    assert isinstance(command, TahoeClient) and not command.ephemeral


# --- Lock replaces the process --------------------------------------------------------
# A stand-in for the app: it takes a secret on stdin (never in its arguments, which
# the relaunched process keeps), holds it, and relaunches as the app does at Lock.
STAND_IN = """
import os, sys
from htb.gui import app
if os.environ.get(app.LOCKED_ENV) == "locked":
    print("relaunched", os.getpid(), flush=True)
    sys.stdin.readline()
    sys.exit(0)
secret = sys.stdin.readline().strip()
held = [secret, secret.upper().lower()]  # copies, as a session makes them
print("holding", os.getpid(), flush=True)
sys.stdin.readline()
app.relaunch()
"""


@pytest.mark.parametrize("started_as", ["python -c", "a command"])
def test_relaunch_leaves_nothing_of_the_old_process_in_memory(
    started_as: str, tmp_path: Path
) -> None:
    secret = "cobweb paprika unsocial tripod glacier sponge ruckus " + os.urandom(8).hex()
    argv = [sys.executable, "-c", STAND_IN]
    if started_as == "a command":  # as `htb-gui` is: a script whose #! names Python
        command = tmp_path / "htb-gui"
        command.write_text(f"#!{sys.executable}\n{STAND_IN}")
        command.chmod(0o700)
        argv = [str(command)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(secret + "\n")
        proc.stdin.flush()
        word, pid = proc.stdout.readline().split()
        assert (word, int(pid)) == ("holding", proc.pid)
        needles = {"secret": [secret.encode()]}
        before, _read, _failed = memsearch.search_process(proc.pid, needles)
        assert before["secret"] >= 2  # control: the search finds what the process holds
        proc.stdin.write("\n")
        proc.stdin.flush()
        # The same process (same pid), a new image: fails if relaunch returns.
        assert proc.stdout.readline().split() == ["relaunched", str(proc.pid)]
        if started_as == "a command":  # it keeps its name in the process list
            assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "htb-gui"
        after, read, _failed = memsearch.search_process(proc.pid, needles)
        assert after == {} and read > 1_000_000
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_relaunched_app_keeps_its_mark_from_its_children(monkeypatch, capsys) -> None:
    # main() takes the mark out of its environment first: nothing it starts sees it.
    monkeypatch.setenv(app.LOCKED_ENV, "locked")
    monkeypatch.setitem(sys.modules, "gi", None)  # here: stops at "GTK is missing"
    for name in ("htb.gui.view", "htb.gui.widgets", "htb.gui.dialogs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert app.main([]) == 1
    assert app.LOCKED_ENV not in os.environ
    assert "GTK 3 for Python is missing" in capsys.readouterr().err


def test_the_relaunched_app_shows_the_failure_that_ended_the_session() -> None:
    failure = Failure("not enough storage servers connected to place shares safely", 6)
    assert app.relaunched("locked") == (True, None)
    assert app.relaunched(f"{failure.code} {failure.line}") == (True, failure)
    assert app.relaunched("") == (False, None)


# --- a failed unlock or join ends the session too ----------------------------------------
PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
OWN_PW = "cobweb paprika unsocial tripod glacier sponge ruckus"


def _core(tmp_path: Path, data: dict, grid: MemoryGrid) -> tuple[core.Core, list, MemoryClient]:
    installed = tmp_path / "Persistent" / ".htb" / "manifest.htbm"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(seal(validate(data), PW, kdf=TEST_KDF))
    client, events = MemoryClient(grid), []
    config = core.Config(installed, None, "tcp:127.0.0.1:9050", tmp_path / "node")
    the_core = core.Core(
        config, lambda f: f(), events.append, client_factory=lambda _c: client, kdf=TEST_KDF, wait=0
    )
    return the_core, events, client


def test_a_join_that_fails_once_the_invitation_opened_ends_the_session(tmp_path: Path) -> None:
    data = {**manifest_data(), "kind": "invitation", "aliases": {}}
    grid = MemoryGrid()
    grid.down = set(grid.server_names)  # no server: her backups cannot be created
    the_core, events, client = _core(tmp_path, data, grid)
    assert the_core.unlock(passphrase=PW, path=the_core.config.manifest_path)
    the_core.wait_idle()
    assert the_core.join(OWN_PW)
    the_core.wait_idle()
    kinds = [type(e) for e in events]
    # Fails without _end_if_opened: the opened invitation and both passphrases stay.
    assert Failed in kinds and kinds.index(Locked) > kinds.index(Failed), events
    assert [e.operation for e in events if isinstance(e, Failed)] == ["join"]
    assert the_core._passphrase is None and the_core._pending is None
    assert not client.running


def test_a_wrong_passphrase_opens_nothing_and_ends_nothing(tmp_path: Path) -> None:
    the_core, events, _client = _core(tmp_path, manifest_data(), MemoryGrid())
    assert the_core.unlock(passphrase="wrong " + PW, path=the_core.config.manifest_path)
    the_core.wait_idle()
    assert [e.failure.code for e in events if isinstance(e, Failed)] == [3]
    # She retypes it in the same window: no relaunch.
    assert not any(isinstance(e, Locked) for e in events)


# --- the clipboard ---------------------------------------------------------------------
class Board:
    """A clipboard: what it holds, and every write (GTK's stands in for it in the app)."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.writes: list[str] = []

    def read(self) -> str | None:
        return self.text

    def write(self, text: str) -> None:
        self.text = text
        self.writes.append(text)


class Timers:
    """GLib's timer: the callbacks scheduled, run when the test says the time has come."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, seconds: float, callback: Callable[[], None]) -> None:
        self.pending.append((seconds, callback))

    def fire(self) -> None:
        due, self.pending = self.pending, []
        for _seconds, callback in due:
            callback()


COPY = "-----BEGIN HTB SEALED MANIFEST-----\nAAAA\n-----END HTB SEALED MANIFEST-----\n"


def test_lock_and_quit_take_the_copy_off_the_clipboard() -> None:
    board, timers = Board(), Timers()
    guard = ClipboardGuard(board, timers)
    guard.put(COPY)
    assert board.text == COPY and guard.holds_ours
    assert guard.clear()
    # Replaced by an empty text, never released (GNOME would offer its own copy again).
    assert board.text == "" and board.writes[-1] == ""
    assert not guard.holds_ours and not guard.clear()


def test_after_a_minute_the_copy_goes() -> None:
    board, timers = Board(), Timers()
    ClipboardGuard(board, timers).put(COPY)
    assert [seconds for seconds, _ in timers.pending] == [CLEAR_AFTER_SECONDS] == [60]
    timers.fire()
    assert board.text == ""


def test_what_she_copied_since_is_never_cleared() -> None:
    board, timers = Board(), Timers()
    guard = ClipboardGuard(board, timers)
    guard.put(COPY)
    board.text = "a link she copied from the browser"  # another app's text now
    # Fails if the guard clears without comparing first.
    assert not guard.clear()
    timers.fire()
    assert board.text == "a link she copied from the browser"


def test_an_older_timer_leaves_a_newer_copy_its_full_minute() -> None:
    board, timers = Board(), Timers()
    guard = ClipboardGuard(board, timers)
    guard.put(COPY)
    first, timers.pending = timers.pending, []
    guard.put(COPY)  # copied again later: the same text, a new minute
    for _seconds, callback in first:
        callback()
    # Fails if a timer clears whatever is there when it fires.
    assert board.text == COPY
    timers.fire()
    assert board.text == ""


@pytest.mark.parametrize("secret_env", ["HTB_PASSPHRASE", "HTB_NEW_PASSPHRASE"])
def test_the_reaper_gets_no_passphrase(monkeypatch, tmp_path: Path, secret_env: str) -> None:
    # The reaper lives as long as the app's node: its environment is htb's children's.
    monkeypatch.setenv(secret_env, "lantern mosaic unpaved fidelity outsmart gurgle quarrel")
    client = TahoeClient(tmp_path / "node", tahoe=sys.executable, ephemeral=True)
    tie = client._tied()
    try:
        proc = Path(f"/proc/{tie.reaper.pid}")
        # Popen returns as the exec begins: its arguments are there a moment later.
        for _ in range(100):
            if (cmdline := (proc / "cmdline").read_bytes()).count(b"\0") > 2:
                break
            time.sleep(0.05)
        environ = (proc / "environ").read_bytes()
        assert b"lantern mosaic" not in environ + cmdline
        assert cmdline.split(b"\0")[1:4] == [b"-m", b"htb.reaper", str(tmp_path / "node").encode()]
    finally:
        client._untie()
    assert tie.reaper.returncode == 0  # nothing there to delete: fine
