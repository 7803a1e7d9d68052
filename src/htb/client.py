"""The one small interface between htb and Tahoe-LAFS.

Two implementations: :class:`htb.tahoe.TahoeClient` drives a real client node
with the ``tahoe`` CLI and its web API; :class:`htb.testing.memory.MemoryClient` keeps
a grid in memory. ``tests/contract/`` runs the same tests against both, so the
in-memory one can stand in for Tahoe wherever a test does not need a grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from htb import settings
from htb.manifest import BackupEntry, Manifest

Progress = Callable[[str], None]


def no_progress(_line: str) -> None:
    """A Progress that shows nothing."""


@dataclass(frozen=True)
class TorSettings:
    """How the client node reaches Tor. ``None`` in its place means plain TCP (tests only)."""

    socks_port: str = settings.SOCKS_PORT
    # Tahoe 1.20's HTTPS storage protocol over Tor needs a control port; without
    # one the node is told to speak Foolscap only.
    control_port: str | None = None


@dataclass(frozen=True)
class Node:
    """A file or directory in a snapshot, as the grid recorded it."""

    size: int  # bytes; -1 for a directory
    # Permission bits ``tahoe backup`` recorded from the local file (None: unknown).
    mode: int | None = None


@dataclass(frozen=True)
class Child:
    """One entry of a directory on the grid, as the grid describes it: hostile until
    :mod:`htb.restore` has checked it (whoever holds a write cap links what they like)."""

    # "file", "dir", or whatever else the grid calls it (Tahoe: "unknown").
    kind: str
    # The entry's read-only capability (None: the entry carries none).
    cap: str | None
    # A file's size in bytes as the grid gives it (None: not given).
    size: int | None = None
    # The ``st_mode`` ``tahoe backup`` recorded, file-type bits included (None: none).
    mode: int | None = None


@dataclass(frozen=True)
class SnapshotRef:
    """A snapshot resolved once to its directory's read-only capability: what is
    checked is what is copied, whatever is linked as ``Latest`` afterwards."""

    cap: str
    # The ``st_mode`` recorded on the snapshot's link (its local folder's own bits).
    mode: int | None = None


@dataclass(frozen=True)
class CheckReport:
    """What a deep-check found under a directory: distinct files and directories, by health.

    Tahoe's meanings: healthy = all N shares found; needs repair = fewer, but at
    least k (recoverable); unrecoverable = fewer than k. With repair, the three
    counts are as found before repairing, and ``repaired`` is how many are healthy now.
    """

    files: int = 0
    directories: int = 0
    healthy: int = 0
    needs_repair: int = 0
    unrecoverable: int = 0
    repaired: int = 0
    # False: the walk stopped at a directory it could not read (what is below went unchecked).
    complete: bool = True

    def __add__(self, other: CheckReport) -> CheckReport:
        return CheckReport(
            self.files + other.files,
            self.directories + other.directories,
            self.healthy + other.healthy,
            self.needs_repair + other.needs_repair,
            self.unrecoverable + other.unrecoverable,
            self.repaired + other.repaired,
            self.complete and other.complete,
        )

    @property
    def verdict(self) -> str:
        """``healthy`` (or all repaired), ``needs-repair``, or ``unrecoverable`` (or unchecked)."""
        if self.unrecoverable or not self.complete:
            return "unrecoverable"
        return "needs-repair" if self.needs_repair > self.repaired else "healthy"


@dataclass(frozen=True)
class ServerInfo:
    nickname: str
    connected: bool
    # Uploads may place shares on it: with Grid Managers in the manifest, only if it
    # announces an unexpired certificate of one of them (Tahoe uploads to no other);
    # without, every server.
    certified: bool = True


@dataclass(frozen=True)
class Status:
    running: bool
    servers: tuple[ServerInfo, ...]
    needed: int
    happy: int
    # Introducers still on their first attempt: neither connected nor failed yet.
    introducers_pending: int = 0
    # The manifest names Grid Managers: only certified servers count for uploads.
    grid_managers: bool = False

    @property
    def connected(self) -> int:
        """Connected servers: downloads may use any of them."""
        return sum(1 for s in self.servers if s.connected)

    @property
    def certified(self) -> int:
        """Connected servers uploads may use (every connected one without Grid Managers)."""
        return sum(1 for s in self.servers if s.connected and s.certified)

    def usable(self, *, upload: bool) -> int:
        """Servers that count towards an upload's shares.happy or a download's needed."""
        return self.certified if upload else self.connected

    @property
    def can_upload(self) -> bool:
        return self.running and self.certified >= self.happy

    @property
    def can_download(self) -> bool:
        return self.running and self.connected >= self.needed


class Client(Protocol):
    """A Tahoe client node holding one manifest's grid, aliases and backups."""

    def configure(self, manifest: Manifest, tor: TorSettings | None) -> None:
        """Build the node afresh from the manifest, stopping and forgetting any previous one.

        Fresh node keys; the manifest's grid, aliases and convergence secret (if it has one).
        """

    def start(self, timeout: float = 60.0) -> None:
        """Start the configured node; return once its web API answers."""

    def stop(self) -> None:
        """Stop the node and forget all its state (aliases, keys, backupdb); idempotent."""

    def load_backupdb(self, data: bytes) -> None:
        """Give the configured, stopped node the backupdb an earlier session saved."""

    def read_backupdb(self) -> bytes | None:
        """The node's backupdb (what ``tahoe backup`` knows is on the grid), if it has one."""

    def status(self) -> Status:
        """Which storage servers the node is connected to (``running=False`` if stopped)."""

    def create_alias(self, alias: str) -> str:
        """Create a new directory on the grid under ``alias``; return its rootcap."""

    def backup(self, entry: BackupEntry, progress: Progress = no_progress) -> None:
        """``tahoe backup`` of ``entry.local`` to ``entry.target``: a new snapshot, ``Latest``."""

    def snapshots(self, entry: BackupEntry) -> list[str]:
        """Names of the snapshots under ``entry.target``/Archives, oldest first."""

    def snapshot(self, entry: BackupEntry, snapshot: str | None) -> SnapshotRef:
        """The read-only capability of a snapshot's directory (``None``: Latest) and the
        mode on its link; :class:`SnapshotNotFoundError` if there is no such snapshot."""

    def check(self, alias: str, repair: bool = False) -> CheckReport:
        """Deep-check everything under ``alias``'s directory, adding a lease to each object.

        With ``repair``, also repair what is not healthy and can be rebuilt.
        """

    def children(self, cap: str) -> dict[str, Child]:
        """The entries of the directory ``cap``, exactly as the grid has them."""

    def read(self, cap: str, write: Callable[[bytes], object]) -> None:
        """Give ``write`` the content of the file ``cap``, piece by piece, as it arrives."""
