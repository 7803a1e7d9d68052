"""The desktop app's GTK-free core, on the in-memory grid: every screen's logic, no GTK."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOTCAP, make_tree, manifest_data, read_tree

from htb import backupdb
from htb.errors import Cancelled
from htb.gui import core
from htb.gui.core import Config, Core
from htb.gui.events import (
    Activity,
    AskNewPassphrase,
    AskReplace,
    BackupProgress,
    BackupsChanged,
    Busy,
    CopyReady,
    Failed,
    Failure,
    Locked,
    RestoreFinished,
    Saved,
    SnapshotList,
    StatusLine,
    Unlocked,
)
from htb.gui.progress import ProgressTracker
from htb.manifest import TEST_KDF, BackupEntry, open_sealed, seal, validate
from htb.testing.memory import MemoryClient, MemoryGrid

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
OWN_PW = "cobweb paprika unsocial tripod glacier sponge ruckus"


class App:
    """A core with an immediate ``post`` and a list of every event it sent."""

    def __init__(self, tmp: Path, installed: Path, grid: MemoryGrid | None = None) -> None:
        self.grid = grid or MemoryGrid()
        self.client = MemoryClient(self.grid)
        self.events: list[object] = []
        config = Config(installed, None, "tcp:127.0.0.1:9050", tmp / "node")
        self.core = Core(
            config,
            lambda f: f(),
            self.events.append,
            client_factory=lambda _c: self.client,
            kdf=TEST_KDF,
            wait=0,
        )

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def activity(self) -> str:
        return self.of(Activity)[-1].text

    def run(self, started: bool) -> None:
        assert started
        self.core.wait_idle()


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    docs = tmp_path / "Persistent" / "Documents"
    files = make_tree(docs)
    data = manifest_data()
    data["backups"] = [{"alias": "docs", "path": "laptop/docs", "local": str(docs)}]
    grid = MemoryGrid()
    grid.dirs[ROOTCAP] = {}
    sealed = seal(validate(data), PW, kdf=TEST_KDF)
    installed = tmp_path / "Persistent" / ".htb" / "manifest.htbm"
    return {"tmp": tmp_path, "docs": docs, "files": files, "data": data, "grid": grid,
            "sealed": sealed, "installed": installed}  # fmt: skip


def _unlocked(setup: dict) -> App:
    setup["installed"].parent.mkdir(parents=True, exist_ok=True)
    setup["installed"].write_bytes(setup["sealed"])
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase=PW, path=setup["installed"]))
    assert app.of(Unlocked), app.events
    return app


def test_unlock_starts_the_node_and_shows_status_and_backups(setup) -> None:
    app = _unlocked(setup)
    assert app.client.running
    (status,) = app.of(StatusLine)
    assert status.text == "Storage servers connected: 3 of 3 (2 needed to restore, 3 to back up)"
    assert status.can_backup
    (backups,) = app.of(BackupsChanged)
    assert backups.last_backup == "never"
    assert backups.rows[0].target == "docs:laptop/docs"
    assert app.of(Busy)[-1] == Busy(None)
    assert app.core.manifest_path == setup["installed"]
    # A poll in the worker, as the view asks every few seconds.
    app.core.poll_status()
    app.core.wait_idle()
    assert len(app.of(StatusLine)) == 2
    assert not [e for e in app.events if PW in repr(e)]


def test_wrong_passphrase_is_one_line_and_its_exit_meaning(setup) -> None:
    setup["installed"].parent.mkdir(parents=True)
    setup["installed"].write_bytes(setup["sealed"])
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase="wrong " + PW, path=setup["installed"]))
    (failed,) = app.of(Failed)
    assert "wrong passphrase" in failed.failure.line
    assert failed.failure.secondary == "exit 3: sealed-file problem"
    assert not app.of(Unlocked)
    assert not app.client.running


def test_pasted_text_is_installed_when_nothing_is_there(setup) -> None:
    from htb.manifest import envelope

    text = envelope.armor(setup["sealed"])
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase=PW, text=text))
    assert app.of(Unlocked)
    assert setup["installed"].stat().st_mode & 0o777 == 0o600
    assert open_sealed(setup["installed"].read_bytes(), PW).manifest.data == setup["data"]


@pytest.mark.parametrize("answer", [True, False])
def test_another_manifest_there_is_replaced_only_when_she_says_so(setup, answer) -> None:
    setup["installed"].parent.mkdir(parents=True)
    setup["installed"].write_bytes(b"something else")
    other = setup["tmp"] / "usb" / "copy.htbm"
    other.parent.mkdir()
    other.write_bytes(setup["sealed"])
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase=PW, path=other))
    assert app.of(AskReplace) == [AskReplace(setup["installed"])]
    assert not app.of(Unlocked)
    assert setup["installed"].read_bytes() == b"something else"
    app.run(app.core.answer_replace(answer))
    assert app.of(Unlocked)
    if answer:
        assert setup["installed"].read_bytes() == setup["sealed"]
        assert app.core.manifest_path == setup["installed"]
    else:
        assert setup["installed"].read_bytes() == b"something else"
        assert app.core.manifest_path == other


def test_an_invitation_becomes_hers_under_her_new_passphrase(setup) -> None:
    data = {**setup["data"], "kind": "invitation", "aliases": {}}
    setup["installed"].parent.mkdir(parents=True)
    setup["installed"].write_bytes(seal(validate(data), PW, kdf=TEST_KDF))
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase=PW, path=setup["installed"]))
    assert app.of(AskNewPassphrase)
    assert not app.of(Unlocked)
    assert core.check_new_passphrase("a", "b") == "The two passphrases differ"
    assert "too weak" in (core.check_new_passphrase("password1", "password1") or "")
    suggested = core.suggest_passphrase()
    assert core.check_new_passphrase(suggested, suggested) is None
    app.run(app.core.join(OWN_PW))
    assert app.of(Unlocked), app.events
    full = open_sealed(setup["installed"].read_bytes(), OWN_PW).manifest
    assert full.kind == "full" and "docs" in full.aliases
    assert not [e for e in app.events if OWN_PW in repr(e) or PW in repr(e)]


def test_backup_progress_done_and_the_saved_backupdb(setup) -> None:
    app = _unlocked(setup)
    app.run(app.core.backup())
    progress = app.of(BackupProgress)
    total = len(setup["files"])
    assert progress[0] == BackupProgress(0, total, 0, sum(map(len, setup["files"].values())))
    assert [p.files_done for p in progress[1:-1]] == list(range(1, total + 1))
    assert progress[-1].text.startswith(f"{total} of {total} files, ")
    assert app.activity() == f"Backup done: {total} files"
    assert app.of(BackupsChanged)[-1].last_backup.endswith(" UTC")
    assert backupdb.path_for(setup["installed"]).is_file()
    assert not app.of(Failed)


def test_cancel_stops_the_backup_and_keeps_the_last_snapshot(setup) -> None:
    app = _unlocked(setup)
    app.run(app.core.backup())
    entry = app.core.manifest.backups[0]
    before = app.client.snapshots(entry)
    (setup["docs"] / "new.txt").write_text("new")

    def cancel_on_progress(event: object) -> None:
        app.events.append(event)
        if isinstance(event, BackupProgress) and event.files_done == 1:
            app.core.cancel()

    app.core._listener = cancel_on_progress
    app.run(app.core.backup())
    assert app.activity() == "Cancelled: the last complete snapshot is unchanged"
    assert not app.of(Failed)
    assert app.client.snapshots(entry) == before
    assert app.core.busy is None


def test_one_long_operation_at_a_time(setup) -> None:
    app = _unlocked(setup)
    app.core._busy = "backup"
    assert not app.core.backup()
    assert "another operation is running" in app.activity()


def test_restore_into_a_chosen_folder_and_overwrite(setup) -> None:
    app = _unlocked(setup)
    app.run(app.core.backup())
    app.core.list_snapshots(0)
    app.core.wait_idle()
    (snaps,) = app.of(SnapshotList)
    assert len(snaps.names) == 1
    folder = setup["tmp"] / "restored"
    assert not core.needs_overwrite(folder)
    app.run(app.core.restore(0, snaps.names[0], folder))
    assert app.of(RestoreFinished) == [RestoreFinished(1)]
    assert app.activity() == "Restored and verified 1 folder"
    assert read_tree(folder) == setup["files"]
    assert core.needs_overwrite(folder)
    # Not empty: refused unless she said Overwrite (then the old copy is kept aside).
    # Mutation: a restore that copies the snapshot over her tree fails here (checked).
    (folder / "a.txt").write_bytes(b"changed since the restore")
    (folder / "hers.txt").write_bytes(b"written since")
    now = read_tree(folder)
    app.run(app.core.restore(0, None, folder))
    assert app.of(Failed)[-1].failure.secondary == "exit 7: restore refused"
    assert read_tree(folder) == now
    app.run(app.core.restore(0, None, folder, overwrite=True))
    assert len(app.of(RestoreFinished)) == 2
    assert read_tree(folder) == setup["files"]
    (kept,) = [p for p in folder.parent.iterdir() if p.name.startswith("restored.htb-previous-")]
    assert read_tree(kept) == now


def test_copy_for_a_friend_and_saving_it(setup) -> None:
    app = _unlocked(setup)
    app.core.make_copy()
    app.core.wait_idle()
    (copy,) = app.of(CopyReady)
    assert open_sealed(copy.armored.encode(), PW).manifest.data == setup["data"]
    assert copy.png is not None and copy.png.startswith(b"\x89PNG")
    target = setup["tmp"] / "usb" / "for-a-friend.htbm"
    app.core.save_copy(target)
    app.core.wait_idle()
    assert app.of(Saved) == [Saved(target)]
    assert target.read_text() == copy.armored
    assert target.stat().st_mode & 0o777 == 0o600


def test_lock_stops_the_node_and_forgets(setup) -> None:
    app = _unlocked(setup)
    app.core.lock()
    app.core.wait_idle()
    assert app.of(Locked)
    assert not app.client.running
    assert app.core.manifest is None and app.core._passphrase is None
    app.core.make_copy()  # nothing to copy any more
    app.core.wait_idle()
    assert not app.of(CopyReady)


def test_lock_during_a_slow_join_ends_locked_with_the_node_stopped(setup) -> None:
    # Found in review: Lock waited for the join, then the join unlocked again after
    # Locked, with the passphrase kept and the node running.
    import threading

    data = {**setup["data"], "kind": "invitation", "aliases": {}}
    setup["installed"].parent.mkdir(parents=True)
    setup["installed"].write_bytes(seal(validate(data), PW, kdf=TEST_KDF))
    app = App(setup["tmp"], setup["installed"], setup["grid"])
    app.run(app.core.unlock(passphrase=PW, path=setup["installed"]))
    joining, release = threading.Event(), threading.Event()
    create_alias = app.client.create_alias

    def slow_create_alias(alias: str) -> str:
        cap = create_alias(alias)
        joining.set()
        release.wait(10)  # the join takes its time on the grid
        return cap

    app.client.create_alias = slow_create_alias  # type: ignore[method-assign]
    app.core.lock_wait = 0.1  # the join outlasts Lock's wait
    assert app.core.join(OWN_PW)
    assert joining.wait(10)
    app.core.lock()
    for _ in range(100):  # Lock done: the node stopped under the join
        if app.of(Locked):
            break
        threading.Event().wait(0.05)
    release.set()
    app.core.wait_idle()
    assert app.of(Locked)
    assert app.events.index(app.of(Locked)[-1]) > max(
        (app.events.index(e) for e in app.of(Unlocked)), default=-1
    )
    assert app.core.manifest is None and app.core._passphrase is None
    assert not app.client.running


def test_tracker_reads_tahoe_backup_lines(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    entry = BackupEntry("docs", "p", str(tmp_path / "src"), ())
    tracker = ProgressTracker.walk([entry])
    tracker.said("[1/1] backing up ...")
    assert tracker.feed(f"uploading '{tmp_path / 'src' / 'a.txt'}'..")
    assert tracker.feed(f"skipping '{tmp_path / 'src' / 'sub' / 'b.bin'}'..")
    assert not tracker.feed(f"skipping '{tmp_path / 'src' / 'sub' / 'b.bin'}'..")  # counted once
    assert not tracker.feed(" creating directory for '/x'")
    assert tracker.feed('uploading "' + str(tmp_path / "src" / "документы" / "заметка.txt") + '"..')
    done = tracker.snapshot
    assert (done.files_done, done.files_total) == (3, len(files))
    assert done.bytes_done == len(files["a.txt"]) + len(files["sub/b.bin"]) + len(
        files["документы/заметка.txt"]
    )


def test_config_from_env(tmp_path: Path) -> None:
    env = {"HTB_MANIFEST": str(tmp_path / "m"), "HTB_NODE_DIR": str(tmp_path / "n")}
    config = Config.from_env(env)
    assert config.manifest_path == tmp_path / "m"
    assert config.node_dir == tmp_path / "n"
    assert config.socks_port == "tcp:127.0.0.1:9050"
    assert config.tahoe is None
    assert Config.from_env({"HTB_TOR_SOCKS_PORT": "tcp:127.0.0.1:9150"}).socks_port.endswith("9150")


def test_failure_meanings() -> None:
    failure = Failure.of(Cancelled())
    assert failure.secondary == "exit 130: interrupted"
    assert Failure.of(OSError(28, "No space left on device")).code == 1


def test_tracker_counts_every_file_of_a_real_backup(harness, tmp_path: Path) -> None:
    """The per-file lines of both clients (`tahoe backup -v` on the real grid) add up."""
    client = harness.started_client(tmp_path / "node")
    try:
        src = tmp_path / "src"
        files = make_tree(src)
        (src / "skip.tmp").write_bytes(b"x")
        entry = BackupEntry("gui", "progress", str(src), ("*.tmp",))
        client.create_alias(entry.alias)
        tracker = ProgressTracker.walk([entry])
        tracker.said("[1/1] backing up ...")
        client.backup(entry, tracker.feed)
        done = tracker.snapshot
        assert (done.files_done, done.files_total) == (len(files), len(files))
        assert done.bytes_done == done.bytes_total == sum(map(len, files.values()))
        # A second backup: tahoe skips what its backupdb knows; each file still counts.
        again = ProgressTracker.walk([entry])
        again.said("[1/1] backing up ...")
        client.backup(entry, again.feed)
        assert again.snapshot.files_done == len(files)
    finally:
        client.stop()
