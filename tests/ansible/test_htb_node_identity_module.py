"""The htb_node_identity module, run through ansible-playbook itself on localhost."""

from __future__ import annotations

import base64
import grp
import pwd
import subprocess
from pathlib import Path
from typing import Any

import pytest
from localplay import PLAYBOOK_BIN, REPO, play, results

pytestmark = pytest.mark.ansible

# Tor's key file: a text header, then binary - NUL bytes and bytes that are not UTF-8.
SECRET_KEY = b"== ed25519v1-secret: type0 ==\x00\x00\x00" + bytes(range(256)) + b"\xff\xfe\x80"
PUBLIC_KEY = b"== ed25519v1-public: type0 ==\x00\x00\x00" + bytes(range(32))
HOSTNAME = b"k2fnzp5cfvscnvbxyv6xhh7kq3spl4l4l6nyb3yuwbntlexm2mhq2xid.onion\n"
# A distinctive swissnum, to look for in what ansible prints.
MARKER = "swissnum-zq8marker4htb"
TAHOE = {
    "private/node.pem": b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n"
    b"-----END PRIVATE KEY-----\n",
    "private/node.privkey": b"priv-v0-ifgxsdq3vtmrwfd4ykd4ok2qmfqzjw6xpbz7nbsnqlnkgsqccszq\n",
    "node.pubkey": b"pub-v0-ywtp6g5252he245dh4tbipcvz2wrqb45cjngleab4vgzoghx3ima\n",
    "private/storage.furl": f"pb://abcdefgh@tor:x.onion:3457/{MARKER}\n".encode(),
}
NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_tree(base: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)


def tor_dir(tmp_path: Path) -> Path:
    onion = tmp_path / "onion"
    write_tree(
        onion / "storage",
        {
            "hs_ed25519_secret_key": SECRET_KEY,
            "hs_ed25519_public_key": PUBLIC_KEY,
            "hostname": HOSTNAME,
            "authorized_clients/alice.auth": b"not identity",
        },
    )
    write_tree(onion / "nokey", {"hostname": HOSTNAME, "hs_ed25519_public_key": PUBLIC_KEY})
    write_tree(onion / "keyonly", {"hs_ed25519_secret_key": b"\x00"})
    (onion / "README").write_text("a file, not a service\n")
    return onion


def tahoe_dir(tmp_path: Path) -> Path:
    base = tmp_path / "tahoe"
    write_tree(base / "storage", {"tahoe.cfg": b"[node]\n", **TAHOE, "private/aliases": b"x"})
    write_tree(base / "nopem", {"tahoe.cfg": b"[node]\n", "node.pubkey": b"pub-v0-x\n"})
    write_tree(base / "nocfg", {"private/node.pem": b"pem\n"})
    (base / "tahoe.cfg").write_text("a file, not a node\n")
    return base


def read_task(onion: Path, tahoe: Path, **task: Any) -> dict[str, Any]:
    return {
        "htb_node_identity": {"tor_onion_dir": str(onion), "tahoe_base_dir": str(tahoe)},
        **task,
    }


def restore_task(directory: Path, files: Any, **params: Any) -> dict[str, Any]:
    body = {"state": "restore", "directory": str(directory), "files": files, "owner": "root"}
    return {"htb_node_identity": {**body, **params}}


def encoded(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: b64(data) for rel, data in files.items()}


def ok(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.stdout + run.stderr
    return results(run)


def test_read_round_trips_binary_and_skips(tmp_path: Path) -> None:
    onion, tahoe = tor_dir(tmp_path), tahoe_dir(tmp_path)
    missing = tmp_path / "missing"
    tasks = [read_task(onion, tahoe), read_task(missing, missing / "too")]
    normal, empty = ok(play(tmp_path, *tasks))
    (checked, _) = ok(play(tmp_path, *tasks, args=("--check",)))
    assert normal["changed"] is False
    assert checked["identity"] == normal["identity"]
    identity = normal["identity"]
    assert sorted(identity["tor"]) == ["keyonly", "storage"]
    storage = {k: base64.b64decode(v) for k, v in identity["tor"]["storage"].items()}
    assert storage == {
        "hs_ed25519_secret_key": SECRET_KEY,
        "hs_ed25519_public_key": PUBLIC_KEY,
        "hostname": HOSTNAME,
    }
    assert identity["tor"]["keyonly"] == {"hs_ed25519_secret_key": b64(b"\x00")}
    assert list(identity["tahoe"]) == ["storage"]
    assert identity["tahoe"]["storage"] == encoded(TAHOE)
    assert normal["summary"] == {
        "tor": {
            "keyonly": ["hs_ed25519_secret_key"],
            "storage": ["hostname", "hs_ed25519_public_key", "hs_ed25519_secret_key"],
        },
        "tahoe": {"storage": sorted(TAHOE)},
    }
    assert b64(SECRET_KEY) not in str(normal["summary"])
    assert empty["identity"] == {"tor": {}, "tahoe": {}}
    assert empty["summary"] == {"tor": {}, "tahoe": {}}


def test_restore_writes_what_is_missing_then_nothing(tmp_path: Path) -> None:
    onion, tahoe = tor_dir(tmp_path), tahoe_dir(tmp_path)
    node = tmp_path / "new-node"
    node.mkdir()
    # Already there with the same bytes and another mode: left as it is.
    (node / "node.pubkey").write_bytes(TAHOE["node.pubkey"])
    (node / "node.pubkey").chmod(0o644)
    service = tmp_path / "new-service"
    service.mkdir()
    files = "{{ saved.identity.tahoe.storage }}"
    restores = [
        restore_task(node, files, owner="nobody", group="nogroup") | {"register": "first"},
        restore_task(service, "{{ saved.identity.tor.storage }}"),
        restore_task(node, files, owner="nobody", group="nogroup"),
    ]
    run = play(tmp_path, read_task(onion, tahoe, register="saved", no_log=True), *restores)
    _, first, tor, second = ok(run)
    assert first["changed"] is True
    assert first["restored"] == sorted(set(TAHOE) - {"node.pubkey"})
    assert second["changed"] is False and second["restored"] == []
    for rel, data in TAHOE.items():
        assert (node / rel).read_bytes() == data
        if rel != "node.pubkey":
            st = (node / rel).stat()
            assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, NOBODY, NOGROUP)
    private = (node / "private").stat()
    assert (private.st_mode & 0o777, private.st_uid, private.st_gid) == (0o700, NOBODY, NOGROUP)
    kept = (node / "node.pubkey").stat()
    assert (kept.st_mode & 0o777, kept.st_uid) == (0o644, 0)
    assert sorted(p.name for p in node.rglob("*")) == sorted(
        ["private", *(Path(r).name for r in TAHOE)]
    )

    assert tor["restored"] == ["hostname", "hs_ed25519_public_key", "hs_ed25519_secret_key"]
    assert (service / "hs_ed25519_secret_key").read_bytes() == SECRET_KEY
    st = (service / "hs_ed25519_secret_key").stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 0, 0)


def test_modes_are_options(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    task = restore_task(node, encoded(TAHOE), mode="0640", dir_mode="0750")
    (out,) = ok(play(tmp_path, task))
    assert out["changed"] is True
    assert (node / "private").stat().st_mode & 0o777 == 0o750
    assert (node / "private/node.pem").stat().st_mode & 0o777 == 0o640


def test_check_mode_writes_nothing_but_lists(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    (out,) = ok(play(tmp_path, restore_task(node, encoded(TAHOE)), args=("--check",)))
    assert out["changed"] is True
    assert out["restored"] == sorted(TAHOE)
    assert list(node.iterdir()) == []


def test_a_differing_file_fails_and_nothing_is_written(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    (node / "node.pubkey").write_bytes(b"pub-v0-another-node\n")
    run = play(tmp_path, restore_task(node, encoded(TAHOE)))
    assert run.returncode != 0
    (out,) = results(run)
    assert out["msg"] == (
        f"{node}/node.pubkey exists and differs from the identity archive: this host already "
        "has another identity; remove it by hand to restore"
    )
    assert (node / "node.pubkey").read_bytes() == b"pub-v0-another-node\n"
    assert sorted(p.name for p in node.iterdir()) == ["node.pubkey"]


def test_bad_input_is_refused_with_one_line_and_nothing_written(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    good = encoded(TAHOE)
    cases: list[tuple[dict[str, Any], str]] = [
        (restore_task(node, {**good, "../escape": b64(b"x")}), "files: '../escape' is not"),
        (restore_task(node, {**good, "/etc/escape": b64(b"x")}), "files: '/etc/escape' is not"),
        (restore_task(node, {**good, "private/../x": b64(b"x")}), "'private/../x' is not"),
        (restore_task(node, {**good, "./x": b64(b"x")}), "files: './x' is not a normalized"),
        (
            restore_task(node, {**good, "private/storage.furl": f"{MARKER}!!"}),
            "files: the content of 'private/storage.furl' is not valid base64",
        ),
        (restore_task(tmp_path / "absent", good), f"directory {tmp_path}/absent does not exist"),
        (restore_task(node, good, owner="htb-no-such-user"), "owner: no user 'htb-no-such-user'"),
        (restore_task(node, good, group="htb-no-such-group"), "group: no group"),
        (restore_task(node, good, mode="600"), "mode: '600' is not an octal mode"),
        (restore_task(node, good, mode=384), "mode: '384' is not an octal mode"),
        (restore_task(node, {**good, "private": b64(b"x")}), "'private' is both a file"),
        ({"htb_node_identity": {"state": "restore", "files": good}}, "missing: directory, owner"),
    ]
    run = play(tmp_path, *({**task, "ignore_errors": True} for task, _ in cases))
    outs = results(run)
    assert len(outs) == len(cases)
    for out, (_, message) in zip(outs, cases, strict=True):
        assert out["failed"], out
        assert message in out["msg"], out["msg"]
        assert "\n" not in out["msg"]
        assert MARKER not in out["msg"] and good["private/node.pem"] not in str(out)
    assert list(node.iterdir()) == []
    assert not (tmp_path / "escape").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "key").write_bytes(SECRET_KEY)
    onion, tahoe = tor_dir(tmp_path), tahoe_dir(tmp_path)
    linked_key = onion / "storage" / "hs_ed25519_secret_key"
    linked_key.unlink()
    linked_key.symlink_to(elsewhere / "key")
    linked_service = tmp_path / "onion2"
    linked_service.mkdir()
    (linked_service / "svc").symlink_to(elsewhere)
    linked_private = tahoe / "storage" / "private"
    linked_private.rename(tmp_path / "real-private")
    linked_private.symlink_to(tmp_path / "real-private")
    node = tmp_path / "node"
    node.mkdir()
    (node / "private").symlink_to(elsewhere)
    missing = tmp_path / "missing"
    cases = [
        (read_task(onion, missing), f"{linked_key} is a symlink: refused"),
        (read_task(linked_service, missing), f"{linked_service}/svc is a symlink: refused"),
        (read_task(missing, tahoe), f"{linked_private} is a symlink: refused"),
        (restore_task(node, encoded(TAHOE)), f"{node}/private is a symlink: refused"),
        (restore_task(node / "private", {"key": b64(b"x")}), f"{node}/private is a symlink"),
    ]
    outs = results(play(tmp_path, *({**task, "ignore_errors": True} for task, _ in cases)))
    for out, (_, message) in zip(outs, cases, strict=True):
        assert out["failed"], out
        assert out["msg"].startswith(message), out["msg"]
        assert "\n" not in out["msg"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["key"]
    assert list(node.iterdir()) == [node / "private"]


def test_contents_never_printed(tmp_path: Path) -> None:
    """-vvv, default callback: read under no_log, restore without - no content shown."""
    onion, tahoe = tor_dir(tmp_path), tahoe_dir(tmp_path)
    node = tmp_path / "node"
    node.mkdir()
    differs = tmp_path / "differs"
    differs.mkdir()
    (differs / "node.pubkey").write_bytes(b"pub-v0-another-node\n")
    tasks = [
        read_task(onion, tahoe, register="saved", no_log=True),
        restore_task(node, "{{ saved.identity.tahoe.storage }}"),
        restore_task(node, "{{ saved.identity.tahoe.storage }}", mode="0640"),
        restore_task(differs, "{{ saved.identity.tahoe.storage }}") | {"ignore_errors": True},
    ]
    run = play(tmp_path, *tasks, args=("-vvv",), callback="default")
    assert run.returncode == 0, run.stdout + run.stderr
    printed = run.stdout + run.stderr
    assert (node / "private/storage.furl").read_bytes() == TAHOE["private/storage.furl"]
    # Ansible printed the invocation, with files censored by the argument spec's no_log.
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in printed
    assert "exists and differs" in printed
    secrets = [MARKER, b64(TAHOE["private/storage.furl"]), b64(SECRET_KEY), "priv-v0-"]
    for secret in secrets:
        assert secret not in printed

    # The search finds them when they are printed: a read task without no_log, -v.
    shown = play(tmp_path, read_task(onion, tahoe), args=("-v",), callback="default")
    assert b64(TAHOE["private/storage.furl"]) in shown.stdout


def test_ansible_doc_renders() -> None:
    doc = subprocess.run(
        [
            str(PLAYBOOK_BIN.with_name("ansible-doc")),
            "-M",
            str(REPO / "library"),
            "htb_node_identity",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "tahoe_base_dir" in doc.stdout and "restored" in doc.stdout
