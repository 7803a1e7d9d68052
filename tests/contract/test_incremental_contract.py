"""Incremental backups (issue 25, item 4): the top directory's mode on every snapshot.

The real client records the mode only when it differs from the one on ``Latest``
(`tahoe backup` relinks ``Latest`` keeping its metadata; an archived snapshot without
one has the last recorded before it): these run against the in-memory grid and a
real Tahoe grid.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from conftest import GridHarness, make_tree

from htb import restore
from htb.manifest import BackupEntry

_names = itertools.count()


def _backup_next_second(client: object, entry: BackupEntry, before: list[str]) -> str:
    """Back up; a snapshot is named by the second, so wait for a new one; its name."""
    while True:
        client.backup(entry)  # type: ignore[attr-defined]
        names: list[str] = client.snapshots(entry)  # type: ignore[attr-defined]
        if len(names) > len(before):
            return names[-1]
        time.sleep(0.2)  # same second as the last one: Tahoe replaced that snapshot


def test_every_snapshot_keeps_its_top_mode_across_incremental_backups(
    harness: GridHarness, tmp_path: Path
) -> None:
    # Fails if Latest is never relinked with the new mode (the chmod below is lost), if
    # `tahoe backup` dropped the link's metadata while htb skips an unchanged one, or if
    # an archived snapshot without a mode did not take the last one recorded before it
    # (second and fourth: None).
    client = harness.started_client(tmp_path / "node")
    src = tmp_path / "src"
    make_tree(src)
    entry = BackupEntry(f"i{next(_names)}", "laptop/src", str(src), ())
    try:
        client.create_alias(entry.alias)
        src.chmod(0o750)
        first = _backup_next_second(client, entry, [])
        (src / "a.txt").write_text("changed\n")
        second = _backup_next_second(client, entry, [first])
        assert restore.plan(client, entry, None).top_mode == 0o750  # unchanged: kept
        src.chmod(0o700)
        (src / "a.txt").write_text("changed again\n")
        third = _backup_next_second(client, entry, [first, second])
        assert restore.plan(client, entry, None).top_mode == 0o700  # changed: followed
        (src / "a.txt").write_text("and again\n")
        fourth = _backup_next_second(client, entry, [first, second, third])
        assert restore.plan(client, entry, None).top_mode == 0o700
        names = (first, second, third, fourth)
        modes = [restore.plan(client, entry, name).top_mode for name in names]
        assert modes == [0o750, 0o750, 0o700, 0o700]
    finally:
        client.stop()
        src.chmod(0o700)
