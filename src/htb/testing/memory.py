"""The in-memory :class:`htb.client.Client`: a grid that lives in a Python object.

It keeps Tahoe's observable behaviour (aliases, ``Archives/<time>`` plus
``Latest``, K-of-N availability, "happy" placement) so tests of everything above
the interface run in milliseconds. ``tests/contract/`` holds it to the same
tests as the real node.
"""

from __future__ import annotations

import fnmatch
import secrets
import time
from base64 import b32encode
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from htb.client import (
    CheckReport,
    Child,
    Progress,
    ServerInfo,
    SnapshotRef,
    Status,
    TorSettings,
    no_progress,
)
from htb.errors import (
    GridError,
    MissingAliasError,
    NodeNotRunningError,
    NotEnoughServersError,
    SnapshotNotFoundError,
    UnrecoverableError,
)
from htb.manifest import BackupEntry, Manifest


@dataclass(frozen=True)
class Foreign:
    """A link that is neither an immutable file nor an immutable directory: what a
    holder of a write cap can put in a snapshot (a mutable object, an unknown kind)."""

    kind: str  # "file", "dir" or another kind (Tahoe: "unknown")
    cap: str | None = None


# A tree: name -> bytes (file), nested dict (directory) or a Foreign link.
Tree = dict[str, "bytes | Tree | Foreign"]


def _b32(n: int) -> str:
    return b32encode(secrets.token_bytes(n)).decode().rstrip("=").lower()


@dataclass
class StoredDir:
    """A directory on the grid and the servers that hold its shares.

    One share on each server it was placed on: its N is how many that was (``total``).
    Healthy: all N on servers that are up; recoverable: at least k of them.
    """

    tree: Tree
    servers: frozenset[str]
    modes: dict[str, int] = field(default_factory=dict)  # path -> st_mode, as recorded
    top_mode: int | None = None  # the backed-up directory's own st_mode
    total: int = 0  # N; 0: as many as ``servers``
    # Linked as a mutable directory (a write-cap holder's doing; `tahoe backup` never does).
    mutable: bool = False

    def __post_init__(self) -> None:
        self.total = self.total or len(self.servers)

    def shares_up(self, up: set[str]) -> int:
        return len(self.servers & up)


@dataclass
class MemoryGrid:
    """Storage servers (up or down) and the directories they hold, by rootcap."""

    server_names: tuple[str, ...] = ("storage1", "storage2", "storage3")
    down: set[str] = field(default_factory=set)
    dirs: dict[str, dict[str, StoredDir]] = field(default_factory=dict)  # cap -> path -> snapshot
    # cap -> the alias's directory itself (its shares; its tree stays empty).
    roots: dict[str, StoredDir] = field(default_factory=dict)
    # Introducers the client has neither reached nor given up on yet.
    introducers_pending: int = 0
    # server -> the Grid Manager keys whose unexpired certificate it announces. A client
    # whose manifest names Grid Managers uploads only to servers one of them certifies.
    certificates: dict[str, frozenset[str]] = field(default_factory=dict)
    # cap -> (the stored snapshot it is in, its path there, the object): each
    # directory and file gets a capability when a client first sees it.
    objects: dict[str, tuple[StoredDir, str, bytes | Tree]] = field(default_factory=dict)
    _caps: dict[tuple[int, str], str] = field(default_factory=dict)

    def cap_of(self, stored: StoredDir, path: str, value: bytes | Tree) -> str:
        """The capability of a file or directory of ``stored`` (made on first sight)."""
        # ``objects`` keeps ``stored`` alive: its id names it for good.
        cap = self._caps.get((id(stored), path))
        if cap is not None:
            return cap
        if isinstance(value, bytes):
            prefix = "URI:LIT:" if len(value) <= 55 else "URI:CHK:"
            cap = f"{prefix}{_b32(16)}:{_b32(32)}:2:3:{len(value)}"
        else:
            cap = f"URI:DIR2{'-RO' if stored.mutable else '-CHK'}:{_b32(16)}:{_b32(32)}"
        self.objects[cap] = (stored, path, value)
        self._caps[id(stored), path] = cap
        return cap

    def up(self) -> list[str]:
        return [s for s in self.server_names if s not in self.down]

    def uploadable(self, grid_managers: frozenset[str]) -> list[str]:
        """Servers up that a client with these Grid Manager keys uploads to."""
        if not grid_managers:
            return self.up()
        return [s for s in self.up() if self.certificates.get(s, frozenset()) & grid_managers]

    def root(self, cap: str) -> StoredDir:
        """The alias directory's shares: on every server if the test made ``dirs`` directly."""
        return self.roots.setdefault(cap, StoredDir({}, frozenset(self.server_names)))

    def drop_shares(self, name: str) -> None:
        """Server ``name`` loses every share it holds (a disk lost), and stays up."""
        for stored in [*self.roots.values(), *(s for d in self.dirs.values() for s in d.values())]:
            stored.servers = stored.servers - {name}

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
        out[path] = (root / path).stat().st_mode
        if isinstance(value, dict):
            out.update(_read_modes(root, value, path + "/"))
    return out


def _list_tree(tree: Tree, rel: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in tree.items():
        path = f"{rel}{name}"
        if isinstance(value, dict):
            out[path] = -1
            out.update(_list_tree(value, path + "/"))
        elif isinstance(value, bytes):
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
    # The manifest's Grid Manager keys (tahoe.cfg's [grid_managers]).
    grid_managers: frozenset[str] = frozenset()

    def configure(self, manifest: Manifest, tor: TorSettings | None) -> None:
        self.stop()
        self.needed, self.happy, _ = manifest.shares
        self.grid_managers = frozenset(manifest.grid_managers.values())
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
        self.grid_managers = frozenset()

    def load_backupdb(self, data: bytes) -> None:
        self.backupdb = data

    def read_backupdb(self) -> bytes | None:
        return self.backupdb

    def status(self) -> Status:
        up = set(self.grid.up()) if self.running else set()
        certified = set(self.grid.uploadable(self.grid_managers))
        servers = tuple(ServerInfo(n, n in up, n in certified) for n in self.grid.server_names)
        pending = self.grid.introducers_pending if self.running else 0
        shown = servers if self.running else ()
        return Status(
            self.running, shown, self.needed, self.happy, pending, bool(self.grid_managers)
        )

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
        servers = self._place()
        cap = f"URI:DIR2:{_b32(16)}:{_b32(32)}"
        self.grid.dirs[cap] = {}
        self.grid.roots[cap] = StoredDir({}, servers)
        self.aliases[alias] = cap
        return cap

    def _place(self) -> frozenset[str]:
        # With Grid Managers, only certified servers: Tahoe checks, for immutable uploads
        # and mutable publishes alike (upload_permitted).
        up = self.grid.uploadable(self.grid_managers)
        if len(up) < self.happy:
            raise NotEnoughServersError(
                "not enough storage servers connected to place shares safely (shares.happy)"
            )
        return frozenset(up)

    def _dirs_of(self, entry: BackupEntry) -> dict[str, StoredDir]:
        self._require_running()
        cap = self._cap(entry)
        dirs = self.grid.dirs.get(cap)
        if dirs is None or self.grid.root(cap).shares_up(set(self.grid.up())) < self.needed:
            raise UnrecoverableError("too few storage servers hold shares of this data")
        return dirs

    def backup(self, entry: BackupEntry, progress: Progress = no_progress) -> None:
        dirs = self._dirs_of(entry)
        local = Path(entry.local)
        if not local.is_dir():
            raise GridError(f"tahoe: cannot back up {local}: not a directory")
        servers = self._place()
        top_mode = local.stat().st_mode
        tree = _read_tree(local, entry.excludes)
        # As `tahoe backup`, which links the snapshot only at its end: a ``progress``
        # that raises (Cancelled) leaves the snapshots and the backupdb as they were.
        for path in _list_tree(tree):
            progress(f"uploading {path}")
        name = time.strftime("%Y-%m-%d_%H:%M:%SZ", time.gmtime())
        while f"{entry.path}/Archives/{name}" in dirs:  # two backups within a second
            name += "+"
        stored = StoredDir(tree, servers, _read_modes(local, tree), top_mode)
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

    def snapshot(self, entry: BackupEntry, snapshot: str | None) -> SnapshotRef:
        stored = self._snapshot(entry, snapshot)
        return SnapshotRef(self.grid.cap_of(stored, "", stored.tree), stored.top_mode)

    def _object(self, cap: str) -> tuple[StoredDir, str, bytes | Tree]:
        self._require_running()
        found = self.grid.objects.get(cap)
        if found is None:
            raise SnapshotNotFoundError("no such snapshot or path on the grid")
        if found[0].shares_up(set(self.grid.up())) < self.needed:
            raise UnrecoverableError(
                "too few storage servers hold shares of this data: it cannot be rebuilt now"
            )
        return found

    def children(self, cap: str) -> dict[str, Child]:
        stored, path, tree = self._object(cap)
        if not isinstance(tree, dict):
            raise GridError("tahoe: not a directory")
        out = {}
        for name, value in tree.items():
            below = f"{path}/{name}" if path else name
            if isinstance(value, Foreign):
                out[name] = Child(value.kind, value.cap)
                continue
            child_cap = self.grid.cap_of(stored, below, value)
            size = len(value) if isinstance(value, bytes) else None
            kind = "file" if isinstance(value, bytes) else "dir"
            out[name] = Child(kind, child_cap, size, stored.modes.get(below))
        return out

    def read(self, cap: str, write: Callable[[bytes], object]) -> None:
        _, _, value = self._object(cap)
        if not isinstance(value, bytes):
            raise GridError("tahoe: not a file")
        write(value)

    def check(self, alias: str, repair: bool = False) -> CheckReport:
        """Each alias directory, then each distinct snapshot; a snapshot's files share its shares.

        Like Tahoe's walk, it stops at the first directory it cannot read. Leases
        are not modelled.
        """
        self._require_running()
        cap = self.aliases.get(alias)
        if cap is None:
            raise MissingAliasError(f"alias '{alias}' is not known to this node")
        report = self._check_one(self.grid.root(cap), 1, 0, repair)
        snapshots = {id(s): s for s in self.grid.dirs.get(cap, {}).values()}
        for stored in snapshots.values():
            if not report.complete:
                break
            sizes = _list_tree(stored.tree).values()
            dirs = 1 + sum(1 for size in sizes if size < 0)
            report += self._check_one(stored, dirs, len(sizes) + 1 - dirs, repair)
        return report

    def _check_one(self, stored: StoredDir, dirs: int, files: int, repair: bool) -> CheckReport:
        """The health of one stored object, counted ``dirs + files`` times; repaired if asked."""
        up = set(self.grid.up())
        found = stored.shares_up(up)
        objects = dirs + files
        if found >= stored.total:
            return CheckReport(files, dirs, healthy=objects)
        if found < self.needed:
            return CheckReport(files, dirs, unrecoverable=objects, complete=False)
        repaired = 0
        spare = sorted(up - stored.servers)
        if repair and found + len(spare) >= stored.total:
            stored.servers = (stored.servers & up) | set(spare[: stored.total - found])
            repaired = objects
        return CheckReport(files, dirs, needs_repair=objects, repaired=repaired)
