"""The Client contract: every test runs against the in-memory grid and a real Tahoe grid."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest
from conftest import GridHarness, make_tree, read_tree

from htb import gridmanager, ops, restore
from htb.errors import (
    Cancelled,
    GridError,
    MissingAliasError,
    NotEnoughServersError,
    SnapshotNotFoundError,
    UnrecoverableError,
)
from htb.manifest import BackupEntry, validate

_names = itertools.count()


def _alias() -> str:
    return f"a{next(_names)}"


def test_stopped_node_reports_not_running(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.new_client(tmp_path / "node")
    client.configure(harness.manifest({}, []), None)
    status = client.status()
    assert not status.running
    assert status.connected == 0
    assert not status.can_download


def test_start_connects_to_every_server(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        status = client.status()
        assert status.running
        assert status.connected == len(harness.servers)
        assert (status.needed, status.happy) == (2, 3)
        assert status.can_upload
    finally:
        client.stop()
    assert not client.status().running


def test_backup_and_fetch_give_identical_files(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        cap = client.create_alias(alias)
        assert cap.startswith("URI:DIR2:")
        src = tmp_path / "src"
        files = make_tree(src)
        entry = BackupEntry(alias, "laptop/src", str(src), ())
        lines: list[str] = []
        client.backup(entry, lines.append)
        assert lines, "backup reports progress"
        # Capabilities are secrets (a LIT cap even holds the file): never shown.
        assert not [line for line in lines if re.search(r"URI:[A-Z0-9-]+:[a-z2-7]", line)]
        assert len(client.snapshots(entry)) == 1

        listing = restore.plan(client, entry, None).listing
        assert listing["sub"].size == -1
        assert listing["sub/b.bin"].size == len(files["sub/b.bin"])
        assert listing["empty"].size == 0

        dest = tmp_path / "dest"
        restore.fetch(client, entry, None, dest)
        assert read_tree(dest) == files
    finally:
        client.stop()


def test_listing_keeps_the_permission_bits(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        make_tree(src)
        (src / "sub" / "b.bin").chmod(0o600)
        (src / "empty").chmod(0o755)
        (src / "sub").chmod(0o700)
        src.chmod(0o750)
        entry = BackupEntry(alias, "laptop/src", str(src), ())
        client.backup(entry)
        listing = restore.plan(client, entry, None).listing
        assert listing["sub/b.bin"].mode == 0o600
        assert listing["empty"].mode == 0o755
        assert listing["sub"].mode == 0o700
        # The top directory's own bits: on Latest and on its snapshot.
        (first,) = client.snapshots(entry)
        assert restore.plan(client, entry, None).top_mode == 0o750
        assert restore.plan(client, entry, first).top_mode == 0o750
        with pytest.raises(SnapshotNotFoundError):
            client.snapshot(entry, "1999-01-01_00:00:00Z")
    finally:
        client.stop()


def test_restore_gives_the_top_directory_its_recorded_mode(
    harness: GridHarness, tmp_path: Path
) -> None:
    client = harness.started_client(tmp_path / "node")
    src = tmp_path / "src"
    files = make_tree(src)
    entry = BackupEntry(_alias(), "top-mode", str(src), ())
    root = tmp_path / "restored"
    target = restore.restore_target(entry, root)
    try:
        client.create_alias(entry.alias)
        src.chmod(0o500)  # read-only: the restore must still write into it
        client.backup(entry)
        assert restore.restore(client, [entry], root=root) == [target]
        assert target.stat().st_mode & 0o7777 == 0o500
        assert read_tree(target) == files
    finally:
        client.stop()
        for directory in (src, target):
            if directory.exists():
                directory.chmod(0o700)


def test_check_of_healthy_backups_counts_every_object(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        make_tree(src)
        client.backup(BackupEntry(alias, "laptop/src", str(src), ()))
        report = client.check(alias)
        assert report.verdict == "healthy"
        assert report.complete
        assert report.files >= 5 and report.directories >= 4  # the tree, and its alias dir
        assert report.healthy == report.files + report.directories
        assert (report.needs_repair, report.unrecoverable, report.repaired) == (0, 0, 0)
        assert client.check(alias, repair=True) == report
        with pytest.raises(MissingAliasError):
            client.check("nosuchalias")
    finally:
        client.stop()


def test_check_finds_lost_shares_and_repair_rebuilds_them(
    private_harness: GridHarness, tmp_path: Path
) -> None:
    h = private_harness
    client = h.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        make_tree(src)
        entry = BackupEntry(alias, "repair", str(src), ())
        client.backup(entry)
        objects = client.check(alias).healthy

        h.drop_shares(h.servers[0])  # N - 1 shares left: recoverable, not healthy
        found = client.check(alias)
        assert found.verdict == "needs-repair"
        assert found.needs_repair > 0
        assert found.unrecoverable == 0 and found.complete
        assert found.healthy + found.needs_repair == objects

        repaired = client.check(alias, repair=True)
        assert repaired.verdict == "healthy"
        assert repaired.needs_repair == repaired.repaired == found.needs_repair
        after = client.check(alias)
        assert (after.verdict, after.healthy) == ("healthy", objects)

        h.drop_shares(h.servers[0])
        h.drop_shares(h.servers[1])  # fewer than K = 2 shares left
        lost = client.check(alias)
        assert lost.verdict == "unrecoverable"
        assert lost.unrecoverable > 0 or not lost.complete
        assert client.check(alias, repair=True).verdict == "unrecoverable"
        restored = tmp_path / "restored"
        with pytest.raises(UnrecoverableError):
            restore.fetch(client, entry, None, restored)
    finally:
        client.stop()


def test_every_backup_is_a_snapshot_and_old_ones_stay(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        src.mkdir()
        (src / "f.txt").write_text("one")
        entry = BackupEntry(alias, "snap", str(src), ())
        client.backup(entry)
        (src / "f.txt").write_text("two, longer")
        (src / "new.txt").write_text("new")
        client.backup(entry)
        first, second = client.snapshots(entry)
        assert first < second

        old = tmp_path / "old"
        restore.fetch(client, entry, first, old)
        assert read_tree(old) == {"f.txt": b"one"}
        latest = tmp_path / "latest"
        restore.fetch(client, entry, None, latest)
        assert read_tree(latest) == {"f.txt": b"two, longer", "new.txt": b"new"}
    finally:
        client.stop()


def _tahoe_children() -> list[int]:
    """This process's child processes running a `tahoe backup`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == os.getpid() and b"backup" in cmdline:
            found.append(int(pid))
    return found


def test_a_cancelled_backup_leaves_the_last_snapshot(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        files = make_tree(src)
        entry = BackupEntry(alias, "cancel", str(src), ())
        client.backup(entry)
        before = client.snapshots(entry)
        # Much to upload: the cancel comes long before `tahoe backup` could link.
        for i in range(40):
            (src / f"new-{i}.bin").write_bytes(os.urandom(2000) * (i + 1))
        children: list[int] = []

        def cancel(_line: str) -> None:
            children.extend(_tahoe_children())
            raise Cancelled()

        with pytest.raises(Cancelled):
            client.backup(entry, cancel)
        # The tahoe child is killed and reaped, not left running alone.
        assert bool(children) == (harness.kind == "tahoe")
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
        assert client.snapshots(entry) == before
        latest = tmp_path / "latest"
        restore.fetch(client, entry, None, latest)
        assert read_tree(latest) == files
    finally:
        client.stop()


def test_retries_never_retry_a_cancel(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    calls = []

    def cancelled() -> None:
        calls.append(1)
        raise Cancelled()

    try:
        with pytest.raises(Cancelled):
            ops.retry_transient(cancelled, client, 1, 0, sleep=lambda _s: None)
        with pytest.raises(Cancelled):
            ops.retry_download(cancelled, client, 1, 0, sleep=lambda _s: None)
        assert len(calls) == 2
    finally:
        client.stop()


def test_excludes_are_not_backed_up(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        src.mkdir()
        (src / "keep.txt").write_text("k")
        (src / "skip.tmp").write_text("s")
        entry = BackupEntry(alias, "ex", str(src), ("*.tmp",))
        client.backup(entry)
        assert set(restore.plan(client, entry, None).listing) == {"keep.txt"}
    finally:
        client.stop()


def test_unknown_alias_snapshot_and_duplicate_alias(harness: GridHarness, tmp_path: Path) -> None:
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        with pytest.raises(GridError, match="already exists"):
            client.create_alias(alias)
        nowhere = BackupEntry("nosuchalias", "x", str(tmp_path), ())
        with pytest.raises(MissingAliasError):
            client.snapshots(nowhere)
        empty = BackupEntry(alias, "never-backed-up", str(tmp_path), ())
        assert client.snapshots(empty) == []
        with pytest.raises(SnapshotNotFoundError):
            restore.plan(client, empty, None)
    finally:
        client.stop()


def test_survives_losing_n_minus_k_servers_and_fails_clearly_below_k(
    private_harness: GridHarness, tmp_path: Path
) -> None:
    h = private_harness
    client = h.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        files = make_tree(src)
        entry = BackupEntry(alias, "k-of-n", str(src), ())
        client.backup(entry)

        h.take_down(h.servers[0])  # N - K = 1 may go
        one_down = tmp_path / "one-down"
        restore.fetch(client, entry, None, one_down)
        assert read_tree(one_down) == files
        (src / "new-file").write_bytes(b"x" * 5000)  # an upload, not only reused shares
        with pytest.raises((NotEnoughServersError, UnrecoverableError)):
            client.backup(entry)  # 2 servers < shares.happy 3

        h.take_down(h.servers[1])  # fewer than K = 2 left
        too_few = tmp_path / "too-few"
        with pytest.raises(UnrecoverableError):
            restore.fetch(client, entry, None, too_few)
        assert not too_few.exists()  # refused while walking: nothing made
    finally:
        client.stop()


def test_every_session_starts_afresh_and_stop_forgets(harness: GridHarness, tmp_path: Path) -> None:
    """configure() builds a new node; stop() forgets its aliases and backupdb."""
    client = harness.started_client(tmp_path / "node")
    try:
        alias = _alias()
        client.create_alias(alias)
        src = tmp_path / "src"
        make_tree(src)
        entry = BackupEntry(alias, "session", str(src), ())
        client.backup(entry)
        saved = client.read_backupdb()
        assert saved
    finally:
        client.stop()
    assert not client.status().running
    assert client.read_backupdb() is None
    if harness.kind == "tahoe":
        assert not (tmp_path / "node").exists()

    # The next session, from a manifest without that alias: nothing of the last one is left.
    client.configure(harness.manifest({}, []), None)
    assert client.read_backupdb() is None
    client.load_backupdb(saved)
    assert client.read_backupdb() == saved
    client.start(60)
    try:
        with pytest.raises(MissingAliasError):
            client.snapshots(entry)
    finally:
        client.stop()


def test_only_certified_servers_count_for_backups(harness: GridHarness, tmp_path: Path) -> None:
    """With a Grid Manager in the manifest, a server it does not certify (a node of its
    own, joined with a leaked introducer FURL) is connected, counts for restores, and
    takes no backup: readiness says so before an upload finds out.

    Mutation: Status counting connected servers for uploads (as it did) makes the
    uncertified one count: ``can_upload`` and the upload wait then pass.
    """
    # Control: the same servers, no Grid Manager in the manifest: all take backups.
    plain = harness.started_client(tmp_path / "plain")
    try:
        status = plain.status()
        assert not status.grid_managers
        assert status.certified == status.connected == 3
        assert status.can_upload
        alias = _alias()
        cap = plain.create_alias(alias)
    finally:
        plain.stop()
    key = gridmanager.new_private_key()
    certified, uncertified = harness.servers[:2], harness.servers[2]
    grid = harness.certify(certified, key)
    m = validate({"version": 1, "grid": grid, "aliases": {alias: cap}, "backups": []})
    client = harness.new_client(tmp_path / "node")
    client.configure(m, None)
    client.start(60)
    try:
        status = ops.wait_for_servers(client, len(harness.servers), 60)
        assert status.grid_managers
        assert {s.nickname: s.certified for s in status.servers} == {
            **dict.fromkeys(certified, True),
            uncertified: False,
        }
        assert (status.connected, status.certified, status.happy) == (3, 2, 3)
        assert status.can_download and not status.can_upload
        with pytest.raises(NotEnoughServersError, match=r"^2 of 3 needed certified storage"):
            ops.wait_for_servers(client, status.happy, 1, upload=True)
        # Tahoe agrees: a backup's files find 2 servers that take them, 3 needed.
        src = tmp_path / "src"
        make_tree(src)
        with pytest.raises(NotEnoughServersError):
            client.backup(BackupEntry(alias, "b", str(src), ()))
    finally:
        client.stop()
