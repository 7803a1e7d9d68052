"""The htb_identity_archive module, run through ansible-playbook itself on localhost."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
from encoded import found
from localplay import PLAYBOOK_BIN, REPO, play, results

from htb import identity
from htb.manifest.envelope import TEST_KDF, seal, unseal

pytestmark = pytest.mark.ansible

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
# Secret-looking bytes that must never be printed: a binary key and a FURL.
TOR_KEY = b"== ed25519v1-secret: type0 ==\x00\x00\x00" + bytes(range(200, 256)) + b"\xff" * 8
SWISSNUM = b"swissnumSWISSNUMswissnum1234"
FURL = b"pb://tubidtubidtubid@tor:abc.onion:3457/" + SWISSNUM + b"\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def node(furl: bytes = FURL) -> dict[str, Any]:
    return {
        "tor": {"tahoe-storage": {"hs_ed25519_secret_key": b64(TOR_KEY)}},
        "tahoe": {"storage": {"private/storage.furl": b64(furl)}},
    }


def archive_task(path: Path, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"path": str(path), "kdf_opslimit": 1, "kdf_memlimit_mib": 8}
    body.setdefault("passphrase", PW)
    body.update(params)
    return {"htb_identity_archive": body, "register": "out"}


def run(tmp_path: Path, *tasks: dict[str, Any], args: tuple[str, ...] = ()) -> Any:
    done = play(tmp_path, *tasks, args=args)
    return done, (results(done) if done.stdout.startswith("{") else [])


def test_seals_merges_and_changes_nothing_the_second_time(tmp_path: Path) -> None:
    archive = tmp_path / "ops" / "identity.sealed"
    gm_key = tmp_path / "grid-manager.key"
    gm_key.write_bytes(b"sealed key bytes")
    done, (first, again, other, changed) = run(
        tmp_path,
        archive_task(archive, hosts={"s1": node()}, grid_manager_key_path=str(gm_key)),
        archive_task(archive, hosts={"s1": node()}, grid_manager_key_path=str(gm_key)),
        # A run that names only another host keeps s1.
        archive_task(archive, hosts={"s2": node(FURL + b"2")}),
        archive_task(archive, hosts={"s1": node(FURL + b"new")}),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert first["changed"] and first["updated"] == ["s1"]
    assert not again["changed"] and again["updated"] == []
    assert other["changed"] and other["hosts"] == ["s1", "s2"] and other["updated"] == ["s2"]
    assert changed["changed"] and changed["updated"] == ["s1"]
    assert archive.stat().st_mode & 0o777 == 0o600
    assert archive.parent.stat().st_mode & 0o777 == 0o700
    hosts, key = identity.open_archive(archive.read_bytes(), PW)
    assert sorted(hosts) == ["s1", "s2"] and key == b"sealed key bytes"
    assert base64.b64decode(hosts["s1"]["tor"]["tahoe-storage"]["hs_ed25519_secret_key"]) == TOR_KEY
    # Nothing of it at rest unsealed, nor in what ansible printed (at -vvv): the
    # swissnum, the onion key and the passphrase, raw or encoded (the archive's JSON
    # holds them base64). Control: the same search finds the swissnum and the key in
    # the JSON the archive seals. Mutation: the envelope's SecretBox encryption made a
    # no-op (the archive still opens; its JSON is in the file) fails this test, where
    # `b"swissnum" not in archive` passed (checked).
    secrets = {"swissnum": SWISSNUM, "onion key": TOR_KEY[-40:], "passphrase": PW.encode()}
    assert found(archive.read_bytes(), secrets) == []
    plain = unseal(archive.read_bytes(), PW)
    assert {hit.split(" as ")[0] for hit in found(plain, secrets)} == {"swissnum", "onion key"}
    done, _ = run(tmp_path, archive_task(archive, hosts={"s1": node()}), args=("-vvv",))
    assert found((done.stdout + done.stderr).encode(), secrets) == []


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "identity.sealed"
    # A first run in check mode: the Grid Manager's key is not there yet either.
    missing_key = str(tmp_path / "grid-manager.key")
    task = archive_task(archive, hosts={"s1": node()}, grid_manager_key_path=missing_key)
    done, (out,) = run(tmp_path, task, args=("--check",))
    assert done.returncode == 0, done.stdout + done.stderr
    assert out["changed"] and not archive.exists()
    done, (out,) = run(tmp_path, task)
    assert done.returncode != 0 and "no Grid Manager key file at" in out["msg"]
    assert not archive.exists()


def test_opens_the_named_hosts_and_puts_the_grid_manager_key_back(tmp_path: Path) -> None:
    archive = tmp_path / "identity.sealed"
    gm_key = tmp_path / "grid-manager.key"
    gm_key.write_bytes(b"sealed key bytes")
    run(
        tmp_path,
        archive_task(
            archive, hosts={"s1": node(), "s2": node()}, grid_manager_key_path=str(gm_key)
        ),
    )
    gm_key.unlink()
    opened = archive_task(
        archive,
        state="opened",
        names=["s2"],
        grid_manager_key_path=str(gm_key),
        restore_grid_manager_key=True,
    )
    done, (first, second) = run(tmp_path, {**opened, "no_log": True}, {**opened, "no_log": True})
    assert done.returncode == 0, done.stdout + done.stderr
    assert gm_key.read_bytes() == b"sealed key bytes"
    assert gm_key.stat().st_mode & 0o777 == 0o600
    assert first["changed"] and not second["changed"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"passphrase": PW + " wrong"}, "identity archive: wrong passphrase"),
        ({"state": "opened", "names": ["s9"]}, "not in the identity archive: s9 (it holds: s1)"),
        ({"state": "opened", "path": "missing"}, "no identity archive at"),
        (
            {"state": "opened", "restore_grid_manager_key": True, "gm": b"another"},
            "differs from the archive's Grid Manager key",
        ),
        ({"hosts": {"../etc": node()}}, "a host name is not a plain name"),
        (
            {"hosts": {"s2": {"tahoe": {"n": {"../../etc/passwd": "AA=="}}}}},
            "not a plain relative path",
        ),
        ({"hosts": {"s2": {"tahoe": {"n": {"node.pem": "not base64!"}}}}}, "is not base64"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    archive = tmp_path / "identity.sealed"
    gm_key = tmp_path / "grid-manager.key"
    gm_key.write_bytes(b"sealed key bytes")
    done, _ = run(
        tmp_path, archive_task(archive, hosts={"s1": node()}, grid_manager_key_path=str(gm_key))
    )
    assert done.returncode == 0, done.stdout + done.stderr
    before = archive.read_bytes()
    if "gm" in params:
        gm_key.write_bytes(params.pop("gm"))
        params["grid_manager_key_path"] = str(gm_key)
    target = tmp_path / "missing.sealed" if params.pop("path", None) == "missing" else archive
    done, (out,) = run(tmp_path, archive_task(target, **params))
    assert done.returncode != 0
    assert out["failed"] and message in out["msg"] and "\n" not in out["msg"], out["msg"]
    assert archive.read_bytes() == before
    assert not (tmp_path / "missing.sealed").exists()


def test_another_sealed_file_is_not_taken_for_an_archive(tmp_path: Path) -> None:
    archive = tmp_path / "identity.sealed"
    archive.write_bytes(seal(b'{"htb": "grid-manager-key"}', PW, TEST_KDF))
    before = archive.read_bytes()
    done, (out,) = run(tmp_path, archive_task(archive, hosts={"s1": node()}))
    assert done.returncode != 0
    assert "not an identity archive" in out["msg"]
    assert archive.read_bytes() == before


def test_ansible_doc_renders() -> None:
    doc = subprocess.run(
        [
            str(PLAYBOOK_BIN.with_name("ansible-doc")),
            "-M",
            str(REPO / "library"),
            "htb_identity_archive",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "identity" in doc.stdout
