"""What a Tahoe node was told about storage servers, and where it says they listen.

A node keeps every announcement an introducer relayed to it in
``private/introducer_<petname>_cache.yaml``, one file per introducer: a YAML list of
``{key_s: <server id>, ann: <announcement>}``, each kept only once Tahoe checked its
signature by that server's own key (so an introducer cannot make one up). Static
servers are in ``private/servers.yaml`` (``{storage: {<server id>: {ann: ...}}}``).

An announcement says where its server listens in its FURL's location hints
(``pb://TUBID@HINT,HINT/SWISSNUM``) and in each NURL's host:port
(``pb[+tor]://TUBID@HOST:PORT/SWISSNUM#v=1``). On an onion grid each one is
``tor:<56 base32>.onion:PORT`` (a NURL: ``<56 base32>.onion:PORT``).

Shared by the molecule scenarios' tests (tests/ is on their PYTHONPATH) and
tests/unit/test_announced.py.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

ONION_HINT = re.compile(r"tor:[a-z2-7]{56}\.onion:[0-9]{1,5}")
ONION_HOST = re.compile(r"[a-z2-7]{56}\.onion:[0-9]{1,5}")
# A FURL or NURL whole; its location is between the '@' and the first '/'.
_URL = re.compile(r"pb(\+tor)?://[^@/\s]+@([^/\s]*)/\S+")
UNPARSABLE = "(a FURL or NURL that cannot be parsed)"
UNSHOWABLE = "(a location that cannot be shown)"


def cached(text: str) -> dict[str, Any]:
    """Server id -> announcement, from one ``introducer_*_cache.yaml``'s text."""
    entries = yaml.safe_load(text)  # Tahoe's own safe_dump (NURLs as a !!set)
    assert isinstance(entries, list), "an announcement cache that is not a list"
    found = {}
    for entry in entries:
        assert isinstance(entry, dict) and isinstance(entry.get("key_s"), str), type(entry)
        found[entry["key_s"]] = entry.get("ann")
    return found


def static(text: str) -> dict[str, Any]:
    """Server id -> announcement, from a ``servers.yaml``'s text."""
    servers = yaml.safe_load(text)["storage"]
    return {server_id: server["ann"] for server_id, server in servers.items()}


def _strings(value: Any) -> list[str]:
    """Every string anywhere in an announcement (keys too), depth first."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for item in value for s in _strings(item)]
    return []


def _shown(location: str) -> str:
    # Only the part between '@' and '/' is ever returned: never a tub id or swissnum.
    return location if location.isprintable() and location.isascii() else UNSHOWABLE


def non_onion_locations(announcement: Any) -> list[str]:
    """Every place the announcement says its server listens that is not an onion.

    Every string of the announcement that is a FURL or NURL (it starts with ``pb://``
    or ``pb+tor://``, whatever key holds it) is read; an announcement with none at
    all is one too, as is anything in it that looks like one but cannot be parsed.
    """
    urls = [s for s in _strings(announcement) if "pb://" in s or "pb+tor://" in s]
    if not urls:
        return ["(no FURL or NURL)"]
    bad = []
    for url in urls:
        match = _URL.fullmatch(url)
        if not match:
            bad.append(UNPARSABLE)
            continue
        location = match.group(2)
        if "#" in url or match.group(1):  # a NURL (pb://...#v=1): one host:port
            if not ONION_HOST.fullmatch(location):
                bad.append(_shown(("tor:" if match.group(1) else "tcp:") + location))
        else:
            bad += [_shown(h) for h in location.split(",") if not ONION_HINT.fullmatch(h)]
    return bad


def furl(announcement: Any) -> str:
    """The announcement's storage FURL."""
    value = announcement.get("anonymous-storage-FURL") if isinstance(announcement, dict) else None
    assert isinstance(value, str), "an announcement without a storage FURL"
    return value


def not_announced(caches: dict[str, dict[str, Any]], furls: dict[str, str]) -> list[str]:
    """What is missing for every server to be announced through every introducer.

    ``caches``: introducer petname -> what its cache holds (:func:`cached`);
    ``furls``: server id -> the FURL that server holds itself. Each server must be in
    each cache with that FURL. Names introducers and server ids only, never a FURL.
    """
    assert caches and furls, "nothing to compare"
    gaps = []
    for petname, announcements in sorted(caches.items()):
        for server_id, own in sorted(furls.items()):
            if server_id not in announcements:
                gaps.append(f"{petname}: {server_id} not announced")
            elif furl(announcements[server_id]) != own:
                gaps.append(f"{petname}: {server_id} announced with another FURL")
    return gaps
