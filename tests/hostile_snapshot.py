"""Hostile snapshots: what a holder of a backup directory's write cap can link as
``Latest``, and how to link it on each grid (issue 21).

Whoever has one of her manifest copies and its passphrase holds her rootcaps:
write caps. With them they can make any tree ``Latest``; Tahoe's web API takes
every name below (``..``, ``/abs``, NUL, escapes, the empty name) in immutable
and mutable directories alike (tried on tahoe-lafs 1.20). :func:`plant_memory`
and :func:`plant_tahoe` link the same :class:`Shape` on the in-memory and on a
real grid, the way such a person would: through the node's web API with the
alias's write cap.

It needs only the standard library (the in-memory grid is imported when used), so
the client scenario runs it on the Tails-like laptop too, where htb's test doubles
are not installed: ``python3 hostile_snapshot.py names|plant|relink ...`` (see
:func:`main`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from htb.client import Client
    from htb.manifest import BackupEntry
    from htb.testing.memory import MemoryClient, Tree
else:
    Tree = dict

EVIL = b"#!/bin/sh\necho owned > /tmp/htb-owned\n"


@dataclass(frozen=True)
class Shape:
    """A tree to link as ``Latest``, and what a restore must do with it."""

    tree: Tree
    # path ("a/b") -> st_mode recorded on its link (type bits included)
    modes: dict[str, int] = field(default_factory=dict)
    top_mode: int | None = None
    mutable: bool = False  # Latest linked as a mutable directory
    # Words of the refusal line; None: restored, with the modes of ``expect_modes``.
    refusal: str | None = None
    expect_modes: dict[str, int] = field(default_factory=dict)


REFUSED: dict[str, Shape] = {
    "dotdot": Shape({"..": {"evil": EVIL}}, refusal="climbs out of its folder"),
    "dot": Shape({".": EVIL}, refusal="climbs out of its folder"),
    "climb-to-autostart": Shape(
        {"../../.config/autostart/htb-evil.desktop": EVIL}, refusal="'/' in it"
    ),
    # HOME: the test's home folder, put in by :func:`at_home` (so a write there shows).
    "absolute": Shape({"HOME/.config/autostart/htb-evil.desktop": EVIL}, refusal="'/' in it"),
    "nul": Shape({"a\x00b": EVIL}, refusal="NUL"),
    "escape-sequence": Shape({"a\x1b[2Jb": EVIL}, refusal="control character"),
    "newline": Shape({"a\nhtb: done": EVIL}, refusal="control character"),
    "empty-name": Shape({"": EVIL}, refusal="empty name"),
    "too-long": Shape({"n" * 256: EVIL}, refusal="longer than 255 bytes"),
    "deep-dotdot": Shape({"ok": {"fine.txt": b"x", "..": EVIL}}, refusal="(in ok)"),
    "symlink-entry": Shape(
        {"link": b"/home/amnesia/.bashrc"},
        modes={"link": stat.S_IFLNK | 0o777},
        refusal="recorded as a link",
    ),
    "device-entry": Shape(
        {"dev": b""}, modes={"dev": stat.S_IFCHR | 0o666}, refusal="recorded as a link"
    ),
    "mutable-latest": Shape({"a.txt": b"x"}, mutable=True, refusal="not an immutable folder"),
}

SANITISED: dict[str, Shape] = {
    "setuid-and-world-writable": Shape(
        {"tool": EVIL, "open": b"x", "shared": {"f": b"y"}},
        modes={
            "tool": stat.S_IFREG | 0o6755,
            "open": stat.S_IFREG | 0o666,
            "shared": stat.S_IFDIR | 0o1777,
            "shared/f": stat.S_IFREG | 0o644,
        },
        top_mode=stat.S_IFDIR | 0o4777,
        expect_modes={"tool": 0o755, "open": 0o664, "shared": 0o775, "shared/f": 0o644, "": 0o775},
    ),
}


def at_home(shape: Shape, home: Path) -> Shape:
    """``shape`` with each name that starts with ``HOME/`` made absolute under ``home``."""

    def bind(tree: Tree) -> Tree:
        return {
            (str(home) + name[4:] if name.startswith("HOME/") else name): (
                bind(value) if isinstance(value, dict) else value
            )
            for name, value in tree.items()
        }

    return dataclasses.replace(shape, tree=bind(shape.tree))


# --- linking a shape as Latest ------------------------------------------------------------
def plant(client: Client, entry: BackupEntry, shape: Shape) -> None:
    """Link ``shape`` as ``entry``'s Latest, as a holder of the alias's write cap can."""
    from htb.tahoe import TahoeClient
    from htb.testing.memory import MemoryClient

    if isinstance(client, MemoryClient):
        plant_memory(client, entry, shape)
    elif isinstance(client, TahoeClient):
        plant_tahoe(client.node_dir, entry.alias, entry.path, shape)
    else:  # pragma: no cover
        raise TypeError(type(client))


def plant_memory(client: MemoryClient, entry: BackupEntry, shape: Shape) -> None:
    from htb.testing.memory import StoredDir

    cap = client.aliases[entry.alias]
    stored = StoredDir(
        shape.tree,
        frozenset(client.grid.up()),
        dict(shape.modes),
        shape.top_mode,
        mutable=shape.mutable,
    )
    client.grid.dirs.setdefault(cap, {})[f"{entry.path}/Latest"] = stored


# What the node answers (HTTP 500) while too few storage servers are connected to place
# shares, as after the client scenario's rebuild of two nodes: transient (htb.tahoe's
# words for them).
TRANSIENT = ("UploadUnhappinessError", "shares could be placed", "NotEnoughServersError")
ATTEMPTS = 5


class _Web:
    """The node's web API, as a write-cap holder uses it (test only)."""

    def __init__(self, node_dir: Path) -> None:
        self.url = (node_dir / "node.url").read_text().strip()
        config = (node_dir / "tahoe.cfg").read_text()
        happy = [line for line in config.splitlines() if line.startswith("shares.happy")]
        self.happy = int(happy[0].split("=")[1]) if happy else 1

    def connected(self) -> int:
        with urllib.request.urlopen(self.url + "?t=json", timeout=30) as resp:  # noqa: S310
            servers = json.loads(resp.read())["servers"]
        return sum(
            str(s.get("connection_status", "")).lower().startswith("connected") for s in servers
        )

    def wait_for_servers(self, polls: int = 60) -> None:
        """Until shares.happy servers are connected (what an upload needs), bounded."""
        for _ in range(polls):
            if self.connected() >= self.happy:
                return
            time.sleep(2)

    def call(self, method: str, path: str, body: bytes | None = None) -> str:
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=120) as resp:  # noqa: S310 - loopback
                    return str(resp.read().decode())
            except urllib.error.HTTPError as error:
                text = error.read().decode(errors="replace")
                if attempt == ATTEMPTS or not any(word in text for word in TRANSIENT):
                    last = text.strip().splitlines()[-1:] or [""]
                    raise SystemExit(
                        f"{method} {path.split('?')[0]}: HTTP {error.code} after {attempt} "
                        f"attempt(s): {last[0][:300]}"
                    ) from None
            self.wait_for_servers()
        raise AssertionError("unreachable")

    def put_file(self, content: bytes) -> str:
        return self.call("PUT", "uri", content).strip()

    def link(self, cap: str, children: dict[str, Any]) -> str:
        """``children`` set on the directory ``cap``."""
        body = json.dumps(children).encode()
        return self.call("POST", f"uri/{urllib.parse.quote(cap, safe='')}?t=set_children", body)

    def mkdir(self, children: dict[str, Any], *, mutable: bool) -> str:
        if not mutable:
            body = json.dumps(children).encode()
            return self.call("POST", "uri?t=mkdir-immutable", body).strip()
        cap = self.call("POST", "uri?t=mkdir").strip()
        self.link(cap, children)
        return cap


def _children(web: _Web, shape: Shape, tree: Tree, rel: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in tree.items():
        path = f"{rel}{name}"
        metadata = {"st_mode": shape.modes[path]} if path in shape.modes else {}
        if isinstance(value, bytes):
            out[name] = ["filenode", {"ro_uri": web.put_file(value), "metadata": metadata}]
        else:
            inner = _children(web, shape, value, path + "/")
            cap = web.mkdir(inner, mutable=shape.mutable)
            key = "rw_uri" if shape.mutable else "ro_uri"
            out[name] = ["dirnode", {key: cap, "metadata": metadata}]
    return out


def _alias_cap(node_dir: Path, alias: str) -> str:
    aliases = (node_dir / "private" / "aliases").read_text()
    return next(
        line.partition(":")[2].strip()
        for line in aliases.splitlines()
        if line.partition(":")[0].strip() == alias
    )


def _set_link(web: _Web, node_dir: Path, alias: str, folder: str, name: str, link: Any) -> None:
    """Link ``link`` as ``name`` in ``alias``:``folder`` (``link`` None: unlink it)."""
    folder_url = "uri/" + urllib.parse.quote(f"{_alias_cap(node_dir, alias)}/{folder}", safe="/:")
    if link is None:
        web.call("POST", f"{folder_url}?t=delete&name={urllib.parse.quote(name, safe='')}")
    else:
        web.call("POST", f"{folder_url}?t=set_children", json.dumps({name: link}).encode())


def plant_tahoe(
    node_dir: Path, alias: str, path: str, shape: Shape, archive: str | None = None
) -> None:
    """Link ``shape`` as Latest of ``alias``:``path`` (or as the snapshot ``archive`` under
    its Archives, which the app lists), through the node in ``node_dir``."""
    web = _Web(node_dir)
    top = web.mkdir(_children(web, shape, shape.tree, ""), mutable=shape.mutable)
    metadata = {"st_mode": shape.top_mode} if shape.top_mode is not None else {}
    key = "rw_uri" if shape.mutable else "ro_uri"
    folder, name = (path, "Latest") if archive is None else (f"{path}/Archives", archive)
    _set_link(web, node_dir, alias, folder, name, ["dirnode", {key: top, "metadata": metadata}])


def relink_newest(node_dir: Path, alias: str, path: str, archive: str | None = None) -> None:
    """Undo a plant: the snapshot ``archive`` unlinked, the newest one left linked as Latest."""
    web = _Web(node_dir)
    if archive is not None:
        _set_link(web, node_dir, alias, f"{path}/Archives", archive, None)
    archives = f"{_alias_cap(node_dir, alias)}/{path}/Archives"
    url = "uri/" + urllib.parse.quote(archives, safe="/:") + "?t=json"
    children = json.loads(web.call("GET", url))[1]["children"]
    _set_link(web, node_dir, alias, path, "Latest", children[max(children)])


def main(argv: list[str]) -> int:
    """On the laptop (client scenario), as the person: names | plant | relink."""
    parser = argparse.ArgumentParser(prog="hostile_snapshot.py")
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("names", help="the shapes a real grid takes, one a line")
    for verb in ("plant", "relink"):
        sp = sub.add_parser(verb)
        sp.add_argument("node_dir", type=Path)
        sp.add_argument("alias")
        sp.add_argument("path")
        # A snapshot of that name under Archives instead of Latest (the app lists those).
        sp.add_argument("--archive")
        if verb == "plant":
            sp.add_argument("shape", choices=sorted(REFUSED))
            sp.add_argument("--home", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.verb == "names":
        print("\n".join(sorted(REFUSED)))
    elif args.verb == "plant":
        shape = at_home(REFUSED[args.shape], args.home)
        plant_tahoe(args.node_dir, args.alias, args.path, shape, args.archive)
    else:
        relink_newest(args.node_dir, args.alias, args.path, args.archive)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
