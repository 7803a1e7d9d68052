"""A hostile snapshot cannot hurt the person who restores it (issue 21), on both grids.

Whoever holds a write cap of her backup directory links a hostile tree as
``Latest`` (tests/hostile_snapshot.py, through the web API on the real grid);
``htb restore``'s code (:func:`htb.restore.restore`, also the app's) refuses it
before writing a byte, in one line with its own exit code, and nothing in her
home, the target's surroundings or elsewhere changes. What it can restore safely
(setuid or world-writable bits) it restores without them.

Each refusal fails with its check removed from ``htb.restore``: e.g. with
``name_problem`` returning None the ``dotdot`` shape writes ``home/evil`` beside
the target and the digest comparison fails; with the immutability check gone,
``mutable-latest`` restores.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import threading
from pathlib import Path

import pytest
from conftest import GridHarness, make_tree, memory_harness, read_tree
from hostile_snapshot import REFUSED, SANITISED, Shape, at_home, plant

from htb import restore
from htb.client import Child, Client
from htb.errors import HostileSnapshotError, RestoreRefusedError
from htb.manifest import BackupEntry
from htb.testing.memory import Foreign

_names = itertools.count()

# Tahoe's web API will not put these in an immutable directory; a modified client
# can, so the in-memory grid holds them (the check is the same code for both).
REFUSED_MEMORY_ONLY: dict[str, Shape] = {
    "mutable-child": Shape(
        {"a.txt": b"x", "moving": Foreign("dir", "URI:DIR2-RO:" + "a" * 26 + ":" + "b" * 52)},
        refusal="mutable or unknown object",
    ),
    "mutable-file": Shape(
        {"moving.txt": Foreign("file", "URI:SSK-RO:" + "a" * 26 + ":" + "b" * 52)},
        refusal="mutable or unknown object",
    ),
    "unknown-kind": Shape(
        {"thing": Foreign("unknown", "URI:FUTURE:" + "c" * 26)},
        refusal="neither a file nor a folder",
    ),
    "no-cap": Shape({"ghost": Foreign("file", None)}, refusal="mutable or unknown object"),
}


def digests(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root``: its mode and its content's (or link's) digest."""
    out: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                digest = "->" + os.readlink(path)
            else:
                digest = ""
            out[str(path.relative_to(root))] = (info.st_mode, digest)
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Her home: documents, an autostart folder a climb would aim at, a target folder."""
    home = tmp_path / "home"
    make_tree(home / "Persistent" / "Documents")
    (home / ".config" / "autostart").mkdir(parents=True)
    (home / ".bashrc").write_text("# hers\n")
    return home


def _client_with_alias(harness: GridHarness, tmp_path: Path) -> tuple[Client, BackupEntry]:
    client = harness.started_client(tmp_path / "node")
    alias = f"h{next(_names)}"
    client.create_alias(alias)
    src = tmp_path / "src"
    make_tree(src)
    entry = BackupEntry(alias, "laptop/documents", str(src), ())
    client.backup(entry)  # a genuine snapshot first: the hostile one replaces it
    return client, entry


def _restore_refused(client: Client, entry: BackupEntry, home: Path, shape: Shape) -> None:
    before = digests(home)
    for root, overwrite in ((home / "restored", False), (None, True)):
        # With --to (a fresh folder) and in place over her documents (--overwrite).
        target = home / "Persistent" / "Documents"
        aimed = BackupEntry(entry.alias, entry.path, str(target), ())
        with pytest.raises(HostileSnapshotError) as refused:
            restore.restore(client, [aimed], root=root, overwrite=overwrite)
        line = str(refused.value)
        assert refused.value.exit_code == 11
        assert shape.refusal in line, line
        assert line.startswith("restore refused: ") and line.endswith("nothing was written")
        # One line, nothing raw from the grid: no control character reaches a terminal.
        assert all(c.isprintable() for c in line), repr(line)
        assert digests(home) == before


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_hostile_snapshot_is_refused_and_nothing_changes(
    harness: GridHarness, tmp_path: Path, home: Path, name: str
) -> None:
    client, entry = _client_with_alias(harness, tmp_path)
    try:
        shape = at_home(REFUSED[name], home)
        plant(client, entry, shape)
        _restore_refused(client, entry, home, shape)
    finally:
        client.stop()


@pytest.mark.parametrize("name", sorted(REFUSED_MEMORY_ONLY))
def test_a_snapshot_only_a_modified_client_can_make_is_refused(
    tmp_path: Path, home: Path, name: str
) -> None:
    client, entry = _client_with_alias(memory_harness(), tmp_path)
    plant(client, entry, REFUSED_MEMORY_ONLY[name])
    # Mutation: the immutable-cap check gone (restore.py:_checked) -> mutable-child
    # fails (SnapshotNotFoundError); mutable-file and no-cap fail by the message only
    # (the size check refuses them next). The kind check gone -> unknown-kind: KeyError.
    _restore_refused(client, entry, home, REFUSED_MEMORY_ONLY[name])


@pytest.mark.parametrize("name", sorted(SANITISED))
def test_setuid_setgid_sticky_and_world_write_bits_are_never_applied(
    harness: GridHarness, tmp_path: Path, home: Path, name: str
) -> None:
    shape = SANITISED[name]
    client, entry = _client_with_alias(harness, tmp_path)
    try:
        plant(client, entry, shape)
        (target,) = restore.restore(client, [entry], root=home / "restored")
        # Mutation: MODE_MASK = 0o7777 (restore.py) -> fails: tool keeps 0o6755.
        for rel, mode in shape.expect_modes.items():
            assert (target / rel).lstat().st_mode & 0o7777 == mode, rel
    finally:
        client.stop()


def test_latest_swapped_between_check_and_copy_restores_what_was_checked(
    harness: GridHarness, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, entry = _client_with_alias(harness, tmp_path)
    files = read_tree(Path(entry.local))
    # The walk lists each folder once; the last listing ends the check: now Latest
    # becomes hostile, before any download starts (after the first file written was
    # too late on the real grid: every download had already begun).
    folders = len({str(p) for rel in files for p in Path(rel).parents})
    listed, lock, listings = client.children, threading.Lock(), [0]

    def children(cap: str) -> dict[str, Child]:
        found = listed(cap)
        with lock:
            listings[0] += 1
            if listings[0] == folders:
                plant(client, entry, REFUSED["dotdot"])
        return found

    monkeypatch.setattr(client, "children", children)
    try:
        (target,) = restore.restore(client, [entry], root=home / "restored")
        assert listings[0] >= folders  # it was swapped
        # Mutation: each file read by its path from Latest at copy time, not by the
        # checked cap (restore.py:_write_file) -> KeyError (a name the hostile tree lacks).
        assert read_tree(target) == files
        assert not (home / "evil").exists()
    finally:
        client.stop()


def test_a_local_path_that_climbs_is_refused(tmp_path: Path, home: Path) -> None:
    # The schema refuses it in a manifest; the restore refuses it again on its own.
    before = digests(home)
    for local in ("/home/amnesia/../../tmp/x", "/home/./amnesia", "relative/path"):
        entry = BackupEntry("docs", "laptop/docs", local, ())
        # Mutation: restore_target's check removed (restore.py) -> fails: did not raise.
        with pytest.raises(RestoreRefusedError, match="not a plain absolute path"):
            restore.restore_target(entry, home / "restored")
    assert digests(home) == before


def test_several_backups_restore_all_or_nothing(
    harness: GridHarness, tmp_path: Path, home: Path
) -> None:
    # The second backup's snapshot is hostile: the first, already staged and verified,
    # does not take its place either, and nothing is moved aside.
    client, first = _client_with_alias(harness, tmp_path)
    second = BackupEntry(first.alias, "laptop/pictures", str(tmp_path / "pictures"), ())
    make_tree(Path(second.local))
    try:
        client.backup(second)
        plant(client, second, REFUSED["dotdot"])
        targets = [home / "Persistent" / "Documents", home / "Persistent" / "Pictures"]
        (targets[1] / "old.jpg").parent.mkdir()
        (targets[1] / "old.jpg").write_bytes(b"hers")
        entries = [
            BackupEntry(e.alias, e.path, str(t), ())
            for e, t in zip((first, second), targets, strict=True)
        ]
        before = digests(home)
        # Mutation: each entry committed once verified, `_commit([s], say)` in the loop
        # (restore.py:restore) -> fails: Documents is moved aside and replaced.
        with pytest.raises(HostileSnapshotError):
            restore.restore(client, entries, overwrite=True)
        assert digests(home) == before
    finally:
        client.stop()
