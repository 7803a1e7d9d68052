"""The htb command, whole, on the in-memory grid: every verb, every refusal, no tracebacks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_tree, manifest_data, read_tree

from htb import cli
from htb.manifest import TEST_KDF, open_sealed, seal, validate
from htb.memory import MemoryClient, MemoryGrid

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
KDF = ["--kdf-opslimit", str(TEST_KDF.opslimit), "--kdf-memlimit", "1"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HTB_PASSPHRASE", PW)
    monkeypatch.delenv("HTB_MANIFEST", raising=False)
    return {"tmp": tmp_path, "node": tmp_path / "node"}


class Laptop:
    """A client factory whose node state survives between htb invocations, like a disk."""

    def __init__(self, grid: MemoryGrid) -> None:
        self.grid = grid
        self.client = MemoryClient(grid)

    def __call__(self, _args: object) -> MemoryClient:
        return self.client

    def wipe(self) -> None:
        self.client = MemoryClient(self.grid)


def _sealed_manifest(tmp: Path, data: dict, name: str = "m.htb") -> Path:
    path = tmp / name
    path.write_bytes(seal(validate(data), PW, kdf=TEST_KDF))
    return path


def _loopback(data: dict) -> dict:
    data["grid"]["introducers"] = {"default": {"furl": "pb://aaaa@tcp:127.0.0.1:4/intro"}}
    return data


def test_seal_unseal_round_trip_via_files(env, capsys) -> None:
    plain = env["tmp"] / "m.json"
    plain.write_text(json.dumps(manifest_data()))
    out = env["tmp"] / "m.htb"
    assert cli.main(["seal", str(plain), "-o", str(out), "--armor", *KDF]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_text().startswith("-----BEGIN HTB SEALED MANIFEST-----")
    capsys.readouterr()
    assert cli.main(["unseal", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == manifest_data()


def test_passphrase_file_and_no_argument_for_it(env, capsys, monkeypatch) -> None:
    monkeypatch.delenv("HTB_PASSPHRASE")
    sealed = _sealed_manifest(env["tmp"], manifest_data())
    pwfile = env["tmp"] / "pw"
    pwfile.write_text(PW + "\n")
    assert cli.main(["unseal", str(sealed), "--passphrase-file", str(pwfile)]) == 0
    with pytest.raises(SystemExit):
        cli.main(["unseal", str(sealed), "--passphrase", PW])


@pytest.mark.parametrize(
    ("damage", "code", "message"),
    [
        (lambda b: b, 3, "wrong passphrase"),
        (lambda b: b[:-3], 3, "truncated"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), 3, "altered or damaged"),
        (lambda b: b"not a manifest at all", 3, "not a sealed manifest"),
    ],
)
def test_bad_input_is_one_line_and_distinct(env, capsys, damage, code, message) -> None:
    sealed = env["tmp"] / "m.htb"
    sealed.write_bytes(damage(seal(validate(manifest_data()), PW, kdf=TEST_KDF)))
    pw = "wrong " + PW if message == "wrong passphrase" else PW
    (env["tmp"] / "pw").write_text(pw)
    assert cli.main(["unseal", str(sealed), "--passphrase-file", str(env["tmp"] / "pw")]) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_weak_passphrase_refused_for_sealing(env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HTB_PASSPHRASE", "password123")
    plain = env["tmp"] / "m.json"
    plain.write_text(json.dumps(manifest_data()))
    assert cli.main(["seal", str(plain), "-o", str(env["tmp"] / "x"), *KDF]) == 5
    assert "too weak" in capsys.readouterr().err
    assert not (env["tmp"] / "x").exists()


def test_invalid_manifest_names_field(env, capsys) -> None:
    data = manifest_data()
    data["grid"]["shares"]["total"] = 0
    plain = env["tmp"] / "m.json"
    plain.write_text(json.dumps(data))
    assert cli.main(["seal", str(plain), "-o", str(env["tmp"] / "x"), *KDF]) == 4
    assert "grid.shares.total" in capsys.readouterr().err


def test_passphrase_verb(capsys) -> None:
    assert cli.main(["passphrase", "--words", "8"]) == 0
    out = capsys.readouterr()
    assert len(out.out.split()) == 8
    assert "103 bits" in out.err


def test_onion_grid_required_unless_loopback_test_grid(env, capsys) -> None:
    laptop = Laptop(MemoryGrid())
    clearnet = manifest_data()
    clearnet["grid"]["introducers"] = {"default": {"furl": "pb://aaaa@tcp:203.0.113.7:3457/i"}}
    sealed = _sealed_manifest(env["tmp"], clearnet)
    args = ["init", "-m", str(sealed), "-d", str(env["node"])]
    assert cli.main(args, laptop) == 6
    assert "non-onion" in capsys.readouterr().err
    assert cli.main([*args, "--unsafe-no-tor"], laptop) == 6
    assert "only for test grids on 127.0.0.1" in capsys.readouterr().err
    onion = _sealed_manifest(env["tmp"], manifest_data(), "onion.htb")
    assert cli.main(["init", "-m", str(onion), "-d", str(env["node"])], laptop) == 0


def test_lose_the_laptop_and_restore_everything(env, capsys) -> None:
    """The promise, on the in-memory grid: back up, wipe, restore from the sealed blob."""
    laptop = Laptop(MemoryGrid())
    home = env["tmp"] / "home"
    files = make_tree(home / "docs")
    (home / "docs" / "sub").chmod(0o700)
    (home / "docs" / "a.txt").chmod(0o600)
    template = _loopback(manifest_data(aliases={}))
    template["backups"] = [{"alias": "docs", "path": "laptop/docs", "local": str(home / "docs")}]
    plain = env["tmp"] / "template.json"
    plain.write_text(json.dumps(template))
    sealed = env["tmp"] / "m.htb"
    common = ["-d", str(env["node"]), "--unsafe-no-tor"]
    assert cli.main(["new-manifest", str(plain), "-o", str(sealed), *KDF, *common], laptop) == 0
    assert open_sealed(sealed.read_bytes(), PW).manifest.aliases["docs"].startswith("URI:DIR2:")

    m = ["-m", str(sealed), "-d", str(env["node"])]
    assert cli.main(["backup", *m], laptop) == 0
    assert cli.main(["status", "-d", str(env["node"])], laptop) == 0
    assert "connected: 3 of 3" in capsys.readouterr().out

    # Seized: the node state and the data are gone; the sealed blob comes back from a friend.
    laptop.wipe()
    for p in sorted((home / "docs").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    (home / "docs").rmdir()

    assert cli.main(["start", *m, "--unsafe-no-tor"], laptop) == 0
    assert cli.main(["restore", *m], laptop) == 0
    assert read_tree(home / "docs") == files
    assert (home / "docs" / "sub").stat().st_mode & 0o7777 == 0o700
    assert (home / "docs" / "a.txt").stat().st_mode & 0o7777 == 0o600
    assert "verified" in capsys.readouterr().err


def test_restore_never_overwrites_unasked(env, capsys) -> None:
    laptop = Laptop(MemoryGrid())
    local = env["tmp"] / "data"
    make_tree(local)
    data = _loopback(manifest_data())
    data["backups"][0]["local"] = str(local)
    sealed = _sealed_manifest(env["tmp"], data)
    laptop.client.configure(validate(data), None)
    laptop.client.start()
    laptop.client.grid.dirs[data["aliases"]["docs"]] = {}
    m = ["-m", str(sealed), "-d", str(env["node"])]
    assert cli.main(["backup", *m], laptop) == 0

    (local / "a.txt").write_text("changed since the backup")
    assert cli.main(["restore", *m], laptop) == 7
    assert "not empty" in capsys.readouterr().err
    assert (local / "a.txt").read_text() == "changed since the backup"

    assert cli.main(["restore", *m, "--overwrite"], laptop) == 0
    assert (local / "a.txt").read_text() == "hello\n"
    (kept,) = env["tmp"].glob("data.htb-previous-*")
    assert (kept / "a.txt").read_text() == "changed since the backup"

    elsewhere = env["tmp"] / "elsewhere"
    assert cli.main(["restore", *m, "--to", str(elsewhere)], laptop) == 0
    assert read_tree(elsewhere / str(local).lstrip("/")) == read_tree(local)


def test_too_few_servers_fails_clearly_and_touches_nothing(env, capsys) -> None:
    grid = MemoryGrid()
    laptop = Laptop(grid)
    local = env["tmp"] / "data"
    make_tree(local)
    data = _loopback(manifest_data())
    data["backups"][0]["local"] = str(local)
    sealed = _sealed_manifest(env["tmp"], data)
    laptop.client.configure(validate(data), None)
    laptop.client.start()
    grid.dirs[data["aliases"]["docs"]] = {}
    m = ["-m", str(sealed), "-d", str(env["node"]), "--timeout", "0"]
    assert cli.main(["backup", *m], laptop) == 0

    target = env["tmp"] / "restored"
    grid.stop_server("storage1")
    grid.stop_server("storage2")
    assert cli.main(["restore", *m, "--to", str(target)], laptop) == 6
    err = capsys.readouterr().err
    assert "1 of 2 needed storage servers" in err
    assert not target.exists()
    assert cli.main(["backup", *m], laptop) == 6

    # Servers connected, but the shares are gone: the restore fails after its
    # parent directories were made, and takes them away again.
    grid.start_server("storage1")
    grid.start_server("storage2")
    for key, stored in grid.dirs[data["aliases"]["docs"]].items():
        grid.dirs[data["aliases"]["docs"]][key] = replace(stored, servers=frozenset())
    assert cli.main(["restore", *m, "--to", str(target)], laptop) == 6
    assert "too few storage servers hold shares" in capsys.readouterr().err
    assert not target.exists()
