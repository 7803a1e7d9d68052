"""Restore: a snapshot written to disk, trusting nothing the grid says about it.

Whoever holds a write cap of a backup directory (the sender of a manifest copy, or
anyone with one of her copies and its passphrase) can link any tree as ``Latest``:
names that climb (``..``) or are paths, control characters, links, mutable
directories that change while they are read, setuid bits, a million entries. So:

1. The snapshot is resolved once to its directory's read-only capability, and the
   walk goes by capabilities, accepting only immutable objects: the tree that is
   checked is the tree that is copied.
2. Every entry is checked (:func:`name_problem`, its kind, its recorded file type,
   the counts) before a byte is written; the first problem refuses the whole
   restore in one line (:class:`HostileSnapshotError`), the name shown escaped.
3. Files are written under a new staging directory through directory descriptors,
   each opened ``O_NOFOLLOW``, each file created ``O_EXCL``: no path component can
   be a link, nothing existing is written through. Never more bytes than a file's
   size says.
4. The permission bits applied are the recorded ones without setuid, setgid,
   sticky or world-write (:data:`MODE_MASK`).
5. Every entry is staged and verified first; only then do the targets take their
   places, all of them or none (:func:`restore`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from htb import settings
from htb.client import Child, Client, Node, Progress, no_progress
from htb.errors import (
    HostileSnapshotError,
    LocalSystemError,
    RestoreRefusedError,
    VerifyError,
)
from htb.manifest import BackupEntry
from htb.ops import Say, retry_download, wait_for_servers

# What a snapshot may hold; past that it is refused, not written (a hostile tree can
# link one directory under itself a thousand times: the walk counts every entry).
MAX_ENTRIES = 1_000_000
MAX_DEPTH = 256
NAME_MAX = 255  # bytes of one name on Linux filesystems
# Permission bits kept from the grid: never setuid, setgid, sticky or world-writable.
MODE_MASK = 0o775
# The only objects a snapshot may hold: what `tahoe backup` makes (immutable), so
# nobody can change them between the check and the copy.
IMMUTABLE = {"file": ("URI:CHK:", "URI:LIT:"), "dir": ("URI:DIR2-CHK:", "URI:DIR2-LIT:")}
_FILE_TYPE = {"file": stat.S_IFREG, "dir": stat.S_IFDIR}
# Directories read, and files downloaded, at once: each is a round trip through Tor.
WORKERS = 8


def shown(text: str, limit: int = 60) -> str:
    """``text`` safe to print: every character that is not printable escaped, cut short."""
    out = "".join(c if c.isprintable() and c != "\\" else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def name_problem(name: object) -> str | None:
    """What makes ``name`` unfit to be one file name on disk, or None if it is fit."""
    if not isinstance(name, str) or not name:
        return "an empty name"
    if name in (".", ".."):
        return "a name that climbs out of its folder ('.' or '..')"
    if "/" in name:
        return "a name with '/' in it (a path, not a name)"
    if "\x00" in name:
        return "a name with a NUL character"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "a name with a control character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "a name that is not valid Unicode"
    if len(encoded) > NAME_MAX:
        return f"a name longer than {NAME_MAX} bytes"
    return None


@dataclass(frozen=True)
class Item:
    """One checked entry of a snapshot: its path's parts, what to make, from which cap."""

    parts: tuple[str, ...]
    cap: str
    size: int  # bytes; -1 for a directory
    mode: int | None  # permission bits to apply (already masked), None: leave the default

    @property
    def path(self) -> str:
        return "/".join(self.parts)


@dataclass(frozen=True)
class Plan:
    """A snapshot's whole tree, checked: every item, parents before their children."""

    items: tuple[Item, ...]
    top_mode: int | None  # the backed-up folder's own bits (masked), None: not recorded

    @property
    def listing(self) -> dict[str, Node]:
        return {item.path: Node(item.size, item.mode) for item in self.items}

    @property
    def files(self) -> int:
        return sum(1 for item in self.items if item.size >= 0)

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.items if item.size > 0)


def _masked(mode: int | None) -> int | None:
    return None if mode is None else mode & MODE_MASK


def _refuse(problem: str, parts: tuple[str, ...]) -> HostileSnapshotError:
    where = "/".join(shown(p, 40) for p in parts) or "its top folder"
    return HostileSnapshotError(
        f"restore refused: the snapshot holds {problem} (in {where}): nothing was written"
    )


def _checked(parts: tuple[str, ...], name: str, child: Child) -> Item:
    """One entry of a directory, or the refusal that names its problem."""
    problem = name_problem(name)
    if problem is not None:
        raise _refuse(problem, parts)
    kind, cap, mode = child.kind, child.cap, child.mode
    if kind not in IMMUTABLE:
        raise _refuse("an entry that is neither a file nor a folder (a link?)", parts)
    if not isinstance(cap, str) or not cap.startswith(IMMUTABLE[kind]):
        raise _refuse("a mutable or unknown object, which could change while it is read", parts)
    if mode is not None and stat.S_IFMT(mode) not in (0, _FILE_TYPE[kind]):
        raise _refuse("an entry recorded as a link or a special file", parts)
    if kind == "dir":
        return Item((*parts, name), cap, -1, _masked(mode))
    size = child.size
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _refuse("a file without a valid size", parts)
    return Item((*parts, name), cap, size, _masked(mode))


def plan(client: Client, entry: BackupEntry, snapshot: str | None) -> Plan:
    """Resolve ``entry``'s snapshot (``None``: Latest) once, walk it, check every entry."""
    ref = client.snapshot(entry, snapshot)
    if not ref.cap.startswith(IMMUTABLE["dir"]):
        raise HostileSnapshotError(
            "restore refused: the snapshot is not an immutable folder (`tahoe backup` makes "
            "only those; someone with write access linked another): nothing was written"
        )
    if ref.mode is not None and stat.S_IFMT(ref.mode) not in (0, stat.S_IFDIR):
        raise _refuse("a top folder recorded as a link or a special file", ())
    items: list[Item] = []
    # Each directory is a round trip through Tor: several are read at once.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: dict[Future[dict[str, Child]], tuple[str, ...]] = {
            pool.submit(client.children, ref.cap): ()
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                parts = pending.pop(future)
                for name, child in future.result().items():
                    item = _checked(parts, name, child)
                    items.append(item)
                    if len(items) > MAX_ENTRIES:
                        raise _refuse(f"more than {MAX_ENTRIES} entries", ())
                    if item.size < 0:
                        if len(item.parts) > MAX_DEPTH:
                            raise _refuse(f"folders nested over {MAX_DEPTH} deep", parts)
                        pending[pool.submit(client.children, item.cap)] = item.parts
    items.sort(key=lambda item: item.parts)
    return Plan(tuple(items), _masked(ref.mode))


# --- writing ---------------------------------------------------------------------------
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def _directory(root: int, parts: Sequence[str]) -> Iterator[int]:
    """A descriptor of ``root``/``parts``, each step opened without following a link."""
    fd = os.dup(root)
    try:
        for part in parts:
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


class _Sink:
    """Where a file's bytes go: never more than its size; stops when told to."""

    def __init__(self, out: BinaryIO, size: int, stop: threading.Event) -> None:
        self.out, self.left, self.stop = out, size, stop

    def write(self, data: bytes) -> int:
        if self.stop.is_set():
            raise _Stopped
        if len(data) > self.left:
            raise VerifyError("a file on the grid is longer than its size says: nothing restored")
        self.left -= len(data)
        return self.out.write(data)


class _Stopped(Exception):
    """Another download failed, or the person cancelled: stop this one."""


def _write_file(client: Client, root: int, item: Item, stop: threading.Event) -> None:
    with _directory(root, item.parts[:-1]) as parent:
        fd = os.open(item.parts[-1], _NEW_FILE, 0o600, dir_fd=parent)
    with os.fdopen(fd, "wb") as out:
        sink = _Sink(out, item.size, stop)
        client.read(item.cap, sink.write)
        if sink.left:
            raise VerifyError("a file on the grid is shorter than its size says: nothing restored")
        if item.mode is not None:
            os.fchmod(out.fileno(), item.mode)


def write(client: Client, plan: Plan, staging: Path, progress: Progress = no_progress) -> None:
    """Make every item of ``plan`` under the new, empty directory ``staging``.

    ``progress`` gets one line per file written (it may raise Cancelled to stop).
    Directories keep mode 0700 here: :func:`seal_modes` gives them theirs at the end.
    """
    root = os.open(staging, _DIR_FLAGS)
    stop = threading.Event()
    try:
        for item in plan.items:
            if item.size < 0:
                with _directory(root, item.parts[:-1]) as parent:
                    os.mkdir(item.parts[-1], 0o700, dir_fd=parent)
        files = [item for item in plan.items if item.size >= 0]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = {pool.submit(_write_file, client, root, f, stop): f for f in files}
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                        progress(f"restored {shown(futures[future].path, 200)}")
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        os.close(root)


def seal_modes(plan: Plan, staging: Path) -> None:
    """Give each directory its recorded bits, deepest first (a read-only one last)."""
    root = os.open(staging, _DIR_FLAGS)
    try:
        dirs = [item for item in plan.items if item.size < 0 and item.mode is not None]
        for item in sorted(dirs, key=lambda item: len(item.parts), reverse=True):
            with _directory(root, item.parts[:-1]) as parent:
                os.chmod(item.parts[-1], item.mode or 0, dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(root)


def local_listing(root: Path) -> dict[str, int]:
    """Relative path -> size (-1: directory; -2: anything else) of what is under ``root``."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in [*dirnames, *filenames]:
            info = (Path(dirpath) / name).lstat()
            key = str(rel / name) if str(rel) != "." else name
            if stat.S_ISDIR(info.st_mode):
                out[key] = -1
            else:
                out[key] = info.st_size if stat.S_ISREG(info.st_mode) else -2
    return out


def verify(listing: dict[str, Node], restored: Path) -> None:
    """Every name and size on the grid is on disk, and nothing else."""
    expected = {path: node.size for path, node in listing.items()}
    actual = local_listing(restored)
    if actual != expected:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        wrong = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
        first = (missing + extra + wrong)[:1]
        raise VerifyError(
            f"restore of {restored} does not match the grid: {len(missing)} missing, "
            f"{len(extra)} unexpected, {len(wrong)} of a wrong size"
            + (f" (first: {shown(first[0])})" if first else "")
        )


def fetch(
    client: Client,
    entry: BackupEntry,
    snapshot: str | None,
    staging: Path,
    progress: Progress = no_progress,
) -> Plan:
    """A snapshot checked, then written into the new directory ``staging`` and verified."""
    checked = plan(client, entry, snapshot)
    free = shutil.disk_usage(staging.parent).free
    if checked.bytes > free:
        raise LocalSystemError(
            f"not enough free space to restore {entry.alias}:{entry.path}: "
            f"{_mib(checked.bytes)} needed, {_mib(free)} free: nothing restored"
        )
    staging.mkdir(mode=0o700)
    write(client, checked, staging, progress)
    verify(checked.listing, staging)
    seal_modes(checked, staging)
    return checked


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


# --- restoring whole entries -------------------------------------------------------------
def restore_target(entry: BackupEntry, root: Path | None) -> Path:
    """Where an entry is restored: its own ``local``, or the same path under ``root``."""
    local = Path(entry.local)
    if not local.is_absolute() or any(part in (".", "..") for part in entry.local.split("/")):
        # The schema refuses these already; a restore never climbs out of ``root``.
        raise RestoreRefusedError(
            f"the backup's local path {shown(entry.local)} is not a plain absolute path: "
            "nothing restored"
        )
    return root / local.relative_to("/") if root is not None else local


def _make_parents(path: Path) -> list[Path]:
    """``mkdir -p path``; return the directories it created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(os.scandir(path))


def _remove(path: Path) -> None:
    """Delete what a restore made (its modes may forbid writing: it is ours)."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), 0o700, follow_symlinks=False)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Staged:
    entry: BackupEntry
    target: Path
    staging: Path
    plan: Plan | None = None
    aside: Path | None = None  # where the target's old content went
    placed: bool = False


def _commit(staged: list[_Staged], say: Say) -> None:
    """Put every staged tree in its target's place, or, on any failure, none of them."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        for s in staged:
            if s.target.exists() or s.target.is_symlink():
                s.aside = s.target.with_name(f"{s.target.name}.htb-previous-{stamp}")
                s.target.rename(s.aside)
            s.staging.rename(s.target)
            s.placed = True
            if s.plan is not None and s.plan.top_mode is not None:
                # Last: a read-only top directory must not stop its own restore.
                s.target.chmod(s.plan.top_mode)
    except BaseException:
        for s in reversed(staged):
            with contextlib.suppress(OSError):
                if s.placed:
                    s.target.rename(s.staging)
                    s.placed = False
                if s.aside is not None:
                    s.aside.rename(s.target)
                    s.aside = None
        raise
    for s in staged:
        if s.aside is None:
            continue
        if _is_empty_dir(s.aside):
            s.aside.rmdir()
        else:
            say(f"      previous content of {s.target} kept in {s.aside}")


def restore(
    client: Client,
    entries: Sequence[BackupEntry],
    *,
    snapshot: str | None = None,
    root: Path | None = None,
    overwrite: bool = False,
    say: Say = no_progress,
    progress: Progress = no_progress,
    wait: float = settings.GRID_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Path]:
    """Restore every entry into its directory, verified, all or nothing.

    Every target is checked before anything is downloaded. Each snapshot is
    checked entry by entry, written into a staging directory beside its target and
    verified there; only when all are do they take their targets' places. With
    ``overwrite``, existing data is moved aside to ``<target>.htb-previous-<time>``,
    never deleted. A refused or failed restore leaves the disk as it found it.
    """
    staged = [_Staged(e, t, t) for e, t in ((e, restore_target(e, root)) for e in entries)]
    for s in staged:
        if (s.target.exists() or s.target.is_symlink()) and not (
            overwrite or _is_empty_dir(s.target)
        ):
            raise RestoreRefusedError(
                f"{s.target} exists and is not empty: nothing restored. Move it away, "
                "restore elsewhere with --to, or pass --overwrite (keeps the old copy aside)"
            )
    status = client.status()
    # After a retryable failure, wait for as many servers as were there at the start
    # (at least shares.needed: the wait returns no sooner).
    seen = wait_for_servers(client, status.needed, wait, sleep).connected
    created: list[Path] = []
    try:
        for i, s in enumerate(staged, 1):
            say(f"[{i}/{len(staged)}] restoring {s.entry.alias}:{s.entry.path} -> {s.target}")
            created += _make_parents(s.target.parent)
            s.staging = s.target.parent / f".htb-restore-{s.target.name}-{os.getpid()}"

            def attempt(s: _Staged = s) -> Plan:
                _remove(s.staging)  # what a failed attempt left
                return fetch(client, s.entry, snapshot, s.staging, progress)

            s.plan = retry_download(attempt, client, seen, wait, say=say, sleep=sleep)
            say(f"      verified {s.plan.files} files")
        _commit(staged, say)
    except BaseException:
        # A failed restore leaves the disk as it found it.
        for s in staged:
            if not s.placed and s.staging != s.target:
                _remove(s.staging)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    return [s.target for s in staged]
