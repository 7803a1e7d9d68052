"""The htb_manifest module, run through ansible-playbook itself on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
from conftest import ONION_FURL, ROOTCAP, manifest_data
from localplay import PLAYBOOK_BIN, play, results

from htb.manifest import read_sealed

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
CHEAP = {"kdf_opslimit": 1, "kdf_memlimit_mib": 8}


def seal_task(path: Path, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"path": str(path), **CHEAP}
    body.setdefault("manifest", manifest_data())
    if "passphrase_file" not in params and "generate_passphrase" not in params:
        body["passphrase"] = PW
    body.update(params)
    body = {k: v for k, v in body.items() if v is not None}
    return {"htb_manifest": body}


def test_changed_then_ok_and_private(tmp_path: Path) -> None:
    target = tmp_path / "m" / "alice.htbm"
    first, second = results(play(tmp_path, seal_task(target), seal_task(target)))
    assert first["changed"] is True
    assert first["changed_fields"] == sorted(manifest_data())
    assert second["changed"] is False
    assert second["changed_fields"] == []
    assert first["sha256"] == second["sha256"]
    assert target.stat().st_mode & 0o777 == 0o600
    assert read_sealed(target, PW).manifest.data == manifest_data()


def test_htb_cli_and_module_read_each_other(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(manifest_data()))
    by_cli = tmp_path / "cli.htbm"
    env = {**os.environ, "HTB_PASSPHRASE": PW}
    htb = [sys.executable, "-m", "htb"]
    cheap = ["--kdf-opslimit", "1", "--kdf-memlimit", "8"]
    subprocess.run([*htb, "seal", str(plain), "-o", str(by_cli), *cheap], env=env, check=True)
    # Same content, form and cost: the module leaves the CLI's file alone.
    (kept,) = results(play(tmp_path, seal_task(by_cli)))
    assert kept["changed"] is False

    by_module = tmp_path / "module.htbm.asc"
    results(play(tmp_path, seal_task(by_module, armor=True)))
    assert by_module.read_text().startswith("-----BEGIN HTB SEALED MANIFEST-----")
    out = subprocess.run(
        [*htb, "unseal", str(by_module)], env=env, check=True, capture_output=True
    ).stdout
    assert json.loads(out) == manifest_data()


def test_generated_passphrase_is_stored_not_returned_and_reused(tmp_path: Path) -> None:
    target, pfile = tmp_path / "bob.htbm", tmp_path / "bob.passphrase"
    task = seal_task(target, passphrase_file=str(pfile), generate_passphrase=True)
    first, second = results(play(tmp_path, task, task))
    secret = pfile.read_text().strip()
    assert pfile.stat().st_mode & 0o777 == 0o600
    assert "passphrase" not in first  # return_passphrase defaults to false
    assert first["passphrase_file"] == str(pfile)
    assert secret not in json.dumps(first)
    assert len(secret.split()) == 7
    # Counted, not estimated (an estimator gave 77.5 for one such draw in a CI run):
    # 7 x log2(7776). Mutation: the module rating it with passphrase.check -> flaky, lower.
    assert first["passphrase_bits"] == 90.5
    assert first["changed"] is True
    assert second["changed"] is False
    assert "passphrase" not in second
    assert read_sealed(target, secret).manifest.data == manifest_data()


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    """Verbose, diff and check mode, with no task-level no_log: still nothing secret."""
    target = tmp_path / "c.htbm"
    gen = tmp_path / "gen.htbm"
    changed_aliases = manifest_data(aliases={"docs": ROOTCAP, "more": ROOTCAP[:-1] + "c"})
    run = play(
        tmp_path,
        seal_task(target),
        seal_task(target, manifest=changed_aliases),
        seal_task(gen, generate_passphrase=True, return_passphrase=True)
        | {"no_log": True, "register": "generated"},
        args=("-vvv", "--diff"),
        callback="default",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    text = run.stdout + run.stderr
    assert "changed_fields" in text
    for secret in (PW, ROOTCAP, changed_aliases["aliases"]["more"], "@tor:", "URI:DIR2"):
        assert secret not in text
    check = play(tmp_path, seal_task(tmp_path / "d.htbm"), args=("--check", "--diff", "-vvv"))
    assert PW not in check.stdout + check.stderr
    assert not (tmp_path / "d.htbm").exists()


def test_check_mode_and_diff_name_fields_only(tmp_path: Path) -> None:
    target = tmp_path / "e.htbm"
    results(play(tmp_path, seal_task(target)))
    before = target.read_bytes()
    more = manifest_data(description="work laptop")
    (res,) = results(play(tmp_path, seal_task(target, manifest=more), args=("--check", "--diff")))
    assert res["changed"] is True
    assert res["changed_fields"] == ["description"]
    assert res["diff"]["after"]["changed_fields"] == ["description"]
    assert "work laptop" not in json.dumps(res)
    assert target.read_bytes() == before


def test_other_passphrase_refused_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "f.htbm"
    results(play(tmp_path, seal_task(target)))
    before = target.read_bytes()
    other = "gravity unsalted pushcart dreamboat ultimate elbow trapeze"
    run = play(tmp_path, seal_task(target, passphrase=other))
    (res,) = results(run)
    assert run.returncode != 0
    assert "does not open with this passphrase" in res["msg"]
    assert "force" in res["msg"]
    assert target.read_bytes() == before
    (forced,) = results(play(tmp_path, seal_task(target, passphrase=other, force=True)))
    assert forced["changed"] is True
    assert read_sealed(target, other).manifest.data == manifest_data()


def test_invalid_field_and_weak_passphrase_are_named(tmp_path: Path) -> None:
    bad = manifest_data()
    bad["backups"][0]["local"] = "relative/dir"
    run = play(
        tmp_path,
        seal_task(tmp_path / "g.htbm", manifest=bad) | {"ignore_errors": True},
        seal_task(tmp_path / "h.htbm", passphrase="password1") | {"ignore_errors": True},
    )
    invalid, weak = results(run)
    assert "backups[0].local" in invalid["msg"]
    assert "too weak" in weak["msg"]
    assert not (tmp_path / "g.htbm").exists()
    assert not (tmp_path / "h.htbm").exists()


TCP_SWISS = "tcpswissnumsecret" + "q" * 15
TCP_FURL = f"pb://{'a' * 32}@tcp:203.0.113.7:3457/{TCP_SWISS}"
TCP_NURL = f"pb://{'h' * 43}@203.0.113.7:3458/{TCP_SWISS}#v=1"
NOT_ONION = (
    "manifest grid has a non-onion connection hint ({}): htb joins only onion grids, "
    "where no server's or client's address is revealed"
)


def _refused_manifests() -> list[tuple[dict[str, Any], str]]:
    too_many = manifest_data()
    too_many["grid"]["shares"]["total"] = 300
    clearnet = manifest_data()
    clearnet["grid"]["introducers"]["default"]["furl"] = TCP_FURL
    nurl = manifest_data()
    ann = {"anonymous-storage-FURL": ONION_FURL, "anonymous-storage-NURLs": [TCP_NURL]}
    nurl["grid"]["servers"] = {"v0-" + "k" * 52: {"ann": ann}}
    return [
        (too_many, "manifest field grid.shares.total: must be at most 256"),
        (
            manifest_data(kind="invitation"),
            "manifest field aliases: an invitation holds no capability (aliases must be {})",
        ),
        (clearnet, NOT_ONION.format("tcp:203.0.113.7:3457")),
        (nurl, NOT_ONION.format("tcp:203.0.113.7:3458")),
    ]


def test_refuses_what_htb_refuses_in_htbs_words_whole(tmp_path: Path) -> None:
    """A clearnet FURL or NURL is refused as `htb start` refuses it; every message whole.

    Mutations: leaving Ansible's mask of every leaf of ``manifest`` (the module's
    ``no_log_values`` untouched) gives "at most ********56" and "an ******** holds";
    dropping ``manifest.require_onion_only()`` from the module seals the last two.
    """
    cases = _refused_manifests()
    tasks = [
        seal_task(tmp_path / f"r{i}.htbm", manifest=m) | {"ignore_errors": True}
        for i, (m, _) in enumerate(cases)
    ]
    for i, (res, (_, message)) in enumerate(
        zip(results(play(tmp_path, *tasks)), cases, strict=True)
    ):
        assert res["failed"] is True
        assert res["msg"] == message
        assert "********" not in res["msg"]
        assert not (tmp_path / f"r{i}.htbm").exists()
    # With -vvv the echoed invocation shows no secret of the refused manifests (the
    # search finds the refusals themselves in the same output).
    run = play(tmp_path, *tasks, args=("-vvv",), callback="default")
    text = run.stdout + run.stderr
    assert NOT_ONION.format("tcp:203.0.113.7:3458") in text
    for secret in (ROOTCAP, TCP_SWISS, ONION_FURL):
        assert secret not in text


def test_htb_start_refuses_the_same_with_the_same_line(tmp_path: Path) -> None:
    """What the module refuses to seal, `htb seal` seals and `htb start` refuses (exit 6)."""
    env = {**os.environ, "HTB_PASSPHRASE": PW, "HTB_NODE_DIR": str(tmp_path / "node")}
    htb = [sys.executable, "-m", "htb"]
    for i, (data, message) in enumerate(_refused_manifests()[2:]):
        plain, sealed = tmp_path / f"p{i}.json", tmp_path / f"s{i}.htbm"
        plain.write_text(json.dumps(data))
        cheap = ["--kdf-opslimit", "1", "--kdf-memlimit", "8"]
        subprocess.run([*htb, "seal", str(plain), "-o", str(sealed), *cheap], env=env, check=True)
        start = subprocess.run(
            [*htb, "start", "-m", str(sealed)], env=env, capture_output=True, text=True
        )
        assert start.returncode == 6
        assert start.stderr.strip().splitlines()[-1] == f"htb: error: {message}"
        assert not (tmp_path / "node").exists()


def test_absent(tmp_path: Path) -> None:
    target = tmp_path / "i.htbm"
    results(play(tmp_path, seal_task(target)))
    gone = {"htb_manifest": {"path": str(target), "state": "absent"}}
    first, second = results(play(tmp_path, gone, gone))
    assert (first["changed"], second["changed"]) == (True, False)
    assert not target.exists()


def test_missing_pynacl_is_a_clear_error(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    run = play(tmp_path, seal_task(tmp_path / "j.htbm"), interpreter=str(bare / "bin" / "python"))
    (res,) = results(run)
    assert run.returncode != 0
    assert "PyNaCl" in res["msg"]


def test_ansible_doc_renders() -> None:
    doc = subprocess.run(
        [str(PLAYBOOK_BIN.with_name("ansible-doc")), "-M", str(REPO / "library"), "htb_manifest"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "PAGER": "cat"},
    ).stdout
    for word in ("generate_passphrase", "EXAMPLES", "RETURN VALUES", "check_mode"):
        assert word in doc


def test_backup_keeps_the_replaced_file_only(tmp_path: Path) -> None:
    target = tmp_path / "k.htbm"
    results(play(tmp_path, seal_task(target)))
    old = target.read_bytes()
    more = manifest_data(description="work laptop")
    other = "gravity unsalted pushcart dreamboat ultimate elbow trapeze"
    kept, checked, resealed = results(
        play(
            tmp_path,
            seal_task(target, backup=True),
            seal_task(target, manifest=more, backup=True) | {"check_mode": True},
            seal_task(target, manifest=more, backup=True),
        )
    )
    # Nothing replaced (or only in check mode): no copy.
    assert kept["changed"] is False
    assert "backup_file" not in kept
    assert checked["changed"] is True
    assert "backup_file" not in checked
    assert resealed["changed"] is True
    backup = Path(resealed["backup_file"])
    assert backup.parent == tmp_path
    assert backup.name.startswith("k.htbm.")
    assert backup.read_bytes() == old
    assert backup.stat().st_mode & 0o777 == 0o600
    assert read_sealed(backup, PW).manifest.data == manifest_data()
    assert read_sealed(target, PW).manifest.data == more
    # force replacing a file sealed under another passphrase keeps it too.
    before = target.read_bytes()
    (forced,) = results(
        play(tmp_path, seal_task(target, passphrase=other, force=True, backup=True))
    )
    assert Path(forced["backup_file"]).read_bytes() == before
    assert len(list(tmp_path.glob("k.htbm.*~"))) == 2


def test_passphrase_returned_only_when_asked_and_never_shown(tmp_path: Path) -> None:
    kept, returned = tmp_path / "kept.passphrase", tmp_path / "returned.passphrase"
    run = play(
        tmp_path,
        # Stored, not returned; no task-level no_log.
        seal_task(tmp_path / "l.htbm", passphrase_file=str(kept), generate_passphrase=True)
        | {"register": "stored"},
        {
            "ansible.builtin.assert": {
                "that": ["'passphrase' not in stored", "stored.passphrase_file is defined"]
            }
        },
        # Returned, with no_log: usable by the next task, shown nowhere.
        seal_task(tmp_path / "m.htbm", generate_passphrase=True, return_passphrase=True)
        | {"no_log": True, "register": "generated"},
        {
            "ansible.builtin.copy": {
                "content": "{{ generated.passphrase }}\n",
                "dest": str(returned),
                "mode": "0600",
            },
            "no_log": True,
        },
        args=("-vvv", "--diff"),
        callback="default",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    text = run.stdout + run.stderr
    secrets = [kept.read_text().strip(), returned.read_text().strip()]
    for secret in secrets:
        assert len(secret.split()) == 7
        assert secret not in text
        # Not even one word-pair of it (no partial echo).
        assert " ".join(secret.split()[:2]) not in text
    assert read_sealed(tmp_path / "m.htbm", secrets[1]).manifest.data == manifest_data()


def test_returned_passphrase_needs_no_log_and_is_never_lost(tmp_path: Path) -> None:
    run = play(
        tmp_path,
        seal_task(tmp_path / "n.htbm", generate_passphrase=True, return_passphrase=True)
        | {"ignore_errors": True},
        seal_task(tmp_path / "o.htbm", generate_passphrase=True) | {"ignore_errors": True},
        seal_task(tmp_path / "p.htbm", generate_passphrase=True, return_passphrase=True)
        | {"no_log": True, "check_mode": True},
        # Only with no_target_syslog off can the module tell that the task lacks no_log.
        extra_env={"ANSIBLE_NO_TARGET_SYSLOG": "False"},
    )
    without_no_log, lost, checked = results(run)
    assert "no_log" in without_no_log["msg"]
    assert "passphrase_file" in lost["msg"]
    assert not list(tmp_path.glob("[nop].htbm"))
    assert checked["changed"] is True
    assert "passphrase" not in checked  # nothing sealed with it: not returned


def _qr_png(text: str) -> bytes:
    """What `htb export --qr` draws: the module draws with htb's one QR writer."""
    from htb.qr import qr_png

    return qr_png(text)


def test_qr_code_of_the_armored_form(tmp_path: Path) -> None:
    target, qr = tmp_path / "q.htbm.asc", tmp_path / "q.png"
    task = seal_task(target, armor=True, qr_path=str(qr))
    (checked,) = results(play(tmp_path, task, args=("--check", "--diff")))
    assert checked["changed"] is True
    assert checked["qr_changed"] is True
    assert checked["diff"]["before"]["qr"] == "absent"
    assert not target.exists()
    assert not qr.exists()

    first, second = results(play(tmp_path, task, task))
    assert (first["changed"], first["qr_changed"]) == (True, True)
    assert (second["changed"], second["qr_changed"]) == (False, False)
    png = qr.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == _qr_png(target.read_text())
    assert qr.stat().st_mode & 0o777 == 0o600
    assert first["qr_path"] == str(qr)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".q.png")]

    # A missing code is drawn again, the manifest left alone; a reseal redraws it.
    qr.unlink()
    more = manifest_data(description="work laptop")
    missing, checked_reseal, resealed = results(
        play(
            tmp_path,
            task,
            seal_task(target, armor=True, qr_path=str(qr), manifest=more) | {"check_mode": True},
            seal_task(target, armor=True, qr_path=str(qr), manifest=more, mode="0640"),
        )
    )
    assert missing["changed"] is True
    assert missing["qr_changed"] is True
    assert missing["sha256"] == first["sha256"]
    assert qr.read_bytes() != png
    assert qr.read_bytes() == _qr_png(target.read_text())
    assert checked_reseal["qr_changed"] is True
    assert resealed["qr_changed"] is True
    assert qr.stat().st_mode & 0o777 == 0o640

    # state absent removes the code with the manifest.
    gone = {"htb_manifest": {"path": str(target), "qr_path": str(qr), "state": "absent"}}
    removed, again = results(play(tmp_path, gone, gone))
    assert (removed["changed"], removed["qr_changed"]) == (True, True)
    assert (again["changed"], again["qr_changed"]) == (False, False)
    assert not qr.exists()


def test_qr_code_needs_the_armored_form(tmp_path: Path) -> None:
    run = play(tmp_path, seal_task(tmp_path / "r.htbm", qr_path=str(tmp_path / "r.png")))
    (res,) = results(run)
    assert run.returncode != 0
    assert "qr_path needs armor: true" in res["msg"]
    assert not (tmp_path / "r.htbm").exists()
    assert not (tmp_path / "r.png").exists()


def test_activist_manifests_role_draws_the_qr_code_idempotently(tmp_path: Path) -> None:
    out = tmp_path / "out"
    seal = {
        "ansible.builtin.include_role": {"name": "activist_manifests", "tasks_from": "seal"},
        "vars": {
            "activist_manifests_dir": str(out),
            "activist_manifests_kdf_opslimit": 1,
            "activist_manifests_kdf_memlimit_mib": 8,
            "activist_manifests_grid": {
                "introducers": manifest_data()["grid"]["introducers"],
                "servers": {},
            },
            "activist": {"name": "alice", "backups": manifest_data()["backups"]},
        },
    }
    first = play(tmp_path, seal, callback="default")
    assert first.returncode == 0, first.stdout + first.stderr
    png = (out / "alice.png").read_bytes()
    assert png == _qr_png((out / "alice.htbm.asc").read_text())
    assert (out / "alice.png").stat().st_mode & 0o777 == 0o600
    second = play(tmp_path, seal, callback="default")
    assert "changed=0" in second.stdout
    assert (out / "alice.png").read_bytes() == png
    passphrase = (out / "alice.passphrase").read_text().strip()
    assert passphrase not in first.stdout + first.stderr
    # activist_manifests_qr false: no code drawn.
    (out / "alice.png").unlink()
    off = seal | {"vars": seal["vars"] | {"activist_manifests_qr": False}}
    third = play(tmp_path, off, callback="default")
    assert "changed=0" in third.stdout
    assert not (out / "alice.png").exists()
