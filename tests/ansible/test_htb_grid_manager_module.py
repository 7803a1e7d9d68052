"""The htb_grid_manager module, run through ansible-playbook itself on localhost."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from localplay import PLAYBOOK_BIN, REPO, play, results

from htb import gridmanager

pytestmark = pytest.mark.ansible

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
NODE = gridmanager.public_key(gridmanager.new_private_key())


def gm_task(path: Path, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"path": str(path), "kdf_opslimit": 1, "kdf_memlimit_mib": 8}
    body.setdefault("passphrase", PW)
    body.update(params)
    return {"htb_grid_manager": body, "register": "out"}


def run(tmp_path: Path, *tasks: dict[str, Any], args: tuple[str, ...] = ()) -> Any:
    done = play(tmp_path, *tasks, args=args)
    return done, (results(done) if done.stdout.startswith("{") else [])


def test_creates_the_key_sealed_then_changes_nothing(tmp_path: Path) -> None:
    key = tmp_path / "gm" / "grid-manager.key"
    done, (first, second) = run(tmp_path, gm_task(key), gm_task(key))
    assert done.returncode == 0, done.stdout + done.stderr
    assert first["changed"] and first["created"]
    assert not second["changed"]
    assert first["public_key"] == second["public_key"]
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    private = gridmanager.open_key(key.read_bytes(), PW)
    assert gridmanager.public_key(private) == first["public_key"]
    # The key and the passphrase: nowhere in what ansible printed.
    printed = done.stdout + done.stderr
    assert private.removeprefix("priv-v0-") not in printed
    assert PW not in printed


def test_certifies_keeps_and_renews(tmp_path: Path) -> None:
    key = tmp_path / "grid-manager.key"
    done, (_, new) = run(tmp_path, gm_task(key), gm_task(key, node_public_key=NODE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert new["changed"] and new["renewal"] == "none yet"
    public = gridmanager.public_key(gridmanager.open_key(key.read_bytes(), PW))
    cert = gridmanager.verify(public, new["certificate"])
    assert cert.node_public_key == NODE
    assert timedelta(days=89) < cert.expires - datetime.now(UTC) <= timedelta(days=90)

    private = gridmanager.open_key(key.read_bytes(), PW)
    soon = json.dumps(gridmanager.sign(private, NODE, datetime.now(UTC) + timedelta(days=10)))
    expired = json.dumps(gridmanager.sign(private, NODE, datetime.now(UTC) - timedelta(days=1)))
    foreign = json.dumps(
        gridmanager.sign(gridmanager.new_private_key(), NODE, datetime.now(UTC) + timedelta(90))
    )
    other = gridmanager.public_key(gridmanager.new_private_key())
    tasks = [
        gm_task(key, node_public_key=NODE, certificate=new["certificate"]),
        gm_task(key, node_public_key=NODE, certificate=soon),
        gm_task(key, node_public_key=NODE, certificate=expired),
        gm_task(key, node_public_key=NODE, certificate=foreign),
        gm_task(key, node_public_key=other, certificate=new["certificate"]),
    ]
    done, outs = run(tmp_path, *tasks)
    assert done.returncode == 0, done.stdout + done.stderr
    kept, *renewed = outs
    assert not kept["changed"] and kept["certificate"] == new["certificate"]
    assert [r["renewal"] for r in renewed] == [
        "expires within the renewal window",
        "expired",
        "the certificate is not signed by this Grid Manager (foreign or altered)",
        "certifies another node's key",
    ]
    assert all(r["changed"] for r in renewed)


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    key = tmp_path / "grid-manager.key"
    done, (out,) = run(tmp_path, gm_task(key, node_public_key=NODE), args=("--check",))
    assert done.returncode == 0, done.stdout + done.stderr
    assert out["changed"] and out["created"] and out["certificate"] == ""
    assert not key.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"passphrase": PW + " wrong"}, "Grid Manager key file: wrong passphrase"),
        ({"create": False, "path": "missing"}, "no Grid Manager key at"),
        ({"node_public_key": "pub-v0-tcp:10.1.2.3"}, "not a Tahoe public key"),
        ({"node_public_key": NODE, "validity_days": 0}, "validity_days must be 1 to 1825"),
        ({"node_public_key": NODE, "renew_days": 90}, "renew_days must be"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    key = tmp_path / "grid-manager.key"
    done, _ = run(tmp_path, gm_task(key))
    assert done.returncode == 0, done.stdout + done.stderr
    before = key.read_bytes()
    target = tmp_path / "missing.key" if params.get("path") == "missing" else key
    params = {k: v for k, v in params.items() if k != "path"}
    done, (out,) = run(tmp_path, gm_task(target, **params))
    assert done.returncode != 0
    assert out["failed"] and message in out["msg"] and "\n" not in out["msg"]
    assert key.read_bytes() == before
    assert not (tmp_path / "missing.key").exists()


def test_a_sealed_manifest_is_not_taken_for_a_key(tmp_path: Path) -> None:
    from htb.manifest.envelope import TEST_KDF, seal

    key = tmp_path / "grid-manager.key"
    key.write_bytes(seal(b'{"version": 1}', PW, TEST_KDF))
    before = key.read_bytes()
    done, (out,) = run(tmp_path, gm_task(key))
    assert done.returncode != 0
    assert "not a Grid Manager key" in out["msg"]
    assert key.read_bytes() == before


def test_ansible_doc_renders() -> None:
    doc = subprocess.run(
        [
            str(PLAYBOOK_BIN.with_name("ansible-doc")),
            "-M",
            str(REPO / "library"),
            "htb_grid_manager",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "node_public_key" in doc.stdout
