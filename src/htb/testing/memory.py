"""The in-memory :class:`htb.client.Client`: a grid that lives in a Python object.

It keeps Tahoe's observable behaviour (aliases, ``Archives/<time>`` plus
``Latest``, K-of-N availability, "happy" placement) so tests of everything above
the interface run in milliseconds. ``tests/contract/`` holds it to the same
tests as the real node.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass, field
from pathlib import Path

from htb.client import Node, Progress, ServerInfo, Status, TorSettings, no_progress
from htb.errors import (
    GridError,
    MissingAliasError,
    NodeNotRunningError,
    NotEnoughServersError,
    SnapshotNotFoundError,
    UnrecoverableError,
)
from htb.manifest import BackupEntry, Manifest

# A tree: name -> bytes (file) or nested dict (directory).
Tree = dict[str, "bytes | Tree"]


def _b32(n: int) -> str:
    return b32encode(secrets.token_bytes(n)).decode().rstrip("=").lower()


@dataclass
class StoredDir:
    """A directory on the grid and the servers that hold its shares."""

    tree: Tree
    servers: frozenset[str]
    modes: dict[str, int] = field(default_factory=dict)  # path -> permission bits


@dataclass
class MemoryGrid:
    """Storage servers (up or down) and the directories they hold, by rootcap."""

    server_names: tuple[str, ...] = ("storage1", "storage2", "storage3")
    down: set[str] = field(default_factory=set)
    dirs: dict[str, dict[str, StoredDir]] = field(default_factory=dict)  # cap -> path -> snapshot

    def up(self) -> list[str]:
        return [s for s in self.server_names if s not in self.down]

    def stop_server(self, name: str) -> None:
        self.down.add(name)

    def start_server(self, name: str) -> None:
        self.down.discard(name)


def _read_tree(root: Path, excludes: tuple[str, ...], rel: str = "") -> Tree:
    tree: Tree = {}
    for child in sorted(root.iterdir()):
        if any(fnmatch.fnmatch(child.name, pattern) for pattern in excludes):
            continue
        if child.is_dir() and not child.is_symlink():
            tree[child.name] = _read_tree(child, excludes, f"{rel}{child.name}/")
        elif child.is_file():
            tree[child.name] = child.read_bytes()
    return tree


def _read_modes(root: Path, tree: Tree, rel: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in tree.items():
        path = f"{rel}{name}"
        out[path] = (root / path).stat().st_mode & 0o7777
        if isinstance(value, dict):
            out.update(_read_modes(root, value, path + "/"))
    return out


def _write_tree(tree: Tree, dest: Path) -> None:
    for name, value in tree.items():
        if isinstance(value, dict):
            (dest / name).mkdir()
            _write_tree(value, dest / name)
        else:
            (dest / name).write_bytes(value)


def _list_tree(tree: Tree, rel: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in tree.items():
        path = f"{rel}{name}"
        if isinstance(value, dict):
            out[path] = -1
            out.update(_list_tree(value, path + "/"))
        else:
            out[path] = len(value)
    return out


@dataclass
class MemoryClient:
    """A client node on a :class:`MemoryGrid`; its node state is in memory too.

    Like the real node directory, that state is rebuilt by :meth:`configure`
    and forgotten by :meth:`stop`.
    """

    grid: MemoryGrid
    running: bool = False
    configured: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    convergence: str | None = None
    needed: int = 3
    happy: int = 7
    builds: int = 0  # how many times the node was built afresh
    # Stands for tahoe's backupdb: the snapshots this node uploaded, one line each.
    backupdb: bytes | None = None

    def configure(self, manifest: Manifest, tor: TorSettings | None) -> None:
        self.stop()
        self.needed, self.happy, _ = manifest.shares
        self.aliases = dict(manifest.aliases)
        self.convergence = manifest.convergence
        self.configured = True
        self.builds += 1

    def start(self, timeout: float = 60.0) -> None:
        if not self.configured:
            raise NodeNotRunningError("no client node: `htb start -m MANIFEST` builds it")
        self.running = True

    def stop(self) -> None:
        self.running = False
        self.configured = False
        self.aliases = {}
        self.convergence = None
        self.backupdb = None

    def load_backupdb(self, data: bytes) -> None:
        self.backupdb = data

    def read_backupdb(self) -> bytes | None:
        return self.backupdb

    def status(self) -> Status:
        up = set(self.grid.up()) if self.running else set()
        servers = tuple(ServerInfo(n, n in up) for n in self.grid.server_names)
        return Status(self.running, servers if self.running else (), self.needed, self.happy)

    def _require_running(self) -> None:
        if not self.running:
            raise NodeNotRunningError("the Tahoe client node is not running: run `htb start`")

    def _cap(self, entry: BackupEntry) -> str:
        cap = self.aliases.get(entry.alias)
        if cap is None:
            raise MissingAliasError(f"alias '{entry.alias}' is not known to this node")
        return cap

    def create_alias(self, alias: str) -> str:
        self._require_running()
        if alias in self.aliases:
            raise GridError(f"alias '{alias}' already exists on this node")
        self._place()
        cap = f"URI:DIR2:{_b32(16)}:{_b32(32)}"
        self.grid.dirs[cap] = {}
        self.aliases[alias] = cap
        return cap

    def _place(self) -> frozenset[str]:
        up = self.grid.up()
        if len(up) < self.happy:
            raise NotEnoughServersError(
                "not enough storage servers connected to place shares safely (shares.happy)"
            )
        return frozenset(up)

    def _dirs_of(self, entry: BackupEntry) -> dict[str, StoredDir]:
        self._require_running()
        cap = self._cap(entry)
        dirs = self.grid.dirs.get(cap)
        if dirs is None:
            raise UnrecoverableError("too few storage servers hold shares of this data")
        return dirs

    def backup(self, entry: BackupEntry, progress: Progress = no_progress) -> None:
        dirs = self._dirs_of(entry)
        local = Path(entry.local)
        if not local.is_dir():
            raise GridError(f"tahoe: cannot back up {local}: not a directory")
        servers = self._place()
        tree = _read_tree(local, entry.excludes)
        for path in _list_tree(tree):
            progress(f"uploading {path}")
        name = time.strftime("%Y-%m-%d_%H:%M:%SZ", time.gmtime())
        while f"{entry.path}/Archives/{name}" in dirs:  # two backups within a second
            name += "+"
        stored = StoredDir(tree, servers, _read_modes(local, tree))
        dirs[f"{entry.path}/Archives/{name}"] = stored
        dirs[f"{entry.path}/Latest"] = stored
        self.backupdb = (self.backupdb or b"") + f"{entry.target}/Archives/{name}\n".encode()

    def snapshots(self, entry: BackupEntry) -> list[str]:
        prefix = f"{entry.path}/Archives/"
        return sorted(k.removeprefix(prefix) for k in self._dirs_of(entry) if k.startswith(prefix))

    def _snapshot(self, entry: BackupEntry, snapshot: str | None) -> StoredDir:
        dirs = self._dirs_of(entry)
        key = f"{entry.path}/Latest" if snapshot is None else f"{entry.path}/Archives/{snapshot}"
        stored = dirs.get(key)
        if stored is None:
            raise SnapshotNotFoundError("no such snapshot or path on the grid")
        if len(stored.servers & set(self.grid.up())) < self.needed:
            raise UnrecoverableError(
                "too few storage servers hold shares of this data: it cannot be rebuilt now"
            )
        return stored

    def listing(self, entry: BackupEntry, snapshot: str | None) -> dict[str, Node]:
        stored = self._snapshot(entry, snapshot)
        return {
            path: Node(size, stored.modes.get(path))
            for path, size in _list_tree(stored.tree).items()
        }

    def fetch(
        self,
        entry: BackupEntry,
        snapshot: str | None,
        dest: Path,
        progress: Progress = no_progress,
    ) -> None:
        tree = self._snapshot(entry, snapshot).tree
        if any(os.scandir(dest)):
            raise GridError(f"{dest} is not empty")
        _write_tree(tree, dest)
        for path in _list_tree(tree):
            progress(f"copied {path}")
