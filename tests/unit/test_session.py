"""htb.session on the in-memory grid: the operations the CLI and the desktop app share."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_tree, manifest_data

from htb import backupdb, session
from htb.errors import Cancelled, GridError, ManifestInvalidError, WrongPassphraseError
from htb.manifest import TEST_KDF, BackupEntry, envelope, open_sealed, seal, validate
from htb.testing.memory import MemoryClient, MemoryGrid

OPERATOR_PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
OWN_PW = "cobweb paprika unsocial tripod glacier sponge ruckus"
LOOPBACK = "pb://aaaa@tcp:127.0.0.1:4/intro"


def _invitation(tmp: Path) -> tuple[Path, Path]:
    docs = tmp / "docs"
    make_tree(docs)
    data = manifest_data(kind="invitation", aliases={})
    data["grid"]["introducers"] = {"default": {"furl": LOOPBACK}}
    data["backups"] = [{"alias": "docs", "path": "laptop/docs", "local": str(docs)}]
    path = tmp / "m.htbm"
    path.write_bytes(seal(validate(data), OPERATOR_PW, armored=True, kdf=TEST_KDF))
    return path, docs


def test_join_start_backup_and_the_saved_backupdb(tmp_path: Path) -> None:
    path, _docs = _invitation(tmp_path)
    said: list[str] = []
    invitation = session.open_file(path, OPERATOR_PW, say=said.append)
    assert said == [session.OPENING]
    assert invitation.manifest.is_invitation
    client = MemoryClient(MemoryGrid())
    tor = session.tor_settings(invitation.manifest, unsafe_no_tor=True)
    assert tor is None
    full = session.join(client, invitation, OWN_PW, path, tor, kdf=TEST_KDF, wait=0)
    opened = session.open_text(path.read_text(), OWN_PW)
    assert opened.form == "armored"  # the invitation's form is kept
    assert opened.manifest.data == full.data
    assert client.status().running

    session.backup(client, full, path, full.backups, wait=0)
    assert backupdb.path_for(path).is_file()
    # A new session: the node gets the backupdb the last one saved.
    laptop = MemoryClient(client.grid)
    session.start(laptop, full, path, tor, wait=0)
    assert laptop.status().running
    assert laptop.read_backupdb() == client.read_backupdb()
    session.stop(laptop)
    assert not laptop.status().running


def test_open_text_wrong_passphrase_and_describe_error(tmp_path: Path) -> None:
    path, _ = _invitation(tmp_path)
    with pytest.raises(WrongPassphraseError) as caught:
        session.open_text(path.read_text(), OWN_PW)
    line, code = session.describe_error(caught.value)
    assert code == 3
    assert "\n" not in line
    assert session.describe_error(Cancelled()) == (
        "cancelled: the last complete snapshot is unchanged",
        130,
    )
    assert session.describe_error(FileNotFoundError(2, "No such file", "/x")) == (
        "/x: No such file",
        1,
    )
    assert session.describe_error(ValueError("secret")) == (
        "internal error (ValueError); please report it",
        1,
    )


def test_tor_settings_refuse_a_clear_net_grid() -> None:
    data = manifest_data()
    data["grid"]["introducers"] = {"default": {"furl": "pb://aaaa@tcp:example.org:4/intro"}}
    with pytest.raises(GridError, match="non-onion"):
        session.tor_settings(validate(data))
    onion = session.tor_settings(validate(manifest_data()), "tcp:127.0.0.1:9150")
    assert onion is not None and onion.socks_port == "tcp:127.0.0.1:9150"


def test_export_and_qr(tmp_path: Path) -> None:
    manifest = validate(manifest_data())
    copy = session.export(manifest, OWN_PW, kdf=TEST_KDF)
    assert envelope.dearmor(copy.armored.encode()) == copy.blob
    assert open_sealed(copy.blob, OWN_PW).manifest.data == manifest.data
    assert session.qr_png(copy.armored).startswith(b"\x89PNG")
    with pytest.raises(ManifestInvalidError, match="too large for one QR code"):
        session.qr_png("x" * 5000)
    with pytest.raises(ManifestInvalidError, match="invitation"):
        session.export(validate(manifest_data(kind="invitation", aliases={})), OWN_PW)


def test_local_totals_leave_out_the_excludes(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    (tmp_path / "src" / "skip.tmp").write_bytes(b"x")
    (tmp_path / "src" / "cache").mkdir()
    (tmp_path / "src" / "cache" / "big").write_bytes(b"y" * 100)
    entry = BackupEntry("docs", "p", str(tmp_path / "src"), ("*.tmp", "cache"))
    assert session.local_totals(entry) == {k: len(v) for k, v in files.items()}


def test_snapshot_time() -> None:
    assert session.snapshot_time("2026-01-02_03:04:05Z") == "2026-01-02T03:04:05Z"
    assert session.snapshot_time("junk") is None
