"""Issue 21, item 2 on a real Tahoe grid (127.0.0.1): the app's node ends with the app.

An "owner" process starts a node as the desktop app does (``TahoeClient(...,
ephemeral=True)``) or as ``htb start`` does, then is killed with SIGKILL: no
chance to clean up. The app's node must be gone, with its directory (every secret
of the session); the one ``htb start`` runs must keep running (the control).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOTCAP, GridHarness
from testbed_memsearch import memsearch

from htb.ops import new_convergence_secret
from htb.tahoe import TahoeClient, _alive

pytestmark = [pytest.mark.tahoe, pytest.mark.slow]


# The owner: builds and starts the node from the manifest it reads on stdin, says
# which processes it started, then waits for "stop" (a clean stop) or its death.
OWNER = """
import json, sys
from pathlib import Path
from htb.manifest import validate
from htb.tahoe import TahoeClient
conf = json.loads(sys.stdin.readline())
client = TahoeClient(Path(conf["node"]), web_port="tcp:0:interface=127.0.0.1",
                     ephemeral=conf["ephemeral"])
client.configure(validate(conf["manifest"]), None)
client.start(120)
tie = client._tie
print(json.dumps({"tahoe": client._pid(), "reaper": tie.reaper.pid if tie else None}), flush=True)
if sys.stdin.readline().strip() == "stop":
    client.stop()
    print("stopped", flush=True)
    sys.stdin.readline()
"""


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 60.0) -> float:
    """Poll ``probe`` until true; the seconds it took."""
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


class Owner:
    """A process that owns a node, as the app (``ephemeral``) or `htb start` does."""

    def __init__(self, harness: GridHarness, node: Path, *, ephemeral: bool) -> None:
        self.node = node
        self.manifest: dict[str, Any] = {
            **json.loads(json.dumps(harness.grid_manifest)),
            "aliases": {"docs": ROOTCAP},
            "backups": [{"alias": "docs", "path": "laptop/docs", "local": str(node.parent)}],
            "convergence": new_convergence_secret(),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", OWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        conf = {"node": str(node), "ephemeral": ephemeral, "manifest": self.manifest}
        self.proc.stdin.write(json.dumps(conf) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"the owner exited ({self.proc.wait()}) before its node ran")
        started = json.loads(line)
        self.tahoe: int = started["tahoe"]
        self.reaper: int | None = started["reaper"]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def secrets(self) -> dict[str, list[bytes]]:
        cap = self.manifest["aliases"]["docs"]
        return {
            "rootcaps": [cap.encode(), memsearch.read_only_cap(cap).encode()],
            "convergence": [self.manifest["convergence"].encode()],
        }


@pytest.fixture
def owners(tahoe_grid: GridHarness, tmp_path: Path) -> Iterator[Callable[..., Owner]]:
    made: list[Owner] = []

    def make(*, ephemeral: bool) -> Owner:
        runtime = tmp_path / f"run-{len(made)}"
        runtime.mkdir(mode=0o700)
        made.append(Owner(tahoe_grid, runtime / "htb-node", ephemeral=ephemeral))
        return made[-1]

    yield make
    for owner in made:  # whatever a failed test left
        if owner.proc.poll() is None:
            owner.kill()
        for pid in (owner.tahoe, owner.reaper):
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_apps_node_and_its_directory_go_when_the_app_is_killed(owners) -> None:
    owner = owners(ephemeral=True)
    assert _alive(owner.tahoe) and owner.reaper is not None and _alive(owner.reaper)
    assert (owner.node / "private" / "aliases").exists()
    owner.kill()
    # Either ends it: fails only with both undone (`tahoe run --allow-stdin-close` and
    # no reaper); the next test holds the stdin pipe alone to it.
    took = wait_for("the app's tahoe gone", lambda: not _alive(owner.tahoe))
    # Fails if the reaper deletes nothing (htb.reaper.watch without nodedir.remove):
    # nothing else deletes the directory of a killed app.
    took = max(took, wait_for("its node directory gone", lambda: not owner.node.exists()))
    wait_for("the reaper gone", lambda: not _alive(owner.reaper))
    print(f"the app's node and directory gone {took:.1f} s after SIGKILL")


def test_without_its_reaper_the_apps_node_still_ends_with_the_app(owners) -> None:
    owner = owners(ephemeral=True)
    assert owner.reaper is not None
    os.kill(owner.reaper, signal.SIGKILL)  # the reaper killed first, then the app
    wait_for("the reaper gone", lambda: not _alive(owner.reaper))
    owner.kill()
    # Fails with `tahoe run --allow-stdin-close`: then only the reaper would end it.
    wait_for("tahoe gone on its stdin closing", lambda: not _alive(owner.tahoe))
    # The directory is the reaper's to delete; the next start deletes a stale one.
    assert owner.node.exists()


def test_control_a_node_htb_start_runs_outlives_the_command(owners) -> None:
    owner = owners(ephemeral=False)
    assert owner.reaper is None
    owner.kill()
    # Longer than the app's node takes to go (about a second): still up, answering.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert _alive(owner.tahoe)
        time.sleep(0.5)
    client = TahoeClient(owner.node, web_port="tcp:0:interface=127.0.0.1")
    assert client.status().running
    client.stop()  # `htb stop`: then nothing of it remains
    assert not _alive(owner.tahoe) and not owner.node.exists()


def test_the_reaper_holds_no_secret_and_a_clean_stop_leaves_nothing(owners) -> None:
    owner = owners(ephemeral=True)
    assert owner.reaper is not None
    secrets = owner.secrets()
    reaper_hits, read, _failed = memsearch.search_process(owner.reaper, secrets)
    # Control: the same search finds both in the owner, which holds the manifest.
    owner_hits, _read, _failed = memsearch.search_process(owner.proc.pid, secrets)
    assert set(owner_hits) == {"rootcaps", "convergence"}, owner_hits
    # Fails if the reaper is given the manifest (or the node's secrets) in any form.
    assert reaper_hits == {} and read > 1_000_000
    assert owner.proc.stdin is not None and owner.proc.stdout is not None
    owner.proc.stdin.write("stop\n")
    owner.proc.stdin.flush()
    assert owner.proc.stdout.readline().strip() == "stopped"
    # A clean stop (Lock, Quit) waits for the reaper: when it returns all is gone.
    assert not _alive(owner.tahoe) and not _alive(owner.reaper) and not owner.node.exists()
    # Reaped too, no zombie left to the relaunched app (fails without _untie's poll).
    assert not Path(f"/proc/{owner.tahoe}").exists()
