"""Which connected servers take backups when the manifest names Grid Managers (htb.certified).

The node's own files are read as Tahoe 1.20 writes them (tahoe.cfg's [grid_managers],
the static servers.yaml htb writes, the introducer cache Tahoe writes with
yaml.safe_dump); tests/integration/test_certified_on_tahoe.py reads a real node's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import manifest_data

from htb import certified, cli, gridmanager
from htb.client import ServerInfo, Status
from htb.gui.core import status_text
from htb.manifest import validate
from htb.nodeconfig import grid_files
from htb.testing.memory import MemoryClient, MemoryGrid

NOW = datetime(2026, 12, 1, tzinfo=UTC)
KEY = gridmanager.new_private_key()
PUBLIC = gridmanager.public_key(KEY)
OTHER_KEY = gridmanager.new_private_key()


# Server ids as Tahoe makes them: v0- and the node's public key (pub-v0-...).
_IDS = [gridmanager.public_key(gridmanager.new_private_key())[4:] for _ in range(4)]


def cert(sid: str, key: str = KEY, days: int = 30) -> dict[str, str]:
    return gridmanager.sign(key, "pub-" + sid, NOW + timedelta(days=days))


def ann(*certificates: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"anonymous-storage-FURL": "pb://x@tor:y.onion:1/z"}
    if certificates:
        found["grid-manager-certificates"] = list(certificates)
    return found


@pytest.mark.parametrize(
    ("certificates", "expected"),
    [
        ([cert(_IDS[0])], True),
        ([cert(_IDS[0], days=-1)], False),  # expired
        ([cert(_IDS[1])], False),  # another node's
        ([cert(_IDS[0], key=OTHER_KEY)], False),  # a Grid Manager the manifest does not name
        ([{**cert(_IDS[0]), "signature": cert(_IDS[1])["signature"]}], False),  # altered
        ([cert(_IDS[0], key=OTHER_KEY), cert(_IDS[0])], True),  # any one valid is enough
        (["not a certificate", None, 7], False),
        ([], False),
    ],
)
def test_is_certified_as_tahoe_judges(certificates: list[Any], expected: bool) -> None:
    assert certified.is_certified(_IDS[0], ann(*certificates), [PUBLIC], NOW) is expected


def test_no_certificates_field_or_no_announcement() -> None:
    assert not certified.is_certified(_IDS[0], ann(), [PUBLIC], NOW)
    assert not certified.is_certified(_IDS[0], None, [PUBLIC], NOW)
    assert not certified.is_certified(_IDS[0], {"grid-manager-certificates": "x"}, [PUBLIC], NOW)


def node(
    tmp_path: Path, managers: dict[str, str], static: dict[str, Any], cache: list[Any]
) -> Path:
    """A node directory holding what Tahoe and htb write there."""
    (tmp_path / "private").mkdir()
    lines = ["[client]", "shares.needed = 1"]
    if managers:
        lines += ["[grid_managers]", *(f"{k} = {v}" for k, v in managers.items())]
    (tmp_path / "tahoe.cfg").write_text("\n".join(lines) + "\n")
    if static:
        text = grid_files({}, static)["servers.yaml"]  # what htb's node gets
        (tmp_path / "private" / "servers.yaml").write_text(text or "")
    (tmp_path / "private" / "introducer_default_cache.yaml").write_text(yaml.safe_dump(cache))
    return tmp_path


def test_certified_servers_from_the_node_files(tmp_path: Path) -> None:
    static = {
        _IDS[0]: {"ann": ann(cert(_IDS[0]))},
        # Static before relayed: Tahoe ignores an introducer's copy of a static server.
        _IDS[1]: {"ann": ann()},
    }
    cache = [
        {"key_s": _IDS[1], "ann": ann(cert(_IDS[1]))},
        {"key_s": _IDS[2], "ann": ann(cert(_IDS[2]))},
        {"key_s": _IDS[3], "ann": ann()},  # the node of its own: no certificate
        "junk",
        {"key_s": 5},
    ]
    base = node(tmp_path, {"operator": PUBLIC}, static, cache)
    assert certified.certified_servers(base, NOW) == {_IDS[0], _IDS[2]}
    # After the certificates expire, none.
    assert certified.certified_servers(base, NOW + timedelta(days=31)) == frozenset()


def test_without_grid_managers_every_server_takes_backups(tmp_path: Path) -> None:
    base = node(tmp_path, {}, {}, [{"key_s": _IDS[3], "ann": ann()}])
    assert certified.certified_servers(base, NOW) is None


def test_an_unreadable_or_huge_cache_certifies_nothing(tmp_path: Path) -> None:
    base = node(tmp_path, {"operator": PUBLIC}, {}, [{"key_s": _IDS[2], "ann": ann(cert(_IDS[2]))}])
    assert certified.certified_servers(base, NOW) == {_IDS[2]}
    cache = base / "private" / "introducer_default_cache.yaml"
    good = cache.read_text()
    cache.write_text("- {unclosed: [")
    assert certified.certified_servers(base, NOW) == frozenset()
    cache.write_text(good + "#" * certified.MAX_FILE)
    assert certified.certified_servers(base, NOW) == frozenset()


# --- what the person sees -------------------------------------------------------------
def _status(grid_managers: bool) -> Status:
    servers = (
        ServerInfo("storage1", True, True),
        ServerInfo("storage2", True, True),
        ServerInfo("rogue", True, not grid_managers),
    )
    return Status(True, servers, 2, 3, grid_managers=grid_managers)


def test_the_apps_status_line_counts_certified_servers() -> None:
    """Mutation: status_text counting connected servers shows 3 for the first."""
    assert status_text(_status(True)) == (
        "Certified servers connected: 2 of 3, 3 needed to back up; "
        "servers connected: 3, 2 needed to restore"
    )
    assert status_text(_status(False)) == (
        "Storage servers connected: 3 of 3 (2 needed to restore, 3 to back up)"
    )


def test_htb_status_names_the_uncertified_server(tmp_path: Path, capsys) -> None:
    grid = MemoryGrid(server_names=("storage1", "storage2", "rogue"))
    grid.certificates = {"storage1": frozenset({PUBLIC}), "storage2": frozenset({PUBLIC})}
    data = manifest_data()
    data["grid"]["grid_managers"] = {"operator": PUBLIC}
    client = MemoryClient(grid)
    client.configure(validate(data), None)
    client.start()
    assert cli.main(["status", "-d", str(tmp_path / "n")], lambda _args: client) == 6
    out = capsys.readouterr().out
    assert "storage servers connected: 3 of 3" in out
    assert "certified storage servers connected: 2 (only these take backups)" in out
    assert "rogue  (not certified: takes no backup)" in out
    assert "ready: restore only" in out
    assert cli.main(["status", "-d", str(tmp_path / "n"), "--json"], lambda _args: client) == 6
    status = json.loads(capsys.readouterr().out)
    assert (status["connected"], status["certified"], status["can_backup"]) == (3, 2, False)
    assert [s["certified"] for s in status["servers"]] == [True, True, False]
