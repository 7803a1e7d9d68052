"""The htb_bundle module, run through ansible-playbook itself on localhost, with real gpg."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localplay import PLAYBOOK_BIN, REPO, play, results
from unit.test_bundle import PY, kill_agent, make_wheelhouse, new_key

pytestmark = pytest.mark.ansible


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = tmp_path_factory.mktemp("inputs")
    home = base / "gpg"
    fpr = new_key(home, "HTB module test operator <operator@example.invalid>")
    yield {
        "version": "1.0",
        "wheelhouse": str(make_wheelhouse(base / "wh")),
        "fingerprint": fpr,
        "gnupg_home": str(home),
        "python_version": PY,
    }
    kill_agent(home)


def task(inputs: dict[str, str], dest: Path, **params: Any) -> dict[str, Any]:
    return {"htb_bundle": {**inputs, "dest": str(dest), **params}, "register": "out"}


def test_check_mode_then_build_then_nothing(tmp_path: Path, inputs: dict[str, str]) -> None:
    dest = tmp_path / "bundles"
    done = play(tmp_path, task(inputs, dest), args=("--check",))
    assert done.returncode == 0, done.stdout + done.stderr
    (checked,) = results(done)
    assert checked["changed"] and checked["signed"] and not dest.exists()

    done = play(tmp_path, task(inputs, dest), task(inputs, dest))
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = results(done)
    assert first["changed"] and first["signed"]
    assert not second["changed"] and not second["signed"]
    run = dest / "htb-1.0.run"
    assert first["path"] == str(run) and first["signature"] == str(run) + ".sig"
    assert first["version"] == "1.0"
    assert first["key"] == str(dest / "operator.gpg") and Path(first["key"]).is_file()
    assert first["sha256"] == checked["sha256"] == second["sha256"]
    assert first["python_version"] == PY
    assert run.stat().st_mode & 0o777 == 0o644  # public: no invitation, no secret
    assert dest.stat().st_mode & 0o777 == 0o700

    # A missing or broken signature: signed again (and only that).
    sig = Path(first["signature"])
    before = run.read_bytes()
    sig.write_bytes(b"broken")
    done = play(tmp_path, task(inputs, dest), args=("--check",))
    (out,) = results(done)
    assert out["changed"] and out["signed"] and sig.read_bytes() == b"broken"
    done = play(tmp_path, task(inputs, dest))
    (out,) = results(done)
    assert out["changed"] and out["signed"]
    assert run.read_bytes() == before and sig.read_bytes() != b"broken"
    gpg = ["gpg", "--batch", "--homedir", inputs["gnupg_home"], "--verify", str(sig), str(run)]
    assert subprocess.run(gpg, capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fingerprint": "not-a-fingerprint"}, "full fingerprint"),
        ({"fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567"}, "no public key"),
        ({"wheelhouse": "/nonexistent/wh.tar"}, "cannot read the wheelhouse"),
        ({"version": "1.0/../x"}, "not a release version"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, inputs: dict[str, str], params: dict[str, str], message: str
) -> None:
    dest = tmp_path / "bundles"
    done = play(tmp_path, task(inputs, dest, **params))
    assert done.returncode != 0
    (out,) = results(done)
    assert out["failed"] and message in out["msg"] and "\n" not in out["msg"]
    assert not (dest / "htb-1.0.run.sig").exists()


def test_ansible_doc_renders() -> None:
    doc = subprocess.run(
        [str(PLAYBOOK_BIN.with_name("ansible-doc")), "-M", str(REPO / "library"), "htb_bundle"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "fingerprint" in doc.stdout and "python_version" in doc.stdout


def test_the_role_builds_one_release_bundle_and_operator_gpg_then_nothing(
    tmp_path: Path, inputs: dict[str, str]
) -> None:
    out = tmp_path / "bundles"
    role = {
        "ansible.builtin.include_role": {"name": "activist_bundle"},
        "vars": {
            # Activists as an inventory has them: the bundle is one for all of them.
            "activist_manifests_activists": [{"name": "alice", "backups": []}, {"name": "bob"}],
            "activist_bundle_version": "1.0",
            "activist_bundle_dir": str(out),
            "activist_bundle_wheelhouse_archive": inputs["wheelhouse"],
            "activist_bundle_python_version": PY,
            "activist_bundle_operator_fingerprint": inputs["fingerprint"],
            "activist_bundle_gnupg_home": inputs["gnupg_home"],
        },
    }
    out.mkdir(mode=0o700)
    (out / "operator.asc").write_text("left by an earlier version\n")
    first = play(tmp_path, role, callback="default")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=2" in first.stdout  # operator.asc removed; the bundle, operator.gpg
    assert sorted(p.name for p in out.iterdir()) == [
        "htb-1.0.run",
        "htb-1.0.run.sig",
        "operator.gpg",
    ]
    sig = (out / "htb-1.0.run.sig").read_bytes()
    key = out / "operator.gpg"
    assert key.stat().st_mode & 0o777 == 0o644
    shown = subprocess.run(
        ["gpg", "--batch", "--homedir", inputs["gnupg_home"], "--with-colons", "--show-keys",
         str(key)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert [ln.split(":")[9] for ln in shown.splitlines() if ln.startswith("fpr:")] == [
        inputs["fingerprint"]
    ]
    again = play(tmp_path, role, callback="default")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout
    # Same inputs, same bytes: not signed again (an OpenPGP signature is not deterministic).
    assert (out / "htb-1.0.run.sig").read_bytes() == sig
