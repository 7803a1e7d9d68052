"""Shared fixtures: manifests, and the two grids every contract test runs against.

``memory``: :class:`htb.testing.memory.MemoryGrid`. ``tahoe``: a real tahoe-lafs grid
(introducer + 3 storage nodes) on 127.0.0.1, from ``.venv-tahoe``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# In CI (HTB_FAIL_ON_SKIP set by scripts/test) a skipped test fails the run.
from ci_skips import (  # noqa: F401
    pytest_collectreport,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

from htb import gridmanager
from htb.client import Client
from htb.manifest import Manifest, validate
from htb.ops import wait_for_servers
from htb.tahoe import TahoeClient
from htb.testing.devgrid import DevGrid
from htb.testing.memory import MemoryClient, MemoryGrid

REPO = Path(__file__).resolve().parent.parent
_LOCAL_TAHOE = REPO / ".venv-tahoe" / "bin" / "tahoe"
if "HTB_TAHOE" not in os.environ and _LOCAL_TAHOE.exists():
    os.environ["HTB_TAHOE"] = str(_LOCAL_TAHOE)

ROOTCAP = "URI:DIR2:" + "a" * 26 + ":" + "b" * 52
ONION_FURL = "pb://" + "a" * 32 + "@tor:" + "c" * 56 + ".onion:3457/" + "d" * 32
SHARES = {"needed": 2, "happy": 3, "total": 3}


def manifest_data(**overrides: Any) -> dict[str, Any]:
    """A valid onion-grid manifest; keyword arguments replace top-level fields."""
    data: dict[str, Any] = {
        "version": 1,
        "name": "alice",
        "grid": {"introducers": {"default": {"furl": ONION_FURL}}, "shares": dict(SHARES)},
        "aliases": {"docs": ROOTCAP},
        "backups": [{"alias": "docs", "path": "laptop/docs", "local": "/home/amnesia/Persistent"}],
    }
    data.update(overrides)
    return data


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """htb's main sets umask 077 for its process: give the next test its own back."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def manifest() -> Manifest:
    return validate(manifest_data())


@dataclass
class GridHarness:
    """One grid, and how to get clients on it, the same way for both implementations."""

    kind: str
    grid_manifest: dict[str, Any]
    new_client: Any  # (node_dir: Path) -> Client, configured for grid_manifest, not started
    take_down: Any  # (name: str) -> None
    bring_up: Any  # (name: str) -> None
    drop_shares: Any  # (name: str) -> None: that server loses every share, stays up
    servers: list[str] = field(default_factory=list)
    # (names, a Grid Manager's private key) -> the manifest's "grid" naming that Grid
    # Manager, with those servers (and no other) certified by it.
    certify: Any = None
    # () -> {"<node> <file>": FURL} of every FURL the grid's own nodes hold (introducer,
    # storage, log ports): their swissnums are secrets a search must cover.
    furls: Any = None

    def manifest(self, aliases: dict[str, str], backups: list[dict[str, Any]]) -> Manifest:
        return validate({**self.grid_manifest, "aliases": aliases, "backups": backups})

    def started_client(self, node_dir: Path, m: Manifest | None = None) -> Client:
        client: Client = self.new_client(node_dir)
        client.configure(m or self.manifest({}, []), None)
        client.start(60)
        wait_for_servers(client, len(self.servers), 60)
        return client


def memory_harness() -> GridHarness:
    grid = MemoryGrid()
    grid_part = {
        "introducers": {"default": {"furl": "pb://aaaa@tcp:127.0.0.1:1/intro"}},
        "shares": dict(SHARES),
    }

    def certify(names: list[str], key: str) -> dict[str, Any]:
        public = gridmanager.public_key(key)
        grid.certificates.update({name: frozenset({public}) for name in names})
        return {**grid_part, "grid_managers": {"operator": public}}

    return GridHarness(
        kind="memory",
        grid_manifest={"version": 1, "grid": grid_part},
        new_client=lambda _node_dir: MemoryClient(grid),
        take_down=grid.stop_server,
        bring_up=grid.start_server,
        drop_shares=grid.drop_shares,
        servers=list(grid.server_names),
        certify=certify,
    )


def _tahoe_harness(base: Path) -> tuple[GridHarness, DevGrid]:
    grid = DevGrid(base, storage_nodes=3)
    grid.start()

    def certify(names: list[str], key: str) -> dict[str, Any]:
        """Static announcements (the node trusts the manifest's) carrying the certificates."""
        expires = datetime.now(UTC) + timedelta(days=1)
        servers = grid.servers()
        for server_id, server in servers.items():
            if server["ann"]["nickname"] in names:
                certificate = gridmanager.sign(key, "pub-" + server_id, expires)
                server["ann"]["grid-manager-certificates"] = [certificate]
        return {
            "introducers": {"default": {"furl": grid.furl}},
            "servers": servers,
            "grid_managers": {"operator": gridmanager.public_key(key)},
            "shares": dict(SHARES),
        }

    harness = GridHarness(
        kind="tahoe",
        grid_manifest={
            "version": 1,
            "grid": {"introducers": {"default": {"furl": grid.furl}}, "shares": dict(SHARES)},
        },
        new_client=lambda node_dir: TahoeClient(node_dir, web_port="tcp:0:interface=127.0.0.1"),
        take_down=grid.stop_node,
        bring_up=grid.start_node,
        drop_shares=grid.drop_shares,
        servers=grid.storage_names,
        certify=certify,
        furls=lambda: {
            f"{f.parent.parent.name} {f.name}": f.read_text().strip()
            for f in sorted(grid.base.glob("*/private/*.furl"))
        },
    )
    return harness, grid


@pytest.fixture(scope="session")
def tahoe_grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridHarness]:
    """A real grid shared by the session's tests (they must leave every server up)."""
    base = tmp_path_factory.mktemp("devgrid")
    harness, grid = _tahoe_harness(base)
    yield harness
    grid.destroy()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["memory", "tahoe"])
def harness(request: pytest.FixtureRequest) -> GridHarness:
    if request.param == "memory":
        return memory_harness()
    request.applymarker(pytest.mark.tahoe)
    tahoe: GridHarness = request.getfixturevalue("tahoe_grid")
    return tahoe


@pytest.fixture(params=["memory", "tahoe"])
def private_harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GridHarness]:
    """A grid of the test's own, for tests that stop storage servers."""
    if request.param == "memory":
        yield memory_harness()
        return
    harness, grid = _tahoe_harness(tmp_path_factory.mktemp("devgrid-private"))
    yield harness
    grid.destroy()


def make_tree(root: Path) -> dict[str, bytes]:
    """A small tree with nesting, binary content, an empty file and a unicode name."""
    files = {
        "a.txt": b"hello\n",
        "empty": b"",
        "sub/b.bin": bytes(range(256)) * 40,
        "sub/deeper/c.txt": "ñandú ✓\n".encode(),
        "документы/заметка.txt": b"unicode names survive\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
