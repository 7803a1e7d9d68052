"""A node of its own, joined with a leaked introducer FURL, is not counted as ready.

On a real 127.0.0.1 grid (tahoe-lafs 1.20): two storage nodes announce a certificate
of the operator's Grid Manager through the introducer, a third (the rogue: same
introducer FURL, no certificate) does not. The client's welcome page calls all three
"connected"; htb counts two for backups (from the announcements the node keeps,
checked with htb.gridmanager), and the backup's files land on the certified two only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_tree

from htb import gridmanager
from htb.client import Client
from htb.errors import NotEnoughServersError
from htb.manifest import BackupEntry, validate
from htb.ops import wait_for_servers
from htb.tahoe import TahoeClient
from htb.testing.devgrid import DevGrid

pytestmark = [pytest.mark.tahoe, pytest.mark.slow]

CERTIFIED = ("storage1", "storage2")
ROGUE = "storage3"


def _client(base: Path, grid: DevGrid, key: str, happy: int) -> Client:
    data = {
        "version": 1,
        "grid": {
            "introducers": {"default": {"furl": grid.furl}},
            "grid_managers": {"operator": gridmanager.public_key(key)},
            "shares": {"needed": 1, "happy": happy, "total": 3},
        },
        "aliases": {},
        "backups": [],
    }
    client = TahoeClient(base, web_port="tcp:0:interface=127.0.0.1")
    client.configure(validate(data), None)
    client.start(60)
    return client


def _storage_indexes(client: TahoeClient, cap: str) -> set[str]:
    """The storage index of the immutable directory ``cap`` and of every immutable
    file and directory under it (a literal cap, a small file, has none)."""
    with client._api(f"uri/{cap}?t=check&output=JSON", data=b"") as resp:
        found = {json.load(resp)["storage-index"]}
    for child in client.children(cap).values():
        if child.cap and child.cap.startswith("URI:DIR2-CHK:"):
            found |= _storage_indexes(client, child.cap)
        elif child.cap and child.cap.startswith("URI:CHK:"):
            with client._api(f"uri/{child.cap}?t=check&output=JSON", data=b"") as resp:
                found.add(json.load(resp)["storage-index"])
    return found


def _holds(grid: DevGrid, name: str, storage_index: str) -> bool:
    return (grid.base / name / "storage" / "shares" / storage_index[:2] / storage_index).is_dir()


def test_a_rogue_node_with_the_introducer_furl_is_not_counted(tmp_path: Path) -> None:
    grid = DevGrid(tmp_path / "grid", storage_nodes=3)
    grid.start()
    key = gridmanager.new_private_key()
    for name in CERTIFIED:
        grid.certify(name, key, datetime.now(UTC) + timedelta(days=1))
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    try:
        client = _client(home / "node", grid, key, happy=3)
        try:
            status = wait_for_servers(client, 3, 60)
            # Mutations: TahoeClient.status calling every server certified (as it did)
            # counts the rogue; htb.certified not reading the node's introducer cache
            # counts neither certified one.
            assert {s.nickname: (s.connected, s.certified) for s in status.servers} == {
                "storage1": (True, True),
                "storage2": (True, True),
                ROGUE: (True, False),
            }
            assert status.can_download and not status.can_upload
            with pytest.raises(NotEnoughServersError, match="2 of 3 needed certified"):
                wait_for_servers(client, 3, 2, upload=True)
        finally:
            client.stop()

        # With shares.happy 2, the certified two take the backup; the rogue none of it.
        client = _client(home / "node", grid, key, happy=2)
        try:
            assert wait_for_servers(client, 2, 60, upload=True).certified == 2
            client.create_alias("docs")
            make_tree(tmp_path / "src")
            entry = BackupEntry("docs", "laptop", str(tmp_path / "src"), ())
            client.backup(entry)
            assert isinstance(client, TahoeClient)
            indexes = _storage_indexes(client, client.snapshot(entry, None).cap)
        finally:
            client.stop()
        assert len(indexes) >= 5  # 4 directories and a file bigger than a literal cap
        placed: dict[str, Any] = {
            n: [_holds(grid, n, si) for si in indexes] for n in grid.storage_names
        }
        assert not any(placed[ROGUE]), placed
        # Nor of the mutable directories (the alias's root, Archives): no share at all.
        assert not list((grid.base / ROGUE / "storage").glob("shares/??/*"))
        assert list((grid.base / CERTIFIED[0] / "storage").glob("shares/??/*"))
        assert all(any(held) for held in zip(*(placed[n] for n in CERTIFIED), strict=True))
    finally:
        grid.destroy()
