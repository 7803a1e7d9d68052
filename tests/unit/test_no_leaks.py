"""Issue 13: htb never prints a capability, a FURL secret or a passphrase.

Every error path we can reach through ``htb.cli.main`` runs with secret-bearing input
(tests/hostile/leaks.py: a rootcap and its derived read-only form, introducer and storage
FURLs with recognizable tub ids and swissnums, a NURL, an onion client-auth key, the
passphrases) and stdout + stderr are searched for each secret and for the parts that
identify it. The grid is the in-memory one. The one exception: ``htb unseal`` to
standard output prints the plaintext, rootcaps included, by design (it is how a person
reads their manifest); there only stderr is searched.

Properly sealed hostile plaintexts and 2014 structures are also run by the fuzz
(tests/unit/test_fuzz.py), whose judge searches every refusal for the same secrets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import hostile
import pytest
from hostile import (
    CLIENT_AUTH_KEY,
    INTRO_FURL,
    INTRO_SWISS,
    INTRO_TUBID,
    NEW_PASSPHRASE,
    NURL,
    PASSPHRASE,
    ROOTCAP,
    ROOTCAP_RO,
    SERVER_FURL,
    WEAK_PASSPHRASE,
    WRONG_PASSPHRASE,
)

from htb import cli
from htb.testing.memory import MemoryClient, MemoryGrid

KDF = ["--kdf-opslimit", "1", "--kdf-memlimit", "1"]
SECRET_VALUES = [
    PASSPHRASE,
    ROOTCAP,
    ROOTCAP_RO,
    INTRO_FURL,
    SERVER_FURL,
    NURL,
    CLIENT_AUTH_KEY,
    INTRO_SWISS,
    INTRO_TUBID,
]


class Laptop:
    """A client factory whose node state survives between htb invocations."""

    def __init__(self) -> None:
        self.grid = MemoryGrid()
        self.client = MemoryClient(self.grid)

    def __call__(self, _args: object) -> MemoryClient:
        return self.client


class Ctx:
    """Files, the in-memory grid, and htb runs whose every output is searched."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.mp = monkeypatch
        self.laptop = Laptop()
        self.rng = random.Random(13)  # noqa: S311 - salts of test files
        self.problems: list[str] = []
        self.runs = 0
        self.n = 0
        self.label = ""  # what is being tried, shown with each problem

    def path(self, name: str) -> str:
        return str(self.tmp / name)

    def file(self, data: bytes | str, name: str = "") -> str:
        self.n += 1
        path = self.tmp / (name or f"f{self.n}")
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def sealed(self, data: dict[str, Any] | bytes, *, armored: bool = False) -> str:
        plain = hostile.canonical(data) if isinstance(data, dict) else data
        blob = hostile.seal_bytes(plain, self.rng)
        return self.file(hostile.armor(blob) if armored else blob)

    def legacy(self, data: dict[str, Any] | bytes) -> str:
        plain = json.dumps(data).encode() if isinstance(data, dict) else data
        return self.file(hostile.seal_legacy(plain, self.rng))

    def run(
        self,
        argv: list[str],
        *,
        error: bool | None = True,
        stdout_is_plaintext: bool = False,
        stdin: bytes = b"",
    ) -> hostile.Outcome:
        """Run htb; ``error``: True must fail, False must succeed, None either."""
        self.runs += 1
        out = hostile.capture(lambda: cli.main(argv, self.laptop), stdin)
        shown = " ".join(a if len(a) < 40 else a[:12] + "..." for a in argv)
        shown = f"{shown} [{self.label}]" if self.label else shown
        err = out.stderr.decode("utf-8", "backslashreplace")
        if out.error:
            self.problems.append(f"htb {shown}: uncaught {out.error} at {out.where}")
        elif error is True and out.code == 0:
            self.problems.append(f"htb {shown}: exit 0, expected an error")
        elif error is False and out.code != 0:
            self.problems.append(f"htb {shown}: exit {out.code}, expected success: {err!r}")
        found = hostile.leaks(out.stderr)
        if not stdout_is_plaintext:
            found += hostile.leaks(out.stdout)
        if found:
            text = (err + out.stdout.decode("utf-8", "backslashreplace"))[:400]
            self.problems.append(f"htb {shown}: exit {out.code}, LEAKED {found[:3]}: {text!r}")
        return out


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    monkeypatch.setenv("HTB_PASSPHRASE", PASSPHRASE)
    for var in ("HTB_MANIFEST", "HTB_NEW_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTB_NODE_DIR", str(tmp_path / "node"))
    # A 2014 file that fails the cheap key falls back to an ~11 s scrypt: a cheap
    # stand-in key fails the same way.
    monkeypatch.setattr(
        hashlib,
        "scrypt",
        lambda password, **kw: hashlib.blake2b(password, digest_size=kw.get("dklen", 64)).digest(),
    )
    return Ctx(tmp_path, monkeypatch)


def _finish(ctx: Ctx) -> None:
    assert ctx.runs
    assert not ctx.problems, "\n".join(ctx.problems)


def _grid_manifest(ctx: Ctx) -> dict[str, Any]:
    """The rich manifest, its backups pointing at directories under tmp."""
    data = hostile.manifest_rich()
    for i, entry in enumerate(data["backups"]):
        local = ctx.tmp / f"local{i}"
        local.mkdir(exist_ok=True)
        (local / "file.txt").write_text(f"content {i}\n")
        entry["local"] = str(local)
    for cap in data["aliases"].values():
        ctx.laptop.grid.dirs.setdefault(cap, {})
    return data


# --- sealed-file problems -------------------------------------------------------------
def test_sealed_file_errors(ctx: Ctx) -> None:
    good = hostile.canonical(hostile.manifest_rich())
    blob = hostile.seal_bytes(good, ctx.rng)
    armored = hostile.armor(blob)
    lines = armored.split(b"\n")
    cases = {
        "tampered": blob[:-1] + bytes([blob[-1] ^ 1]),
        "truncated": blob[:-3],
        "trailing": blob + b"\0",
        "version-2": blob[:4] + b"\x02" + blob[5:],
        "kdf-cost": hostile.header_edit(blob, "memlimit", 2**40, False),
        "ct-len-huge": hostile.header_edit(blob, "ct-len", 2**32 - 1, False),
        "armor-checksum": armored.replace(lines[-3], b"=AAAAAAAA"),
        "armor-header-line": armored.replace(b"\n\n", b"\nVersion: 1\n", 1),
        "armor-truncated": armored[: len(armored) // 2],
        "armor-non-ascii": armored.replace(lines[3], lines[3][:5] + "é".encode() + lines[3][5:]),
        "plaintext-json": good,
        "plaintext-json-pretty": json.dumps(hostile.manifest_rich(), indent=2).encode(),
        "armored-plaintext": hostile.armor(good),
        "base64-plaintext": base64.b64encode(good),
        "secrets-and-garbage": good[:200] + b"\xff\x00HTBM" + good[200:],
        "binary-plaintext-after-magic": b"HTBM\x01" + good,
    }
    for name, data in cases.items():
        ctx.label = name
        path = ctx.file(data, name)
        ctx.run(["unseal", path])
        ctx.run(["init", "-m", path])
    for form in ("binary", "armored", "2014"):
        path = (
            ctx.legacy(hostile.legacy_manifest())
            if form == "2014"
            else ctx.sealed(good, armored=form == "armored")
        )
        ctx.mp.setenv("HTB_PASSPHRASE", WRONG_PASSPHRASE)
        ctx.run(["unseal", path])
        ctx.run(["init", "-m", path])
        ctx.mp.setenv("HTB_PASSPHRASE", PASSPHRASE)
        ctx.run(["unseal", path, "--passphrase-file", ctx.file(WRONG_PASSPHRASE + "\n")])
    ctx.run(["unseal", ctx.path("missing.htb")])
    ctx.run(["unseal", str(ctx.tmp)])
    ctx.run(["unseal", ctx.sealed(good), "-o", ctx.file(b"x") + "/sub/out.json"])
    _finish(ctx)


SECRET_PLAINTEXTS = (
    "rootcap-trailing-space",
    "rootcap-newline",
    "rootcap-as-alias-name",
    "furl-bad-hint",
    "furl-no-swissnum",
    "server-furl-space",
    "nurl-not-pb",
    "client-auth-lowercase",
    "client-auth-extra",
    "unknown-field-secret-name",
    "unknown-field-secret-value",
    "version-secret",
    "dup-alias-docs",
    "alias-undefined",
    "shares-order",
    "lone-high-surrogate-name",
    "invalid-utf8-ff",
    "trailing-garbage",
    "many-invalid-backups",
)


def test_invalid_content_with_secrets_nearby(ctx: Ctx) -> None:
    """Sealed properly (unseal, init) and as plaintext (seal): named, never echoed."""
    plaintexts = dict(hostile.hostile_plaintexts())
    for name in SECRET_PLAINTEXTS:
        ctx.label = name
        plain = plaintexts[name]
        sealed = ctx.sealed(plain)
        ctx.run(["unseal", sealed])
        ctx.run(["init", "-m", sealed])
        ctx.run(["seal", ctx.file(plain), "-o", ctx.path("out.htb"), *KDF])
        ctx.run(["seal", "-", "-o", ctx.path("out.htb"), *KDF], stdin=plain)
    for path, value in (
        (("aliases", "docs"), ROOTCAP[:-1] + "!"),
        (("aliases", "docs"), ROOTCAP.upper()),
        (("aliases", "docs"), [ROOTCAP]),
        (("aliases", "docs"), {"cap": ROOTCAP}),
        (("grid", "introducers", "default"), INTRO_FURL),
        (("grid", "introducers", "default", "furl"), INTRO_FURL.replace("pb://", "pb:/")),
        (("grid", "introducers", "default", "furl"), INTRO_FURL + "\n" + INTRO_FURL),
        (("tor", "client_auth", 0), CLIENT_AUTH_KEY),
        (("tor", "client_auth", 0, "onion"), CLIENT_AUTH_KEY.lower()),
        (("name",), ROOTCAP * 10),
        (("backups", 0, "alias"), ROOTCAP),
        (("backups", 0, "local"), ROOTCAP),
        (("backups", 0, "path"), "/" + ROOTCAP),
        (("backups", 0, "excludes"), ROOTCAP),
        (("x-secret",), float("nan")),
    ):
        ctx.label = f"{'.'.join(map(str, path))}={str(value)[:20]}"
        data = hostile._deep_set(hostile.manifest_rich(), path, value)
        plain = json.dumps(data).encode()
        ctx.run(["unseal", ctx.sealed(plain)])
        ctx.run(["seal", ctx.file(plain), "-o", ctx.path("out.htb"), *KDF])
    _finish(ctx)


def test_2014_errors(ctx: Ctx) -> None:
    for name, plain, expect in hostile.legacy_structures():
        ctx.label = name
        path = ctx.legacy(plain)
        refused = expect.outcome == "refuse"
        ctx.run(["unseal", path], error=True if refused else None, stdout_is_plaintext=not refused)
        if expect.outcome == "refuse":
            new_pw = ctx.file(NEW_PASSPHRASE + "\n")
            ctx.run(
                [
                    "convert",
                    path,
                    "-o",
                    ctx.path(f"{name}.htb"),
                    "--new-passphrase-file",
                    new_pw,
                    *KDF,
                ]
            )
    _finish(ctx)


# --- passphrases --------------------------------------------------------------------------
def test_passphrase_errors(ctx: Ctx) -> None:
    plain = ctx.file(hostile.canonical(hostile.manifest_rich()))
    out = ctx.path("out.htb")
    sealed = ctx.sealed(hostile.manifest_rich())
    for content in (
        PASSPHRASE.encode() + b"\xff\n",
        b"\xff" + PASSPHRASE.encode(),
        b"\n" + PASSPHRASE.encode() + b"\n",
        b"\r\n" + PASSPHRASE.encode(),
        (PASSPHRASE + "\n").encode() * 3000,
        b"",
        "\ufeff".encode() + WEAK_PASSPHRASE.encode(),
        WEAK_PASSPHRASE.encode() + b"\n" + PASSPHRASE.encode(),
    ):
        pwfile = ctx.file(content)
        ctx.run(["seal", plain, "-o", out, "--passphrase-file", pwfile, *KDF])
        ctx.run(["unseal", sealed, "--passphrase-file", pwfile])
    ctx.run(["seal", plain, "-o", out, "--passphrase-file", ctx.path("missing"), *KDF])
    ctx.mp.setenv("HTB_PASSPHRASE", WEAK_PASSPHRASE)
    ctx.run(["seal", plain, "-o", out, *KDF])
    ctx.mp.setenv("HTB_PASSPHRASE", PASSPHRASE + "\udcff")  # not UTF-8 in the environment
    ctx.run(["seal", plain, "-o", out, *KDF])
    ctx.run(["unseal", sealed])
    ctx.mp.delenv("HTB_PASSPHRASE")
    ctx.run(["unseal", sealed])  # no terminal to prompt on
    _finish(ctx)


# --- command line -------------------------------------------------------------------------
def test_unknown_options_with_secret_values(ctx: Ctx) -> None:
    sealed = ctx.sealed(hostile.manifest_rich())
    for argv in (
        ["unseal", sealed, f"--passphrase={PASSPHRASE}"],
        ["unseal", sealed, "--passphrase", PASSPHRASE],
        ["unseal", "--passphrase", PASSPHRASE, sealed],
        ["--passphrase", PASSPHRASE, "unseal", sealed],
        [f"--passphrase={PASSPHRASE}"],
        ["unseal", sealed, f"--pass={PASSPHRASE}"],
        ["unseal", sealed, "-p", PASSPHRASE],
        ["unseal", sealed, f"-p{PASSPHRASE}"],
        ["unseal", sealed, PASSPHRASE],
        [PASSPHRASE],
        [PASSPHRASE, sealed],
        ["seal", "--kdf-opslimit", PASSPHRASE, sealed],
        ["seal", sealed, f"--kdf-memlimit={PASSPHRASE}"],
        ["passphrase", "--words", PASSPHRASE],
        ["restore", "-m", sealed, f"--rootcap={ROOTCAP}"],
        ["restore", "-m", sealed, "--cap", ROOTCAP],
        ["init", "-m", sealed, "--introducer", INTRO_FURL],
        ["init", "-m", sealed, "--timeout", INTRO_FURL],
        ["backup", "-m", sealed, "--client-auth", CLIENT_AUTH_KEY],
        ["convert", sealed, "-o", ctx.path("x"), "--new-passphrase", NEW_PASSPHRASE],
        ["status", "--web-port", ROOTCAP, "--bogus", ROOTCAP],
    ):
        ctx.run(argv)
    for words in ("0", "-1", "101", "1000000", "abc", "", "5.5"):
        ctx.run(["passphrase", "--words", words])
    _finish(ctx)


# --- convert --------------------------------------------------------------------------------
def test_convert_errors(ctx: Ctx) -> None:
    old = ctx.legacy(hostile.legacy_manifest())
    new_pw = ctx.file(NEW_PASSPHRASE + "\n")
    out = ctx.path("new.htb")
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", ctx.file(WEAK_PASSPHRASE)])
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", ctx.file(b"")])
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", ctx.file(b"\xff" + b"x" * 30)])
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", ctx.path("missing")])
    ctx.run(["convert", old, "-o", out])  # no new passphrase: never $HTB_PASSPHRASE silently
    ctx.mp.setenv("HTB_NEW_PASSPHRASE", WEAK_PASSPHRASE)
    ctx.run(["convert", old, "-o", out])
    ctx.mp.delenv("HTB_NEW_PASSPHRASE")
    ctx.run(
        [
            "convert",
            old,
            "-o",
            ctx.file(b"x") + "/sub/new.htb",
            "--new-passphrase-file",
            new_pw,
            *KDF,
        ]
    )
    ctx.run(
        ["convert", old, "-o", out, "--new-passphrase-file", new_pw, "--kdf-memlimit", "100000"]
    )
    ctx.mp.setenv("HTB_PASSPHRASE", WRONG_PASSPHRASE)
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", new_pw, *KDF])
    ctx.mp.setenv("HTB_PASSPHRASE", PASSPHRASE)
    # success writes only the file, and says nothing secret
    ctx.run(["convert", old, "-o", out, "--new-passphrase-file", new_pw, *KDF], error=False)
    ctx.run(["unseal", out, "-o", ctx.path("plain.json"), "--passphrase-file", new_pw], error=False)
    # a current manifest given to convert: whatever it does, it says nothing secret
    ctx.run(
        [
            "convert",
            ctx.sealed(hostile.manifest_rich()),
            "-o",
            out,
            "--new-passphrase-file",
            new_pw,
            *KDF,
        ],
        error=None,
    )
    _finish(ctx)


# --- seal / unseal successes: nothing secret outside the plaintext itself -----------------------
def test_successes_say_nothing_secret(ctx: Ctx) -> None:
    plain = ctx.file(json.dumps(hostile.manifest_rich(), indent=2))
    sealed = ctx.path("m.htb")
    ctx.run(["seal", plain, "-o", sealed, *KDF], error=False)
    ctx.run(["seal", plain, "--armor", *KDF], error=False)  # armored text on stdout
    ctx.run(["seal", plain, *KDF], error=False)  # binary on stdout
    ctx.run(["unseal", sealed, "-o", ctx.path("plain.json")], error=False)
    # By design `htb unseal` prints the plaintext (rootcaps and all) to standard output:
    # that is how a person reads their manifest. Only stderr is searched there.
    ctx.run(["unseal", sealed], error=False, stdout_is_plaintext=True)
    ctx.run(
        ["unseal", ctx.legacy(hostile.legacy_manifest())], error=False, stdout_is_plaintext=True
    )
    ctx.run(["passphrase"], error=False)
    ctx.run(["passphrase", "--words", "3"], error=None)
    _finish(ctx)


# --- the grid -------------------------------------------------------------------------------
def test_grid_errors(ctx: Ctx) -> None:
    data = _grid_manifest(ctx)
    m = ctx.sealed(data)
    clearnet = hostile._deep_set(
        data,
        ("grid", "introducers", "default", "furl"),
        f"pb://{INTRO_TUBID}@tcp:203.0.113.7:3457,tor:{'c' * 56}.onion:1/{INTRO_SWISS}",
    )
    clearnet_m = ctx.sealed(clearnet)
    ctx.run(["init", "-m", clearnet_m])  # a non-onion hint
    ctx.run(["init", "-m", clearnet_m, "--unsafe-no-tor"])  # not only loopback
    ctx.run(["init"])  # no manifest
    ctx.run(["start"], error=None)  # not configured yet
    ctx.run(["snapshots", "-m", m])  # node not running
    ctx.run(["init", "-m", m], error=False)
    ctx.run(["start", "-m", m], error=False)
    ctx.run(["status"], error=False)
    ctx.run(["backup", "-m", m, "-v"], error=False)
    ctx.run(["snapshots", "-m", m], error=False)
    ctx.run(["backup", "-m", m, ROOTCAP])  # an entry name that is a secret
    ctx.run(["restore", "-m", m, INTRO_FURL])
    ctx.run(["restore", "-m", m])  # targets not empty
    ctx.run(["restore", "-m", m, "--snapshot", "no-such-snapshot", "--to", ctx.path("r1")])
    ctx.run(["restore", "-m", m, "--to", ctx.path("r2")], error=False)
    for server in ctx.laptop.grid.server_names[1:]:
        ctx.laptop.grid.stop_server(server)
    ctx.run(["backup", "-m", m, "--timeout", "0"])  # too few servers
    ctx.run(["restore", "-m", m, "--to", ctx.path("r3"), "--timeout", "0"])
    for server in ctx.laptop.grid.server_names:
        ctx.laptop.grid.start_server(server)
    # a manifest whose alias this node does not know
    other = hostile._deep_set(data, ("aliases", "docs"), hostile.SHARED_CAP.replace("-RO", ""))
    ctx.run(["backup", "-m", ctx.sealed(other)], error=None)
    ctx.laptop.client.aliases.pop("docs")
    ctx.run(["backup", "-m", m])  # MissingAliasError
    # the local directory is gone
    missing = hostile._deep_set(data, ("backups", 0, "local"), ctx.path("gone"))
    ctx.run(["backup", "-m", ctx.sealed(missing)])
    ctx.run(["stop"], error=False)
    ctx.run(["backup", "-m", m, "--timeout", "0"])  # node stopped
    _finish(ctx)


def test_new_manifest_errors(ctx: Ctx) -> None:
    data = _grid_manifest(ctx)
    plaintexts = dict(hostile.hostile_plaintexts())
    out = ctx.path("new.htb")
    for name in (
        "rootcap-trailing-space",
        "furl-bad-hint",
        "unknown-field-secret-value",
        "version-secret",
    ):
        ctx.run(["new-manifest", ctx.file(plaintexts[name]), "-o", out, *KDF])
    template = dict(data, aliases={})
    tpl = ctx.file(json.dumps(template))
    ctx.mp.setenv("HTB_PASSPHRASE", WEAK_PASSPHRASE)
    ctx.run(["new-manifest", tpl, "-o", out, *KDF])
    ctx.mp.setenv("HTB_PASSPHRASE", PASSPHRASE)
    ctx.run(["new-manifest", tpl, "-o", out, *KDF], error=None)
    _finish(ctx)
