"""Which storage servers a node may upload to, when its manifest names Grid Managers.

Tahoe 1.20 uploads only to servers whose announcement carries an unexpired
certificate signed by a key of its ``[grid_managers]`` (``upload_permitted`` in
``allmydata.storage_client``), and downloads from any. Its welcome page does not
say which servers those are, so a node of its own that joined with a leaked
introducer FURL counts as "connected" there. The node keeps what it judges by:
the static announcements (``private/servers.yaml``, written by htb from the
manifest) and those the introducers relayed (``private/introducer_<petname>_cache.yaml``,
each signed by the server's own key and checked by the node before it keeps it).
htb reads both and checks each certificate as Tahoe does, with
:func:`htb.gridmanager.verify`.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from htb import gridmanager
from htb.errors import GridManagerError

# What a node writes is small (a few KiB a server); a hostile introducer could make
# the cache large. Larger: not read, and its servers count as uncertified.
MAX_FILE = 8 * 1024 * 1024
# Certificates looked at per server (the schema allows a static server 16).
MAX_CERTIFICATES = 16


def grid_manager_keys(node_dir: Path) -> list[str]:
    """The ``pub-v0-`` keys of the node's ``[grid_managers]`` (none: every server may
    take shares)."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(node_dir / "tahoe.cfg", encoding="utf-8")
    if not cfg.has_section("grid_managers"):
        return []
    return [v.strip() for v in cfg["grid_managers"].values() if v.strip()]


def _read(path: Path, parse: Any) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            return None
        return parse(data)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def announcements(node_dir: Path) -> dict[str, Any]:
    """Server id -> the announcement the node uses for it: a static one before any
    an introducer relayed (Tahoe ignores those for static servers)."""
    found: dict[str, Any] = {}
    private = node_dir / "private"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # a safe loader, the C one if built
    for cache in sorted(private.glob("introducer_*_cache.yaml")):
        entries = _read(cache, lambda data: yaml.load(data, Loader=loader))  # noqa: S506
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("key_s"), str):
                found[entry["key_s"]] = entry.get("ann")
    static = _read(private / "servers.yaml", json.loads)  # htb writes it as JSON
    storage = static.get("storage") if isinstance(static, dict) else None
    for server_id, server in storage.items() if isinstance(storage, dict) else ():
        found[server_id] = server.get("ann") if isinstance(server, dict) else None
    return found


def is_certified(
    server_id: str, announcement: Any, keys: Iterable[str], now: datetime | None = None
) -> bool:
    """Whether ``announcement`` carries a certificate of one of ``keys`` for this server,
    not expired at ``now``: the test Tahoe applies before it uploads to a server."""
    if not isinstance(announcement, dict):
        return False
    certificates = announcement.get("grid-manager-certificates")
    if not isinstance(certificates, list):
        return False
    now = now or datetime.now(UTC)
    node_key = "pub-" + server_id  # Tahoe's own mapping: server id v0-<key> is pub-v0-<key>
    for certificate in certificates[:MAX_CERTIFICATES]:
        for key in keys:
            try:
                cert = gridmanager.verify(key, certificate)
            except GridManagerError:
                continue
            if cert.node_public_key == node_key and cert.expires > now:
                return True
    return False


def certified_servers(node_dir: Path, now: datetime | None = None) -> frozenset[str] | None:
    """Ids of the servers the node may upload to; ``None`` when it has no Grid Manager
    (then every server may take shares)."""
    keys = grid_manager_keys(node_dir)
    if not keys:
        return None
    return frozenset(
        server_id
        for server_id, ann in announcements(node_dir).items()
        if is_certified(server_id, ann, keys, now)
    )
