"""htb.files.write_atomic, the one atomic writer: never half a file, never a secret
in a file others may read, not even for an instant.

The files are watched through Python's audit events (sys.addaudithook): at each
file-system call the writer makes (open, chmod, rename...), before it runs, every
file of the directory is searched for the secret's own bytes and its mode noted.
Content lands between two such calls, so a file that ever held the secret with a
mode open to others is seen at the next call. The hook stays for the process (it
cannot be removed) and does nothing unless a test is watching.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from htb import files, manifest, tahoe
from htb.files import write_atomic

SECRET = b"URI:DIR2:swissnum-of-the-atomic-writer-test:" + os.urandom(8).hex().encode()
_WATCHERS: list[Callable[[str, tuple[Any, ...]], None]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    for watcher in list(_WATCHERS):
        watcher(event, args)


sys.addaudithook(_audit)


@dataclass
class Watch:
    """What the directory held at each file-system call made while watching."""

    directory: Path
    held: list[tuple[str, str, int]] = field(default_factory=list)  # event, name, mode
    events: list[tuple[str, str]] = field(default_factory=list)  # event, first argument
    busy: bool = False

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.busy or not event.startswith(("open", "os.")):
            return
        self.busy = True  # the search's own calls are events too
        try:
            self.events.append((event, str(args[0]) if args else ""))
            for entry in os.scandir(self.directory):
                if entry.is_file(follow_symlinks=False):
                    mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
                    if mode & 0o400 and SECRET in Path(entry.path).read_bytes():
                        self.held.append((event, entry.name, mode))
        finally:
            self.busy = False

    @property
    def open_to_others(self) -> list[tuple[str, str, int]]:
        return [(e, name, oct(mode)) for e, name, mode in self.held if mode & 0o077]


@contextmanager
def watching(directory: Path) -> Iterator[Watch]:
    watch = Watch(directory)
    _WATCHERS.append(watch)
    try:
        yield watch
    finally:
        _WATCHERS.remove(watch)


def _naive_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """The control: a temporary file written first and given its mode after."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_a_secret_is_never_in_a_file_others_may_read(tmp_path: Path, umask: int) -> None:
    # Mutation (run): write_atomic making its temporary file with open(tmp, "wb")
    # instead of mkstemp (the umask's mode), writing and flushing, then its fchmod,
    # fails here, as the control below does.
    target = tmp_path / "manifest.htbm"
    os.umask(umask)
    with watching(tmp_path) as watch:
        write_atomic(target, SECRET)
    # The search saw the secret in the temporary file (before the rename) and in the
    # file itself: it looks where the secret is...
    assert {name for _, name, _ in watch.held} >= {target.name}
    assert any(name.startswith(f".{target.name}.") for _, name, _ in watch.held), watch.held
    # ...and never found it readable by others.
    assert watch.open_to_others == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]

    # Control: the same search finds the naive writer's moment of exposure.
    naive = tmp_path / "naive"
    naive.mkdir()
    with watching(naive) as control:
        _naive_write(naive / "manifest.htbm", SECRET)
    assert control.open_to_others, control.held


def test_the_mode_is_the_callers_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0o077)
    write_atomic(tmp_path / "operator.gpg", b"public key", mode=0o644)
    os.umask(0o000)
    write_atomic(tmp_path / "key", b"private key")
    assert stat.S_IMODE((tmp_path / "operator.gpg").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600


def test_the_old_file_is_whole_until_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "aliases"
    target.write_bytes(b"old\n")
    seen: list[bytes] = []

    def at_rename(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and Path(args[1]) == target:
            seen.append(target.read_bytes())

    _WATCHERS.append(at_rename)
    try:
        write_atomic(target, b"new\n" * 1000)
    finally:
        _WATCHERS.remove(at_rename)
    assert seen == [b"old\n"]  # the moment before the rename: the old file, whole
    assert target.read_bytes() == b"new\n" * 1000


def test_the_content_then_the_rename_are_flushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutation (run): either os.fsync removed from write_atomic fails here.
    target = tmp_path / "sub" / "convergence"
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # observes, then does the real thing
        where = os.readlink(f"/proc/self/fd/{fd}")
        synced.append("dir" if os.path.isdir(where) else Path(where).read_bytes().decode())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(target, b"secret convergence")
    assert synced == ["secret convergence", "dir"]


@pytest.mark.parametrize("failure", ["the write", "the rename"])
def test_a_failure_leaves_the_old_file_and_no_temporary_one(tmp_path: Path, failure: str) -> None:
    target = tmp_path / "backupdb.sqlite"
    if failure == "the write":
        target.write_bytes(b"old\n")
        with pytest.raises(TypeError):
            write_atomic(target, "text, not bytes")  # type: ignore[arg-type]
        assert target.read_bytes() == b"old\n"
    else:
        target.mkdir()  # a directory where the file goes: the rename fails
        with pytest.raises(IsADirectoryError):
            write_atomic(target, SECRET)
        assert target.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_missing_parents_are_made(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a" / "b" / "c.png", b"png")
    assert (tmp_path / "a" / "b" / "c.png").read_bytes() == b"png"


def test_the_node_files_and_the_manifest_use_it(tmp_path: Path) -> None:
    assert manifest.write_atomic is files.write_atomic
    # The node's private files (htb.tahoe): 0600 in a 0700 private/, by the same writer.
    os.umask(0o000)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with watching(private) as watch:
        tahoe._private_write(private / "convergence", SECRET.decode())
    assert watch.held and watch.open_to_others == []
    assert stat.S_IMODE((private / "convergence").stat().st_mode) == 0o600
