"""Issue 9 on the in-memory grid: invitations joined at first use, export, the node's life.

The operator seals an invitation (the grid, what to back up, no capability); the
activist's htb creates her directories, seals the full manifest under her own
passphrase over the invitation, and exports copies for friends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_tree, manifest_data, read_tree

from htb import backupdb, cli, ops
from htb.manifest import TEST_KDF, open_sealed, seal, validate
from htb.tahoe import child_env
from htb.testing.memory import MemoryClient, MemoryGrid

OPERATOR_PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
ACTIVIST_PW = "cobweb paprika unsocial tripod glacier sponge ruckus"
KDF = ["--kdf-opslimit", str(TEST_KDF.opslimit), "--kdf-memlimit", "1"]
LOOPBACK = "pb://aaaa@tcp:127.0.0.1:4/intro"


class Laptop:
    """A client factory: one node, whose state lives as long as the laptop's RAM."""

    def __init__(self, grid: MemoryGrid | None = None) -> None:
        self.grid = grid or MemoryGrid()
        self.client = MemoryClient(self.grid)

    def __call__(self, _args: object) -> MemoryClient:
        return self.client

    def reboot(self) -> None:
        self.client = MemoryClient(self.grid)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HTB_PASSPHRASE", OPERATOR_PW)
    for var in ("HTB_MANIFEST", "HTB_NEW_PASSPHRASE", "HTB_NODE_DIR"):
        monkeypatch.delenv(var, raising=False)
    new_pw = tmp_path / "activist.pw"
    new_pw.write_text(ACTIVIST_PW + "\n")
    docs = tmp_path / "Persistent" / "Documents"
    make_tree(docs)
    data = manifest_data(kind="invitation", aliases={})
    data["grid"]["introducers"] = {"default": {"furl": LOOPBACK}}
    data["backups"] = [{"alias": "docs", "path": "laptop/docs", "local": str(docs)}]
    invitation = tmp_path / "Persistent" / "alice.htb"
    invitation.write_bytes(seal(validate(data), OPERATOR_PW, kdf=TEST_KDF))
    return {"tmp": tmp_path, "pw": new_pw, "docs": docs, "m": invitation}


def _node(env: dict[str, Path]) -> list[str]:
    return ["-d", str(env["tmp"] / "node"), "--timeout", "0"]


def _start(env: dict[str, Path]) -> list[str]:
    return [*_node(env), "--unsafe-no-tor"]


def _join(env: dict[str, Path], laptop: Laptop, verb: str = "join", *extra: str) -> int:
    args = [verb, "-m", str(env["m"]), *_start(env), "--new-passphrase-file", str(env["pw"])]
    return cli.main([*args, *KDF, *extra], laptop)


def test_join_creates_her_directories_under_her_own_passphrase(env, capsys) -> None:
    laptop = Laptop()
    assert _join(env, laptop) == 0
    err = capsys.readouterr().err
    assert "htb export" in err
    assert OPERATOR_PW not in err and ACTIVIST_PW not in err

    full = open_sealed(env["m"].read_bytes(), ACTIVIST_PW).manifest
    assert full.kind == "full"
    assert not full.is_invitation
    assert set(full.aliases) == {"docs"}
    assert full.aliases["docs"] in laptop.grid.dirs
    assert full.convergence is not None
    assert full.convergence in full.secrets()
    assert env["m"].stat().st_mode & 0o777 == 0o600
    assert [p.name for p in env["m"].parent.iterdir() if p.is_file()] == ["alice.htb"]

    # The node runs with her aliases and her convergence secret: backups can start.
    assert laptop.client.running
    assert laptop.client.aliases == full.aliases
    assert laptop.client.convergence == full.convergence
    os.environ["HTB_PASSPHRASE"] = ACTIVIST_PW
    assert cli.main(["backup", "-m", str(env["m"]), *_node(env)], laptop) == 0

    # The operator's passphrase opens nothing any more.
    os.environ["HTB_PASSPHRASE"] = OPERATOR_PW
    assert cli.main(["unseal", str(env["m"])]) == 3
    assert "wrong passphrase" in capsys.readouterr().err


def test_start_with_an_invitation_joins_first(env, capsys) -> None:
    laptop = Laptop()
    assert _join(env, laptop, "start") == 0
    full = open_sealed(env["m"].read_bytes(), ACTIVIST_PW).manifest
    assert full.kind == "full"
    assert laptop.client.running

    # The next session starts from the full manifest, with her passphrase: a new node.
    laptop.reboot()
    os.environ["HTB_PASSPHRASE"] = ACTIVIST_PW
    before = env["m"].read_bytes()
    assert cli.main(["start", "-m", str(env["m"]), *_start(env)], laptop) == 0
    assert env["m"].read_bytes() == before
    assert laptop.client.aliases == full.aliases
    assert laptop.client.convergence == full.convergence


def test_new_passphrase_from_the_environment(env, monkeypatch) -> None:
    monkeypatch.setenv("HTB_NEW_PASSPHRASE", ACTIVIST_PW)
    args = ["join", "-m", str(env["m"]), *_start(env), *KDF]
    assert cli.main(args, Laptop()) == 0
    assert open_sealed(env["m"].read_bytes(), ACTIVIST_PW).manifest.kind == "full"


def test_keep_passphrase_is_possible_and_discouraged(env, capsys) -> None:
    args = ["join", "-m", str(env["m"]), *_start(env), "--keep-passphrase", *KDF]
    assert cli.main(args, Laptop()) == 0
    assert "the operator knows" in capsys.readouterr().err
    assert open_sealed(env["m"].read_bytes(), OPERATOR_PW).manifest.kind == "full"


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        ("wrong passphrase", 3, "wrong passphrase"),
        ("weak new passphrase", 5, "too weak"),
        ("no new passphrase", 5, "passphrase"),
        ("grid down", 6, "needed storage servers connected"),
    ],
)
def test_a_failed_join_leaves_the_invitation_and_no_node(
    env, capsys, monkeypatch, setup, code, message
) -> None:
    laptop = Laptop()
    before = env["m"].read_bytes()
    if setup == "wrong passphrase":
        monkeypatch.setenv("HTB_PASSPHRASE", "wrong " + OPERATOR_PW)
    elif setup == "weak new passphrase":
        env["pw"].write_text("password123\n")
    elif setup == "no new passphrase":
        env["pw"] = env["tmp"] / "missing.pw"
    else:
        for name in laptop.grid.server_names:
            laptop.grid.stop_server(name)
    assert _join(env, laptop) == code
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()[-1:]) == 1 and "error:" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert env["m"].read_bytes() == before
    assert sorted(p.name for p in env["m"].parent.iterdir()) == ["Documents", "alice.htb"]
    assert not laptop.client.running
    assert laptop.client.aliases == {}
    if setup != "grid down":
        assert laptop.client.builds == 0  # refused before any node was built


def test_join_of_a_full_manifest_changes_nothing(env, capsys) -> None:
    laptop = Laptop()
    assert _join(env, laptop) == 0
    before = env["m"].read_bytes()
    os.environ["HTB_PASSPHRASE"] = ACTIVIST_PW
    assert cli.main(["join", "-m", str(env["m"]), *_start(env)], laptop) == 0
    assert "already" in capsys.readouterr().err
    assert env["m"].read_bytes() == before


def test_export_an_invitation_is_refused(env, capsys) -> None:
    out = env["tmp"] / "friend.htb"
    assert cli.main(["export", "-m", str(env["m"]), "-o", str(out)]) == 4
    err = capsys.readouterr().err
    assert "this is an invitation: run `htb start` first to create your backups" in err
    assert not out.exists()


def test_export_same_or_new_passphrase_armor_and_qr(env, capsys, monkeypatch) -> None:
    laptop = Laptop()
    assert _join(env, laptop) == 0
    monkeypatch.setenv("HTB_PASSPHRASE", ACTIVIST_PW)
    full = open_sealed(env["m"].read_bytes(), ACTIVIST_PW).manifest
    friend = env["tmp"] / "friend"

    # Same passphrase, binary: a fresh salt and nonce, the same content.
    assert cli.main(["export", "-m", str(env["m"]), "-o", str(friend / "a.htb"), *KDF]) == 0
    copy = (friend / "a.htb").read_bytes()
    assert copy.startswith(b"HTBM")
    assert copy != env["m"].read_bytes()
    assert open_sealed(copy, ACTIVIST_PW).manifest == full
    assert (friend / "a.htb").stat().st_mode & 0o777 == 0o600

    # Armored, with a QR code of the armored form.
    args = ["export", "-m", str(env["m"]), "-o", str(friend / "a.asc"), "--armor"]
    assert cli.main([*args, "--qr", str(friend / "a.png"), *KDF]) == 0
    assert (friend / "a.asc").read_text().startswith("-----BEGIN HTB SEALED MANIFEST-----")
    assert open_sealed((friend / "a.asc").read_bytes(), ACTIVIST_PW).manifest == full
    png = (friend / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (friend / "a.png").stat().st_mode & 0o777 == 0o600

    # A new passphrase for the friends' copy (file, or $HTB_NEW_PASSPHRASE).
    friend_pw = env["tmp"] / "friend.pw"
    friend_pw.write_text("quiver bonfire leggings unbent rubble sprint clapper\n")
    args = ["export", "-m", str(env["m"]), "-o", str(friend / "b.htb"), "--new-passphrase"]
    assert cli.main([*args, "--new-passphrase-file", str(friend_pw), *KDF]) == 0
    b = (friend / "b.htb").read_bytes()
    assert open_sealed(b, "quiver bonfire leggings unbent rubble sprint clapper").manifest == full
    monkeypatch.setenv("HTB_NEW_PASSPHRASE", "ritual mongoose pliable uncut sherry frostbite")
    args = ["export", "-m", str(env["m"]), "-o", str(friend / "c.htb"), "--new-passphrase"]
    assert cli.main([*args, *KDF]) == 0
    c = (friend / "c.htb").read_bytes()
    assert open_sealed(c, "ritual mongoose pliable uncut sherry frostbite").manifest == full
    # Without --new-passphrase, $HTB_NEW_PASSPHRASE is not used.
    assert cli.main(["export", "-m", str(env["m"]), "-o", str(friend / "d.htb"), *KDF]) == 0
    assert open_sealed((friend / "d.htb").read_bytes(), ACTIVIST_PW).manifest == full

    # A weak new one is refused, nothing written.
    friend_pw.write_text("password123\n")
    args = ["export", "-m", str(env["m"]), "-o", str(friend / "e.htb"), "--new-passphrase"]
    assert cli.main([*args, "--new-passphrase-file", str(friend_pw), *KDF]) == 5
    assert not (friend / "e.htb").exists()


def test_stop_forgets_the_node(env, capsys, monkeypatch) -> None:
    laptop = Laptop()
    assert _join(env, laptop) == 0
    assert cli.main(["stop", *_node(env)[:2]], laptop) == 0
    assert not laptop.client.running
    assert laptop.client.aliases == {}
    assert laptop.client.convergence is None
    # A backup without a node says so at once (no wait for servers that cannot come).
    monkeypatch.setenv("HTB_PASSPHRASE", ACTIVIST_PW)
    capsys.readouterr()
    assert cli.main(["backup", "-m", str(env["m"]), "-d", str(env["tmp"] / "node")], laptop) == 6
    assert "not running: `htb start -m MANIFEST`" in capsys.readouterr().err


def test_start_needs_a_manifest(env, capsys) -> None:
    assert cli.main(["start", *_start(env)], Laptop()) == 4
    assert "no manifest" in capsys.readouterr().err


def test_the_whole_story_on_the_memory_grid(env, capsys, monkeypatch) -> None:
    """Invitation -> join -> backup -> export -> the laptop is lost -> restore from the copy."""
    laptop = Laptop()
    files = read_tree(env["docs"])
    assert _join(env, laptop, "start") == 0
    monkeypatch.setenv("HTB_PASSPHRASE", ACTIVIST_PW)
    m = ["-m", str(env["m"]), *_node(env)]
    assert cli.main(["backup", *m], laptop) == 0
    friend_copy = env["tmp"] / "friend" / "alice.asc"
    assert cli.main(["export", *m[:2], "-o", str(friend_copy), "--armor", *KDF]) == 0
    assert cli.main(["stop", *m[2:4]], laptop) == 0

    laptop.reboot()
    for p in sorted(env["tmp"].joinpath("Persistent").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    m2 = ["-m", str(friend_copy), *_node(env)]
    assert cli.main(["start", *m2, "--unsafe-no-tor"], laptop) == 0
    assert cli.main(["restore", *m2], laptop) == 0
    assert read_tree(env["docs"]) == files


def test_children_never_get_the_passphrases(monkeypatch) -> None:
    monkeypatch.setenv("HTB_PASSPHRASE", OPERATOR_PW)
    monkeypatch.setenv("HTB_NEW_PASSPHRASE", ACTIVIST_PW)
    monkeypatch.setenv("HTB_MANIFEST", "/x/m.htb")
    env = child_env()
    assert "HTB_PASSPHRASE" not in env
    assert "HTB_NEW_PASSPHRASE" not in env
    assert env["HTB_MANIFEST"] == "/x/m.htb"
    assert OPERATOR_PW not in "".join(env.values())


def test_main_sets_umask_077(env) -> None:
    cli.main(["stop", *_node(env)[:2]], Laptop())
    current = os.umask(0o077)
    assert current == 0o077


def test_the_backupdb_is_kept_sealed_beside_the_manifest(env, capsys, monkeypatch) -> None:
    """A reboot drops the node; the next session's first backup still knows what is uploaded."""
    laptop = Laptop()
    assert _join(env, laptop, "start") == 0
    monkeypatch.setenv("HTB_PASSPHRASE", ACTIVIST_PW)
    m = ["-m", str(env["m"]), *_node(env)]
    assert cli.main(["backup", *m], laptop) == 0
    saved = backupdb.path_for(env["m"])
    assert saved.stat().st_mode & 0o777 == 0o600
    state = laptop.client.backupdb
    assert state is not None
    assert state not in saved.read_bytes()  # sealed, not copied

    laptop.reboot()
    assert cli.main(["start", *m, "--unsafe-no-tor"], laptop) == 0
    assert laptop.client.backupdb == state
    assert cli.main(["backup", *m], laptop) == 0
    assert laptop.client.backupdb is not None
    assert laptop.client.backupdb.startswith(state)

    # Saved for another manifest (or damaged): ignored, said so, and replaced at the next backup.
    full = open_sealed(env["m"].read_bytes(), ACTIVIST_PW).manifest
    other = validate({**full.data, "convergence": ops.new_convergence_secret()})
    key = backupdb.key(other)
    assert key is not None
    saved.write_bytes(backupdb.seal(b"someone else's", key))
    laptop.reboot()
    assert cli.main(["start", *m, "--unsafe-no-tor"], laptop) == 0
    assert "was not saved for this manifest" in capsys.readouterr().err
    assert laptop.client.backupdb is None


def test_backupdb_sealing() -> None:
    full = validate(manifest_data(convergence=ops.new_convergence_secret()))
    key = backupdb.key(full)
    assert key is not None and len(key) == 32
    assert backupdb.key(validate(manifest_data())) != key  # another convergence secret
    assert backupdb.key(validate(manifest_data(kind="invitation", aliases={}))) is None
    blob = backupdb.seal(b"SQLite format 3\0...", key)
    assert blob.startswith(b"HTBD\x01")
    assert backupdb.unseal(blob, key) == b"SQLite format 3\0..."
    assert backupdb.unseal(blob[:-1] + bytes([blob[-1] ^ 1]), key) is None
    assert backupdb.unseal(blob, bytes(32)) is None
    assert backupdb.unseal(b"SQLite format 3", key) is None


def test_export_qr_of_a_manifest_too_large_writes_nothing(env, capsys) -> None:
    data = manifest_data(convergence=ops.new_convergence_secret())
    data["x-padding"] = "p" * 4000  # a QR code holds at most 2 953 bytes
    big = env["tmp"] / "big.htb"
    big.write_bytes(seal(validate(data), OPERATOR_PW, kdf=TEST_KDF))
    out, png = env["tmp"] / "copy.htb", env["tmp"] / "copy.png"
    args = ["export", "-m", str(big), "-o", str(out), "--qr", str(png), *KDF]
    assert cli.main(args) == 4
    assert "too large for one QR code" in capsys.readouterr().err
    assert not out.exists() and not png.exists()


# --- issue 25: the invitation travels beside the release's bundle --------------------------
def _join_file(env: dict[str, Path], laptop: Laptop, target: Path, *extra: str) -> int:
    args = ["join", str(env["m"]), "-m", str(target), *_start(env)]
    args += ["--new-passphrase-file", str(env["pw"]), *KDF, *extra]
    return cli.main(args, laptop)


def test_join_file_installs_the_invitation_then_makes_it_hers(env, capsys) -> None:
    stick = env["m"].read_bytes()
    target = env["tmp"] / "Persistent" / ".htb" / "manifest.htbm"
    target.parent.mkdir(mode=0o700)
    assert _join_file(env, Laptop(), target) == 0
    err = capsys.readouterr().err
    assert f"installed {env['m']} at {target}" in err
    assert OPERATOR_PW not in err and ACTIVIST_PW not in err
    # Her own full manifest where the invitation was put; the stick's file as it came.
    assert open_sealed(target.read_bytes(), ACTIVIST_PW).manifest.kind == "full"
    assert target.stat().st_mode & 0o777 == 0o600
    assert env["m"].read_bytes() == stick


def test_join_file_never_replaces_another_manifest_unasked(env, capsys) -> None:
    """Exit 12, one line, both files as they were. Mutation: placing.install without
    its refusal (`and not replace`) writes the invitation over her manifest: fails."""
    target = env["tmp"] / "manifest.htbm"
    target.write_bytes(b"HTBM her own manifest")
    stick = env["m"].read_bytes()
    assert _join_file(env, Laptop(), target) == 12
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a different manifest is installed" in err[0], err
    assert target.read_bytes() == b"HTBM her own manifest"
    assert env["m"].read_bytes() == stick
    # A wrong passphrase installs nothing either (exit 3, before any write).
    empty = env["tmp"] / "empty" / "manifest.htbm"
    empty.parent.mkdir()
    os.environ["HTB_PASSPHRASE"] = "not the operator's passphrase at all"
    assert _join_file(env, Laptop(), empty) == 3
    assert not empty.exists()
    os.environ["HTB_PASSPHRASE"] = OPERATOR_PW
    # Asked for: replaced, then joined.
    assert _join_file(env, Laptop(), target, "--replace-manifest") == 0
    assert open_sealed(target.read_bytes(), ACTIVIST_PW).manifest.kind == "full"
