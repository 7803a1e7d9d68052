"""Issue 21, item 2: the app's secrets end with its session (what is testable without GTK).

The GUI story on Bob's laptop (molecule/client: test_gui.py) searches every process
of his after Lock and after a kill; the app's node dying with a killed app is
tests/integration/test_app_node_on_tahoe.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from htb.cli import default_client
from htb.gui import app, core
from htb.gui.clipboard import CLEAR_AFTER_SECONDS, ClipboardGuard
from htb.tahoe import TahoeClient

_spec = importlib.util.spec_from_file_location(
    "memsearch", Path(__file__).parents[2] / "testbed" / "gui" / "memsearch.py"
)
assert _spec is not None and _spec.loader is not None
memsearch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memsearch)


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
if os.environ.get(app.LOCKED_ENV) == "1":
    print("relaunched", os.getpid(), flush=True)
    sys.stdin.readline()
    sys.exit(0)
secret = sys.stdin.readline().strip()
held = [secret, secret.upper().lower()]  # copies, as a session makes them
print("holding", os.getpid(), flush=True)
sys.stdin.readline()
app.relaunch()
"""


def test_relaunch_leaves_nothing_of_the_old_process_in_memory() -> None:
    secret = "cobweb paprika unsocial tripod glacier sponge ruckus " + os.urandom(8).hex()
    proc = subprocess.Popen(
        [sys.executable, "-c", STAND_IN],
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
    monkeypatch.setenv(app.LOCKED_ENV, "1")
    monkeypatch.setitem(sys.modules, "gi", None)  # here: stops at "GTK is missing"
    for name in ("htb.gui.view", "htb.gui.widgets", "htb.gui.dialogs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert app.main([]) == 1
    assert app.LOCKED_ENV not in os.environ
    assert "GTK 3 for Python is missing" in capsys.readouterr().err


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
