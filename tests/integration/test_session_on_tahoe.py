"""Issue 9 on a real Tahoe grid (127.0.0.1): the node in RAM, invitations, export, convergence.

Each test runs ``python -m htb`` as a person does, with ``$HOME`` standing for Tails'
Persistent Storage (what survives a reboot: the sealed manifest, the data) and
``$XDG_RUNTIME_DIR`` for the RAM where the node lives while it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import GridHarness, make_tree, read_tree

from htb.manifest import TEST_KDF, open_sealed, seal, validate

pytestmark = [pytest.mark.tahoe, pytest.mark.slow]

OPERATOR_PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
ACTIVIST_PW = "cobweb paprika unsocial tripod glacier sponge ruckus"
UNUSED_NEW_PW = "not-this-one but a secret all the same"  # HTB_NEW_PASSPHRASE, overridden
WEB = ["--web-port", "tcp:0:interface=127.0.0.1"]
CHEAP_KDF = ["--kdf-opslimit", "1", "--kdf-memlimit", "1"]


@dataclass
class Laptop:
    """One Tails session's environment: Persistent Storage and a RAM directory."""

    persistent: Path
    runtime: Path
    passphrase: str = OPERATOR_PW

    @classmethod
    def new(cls, root: Path) -> Laptop:
        persistent = root / "Persistent"
        runtime = root / "run-user"
        persistent.mkdir(parents=True)
        runtime.mkdir(mode=0o700)
        return cls(persistent, runtime)

    @property
    def node(self) -> Path:
        return self.runtime / "htb-node"

    def htb(
        self, *args: str, check: bool = True, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HTB_", "XDG_"))} | {
            "HOME": str(self.persistent),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "HTB_PASSPHRASE": self.passphrase,
            "HTB_TAHOE": os.environ["HTB_TAHOE"],
            **extra_env,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "htb", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.persistent,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"htb {args[0]} exited {proc.returncode}: {proc.stderr}")
        return proc

    def web_json(self, cap: str, path: str = "") -> Any:
        url = (self.node / "node.url").read_text().strip()
        quoted = urllib.parse.quote(cap, safe="") + ("/" + urllib.parse.quote(path) if path else "")
        with urllib.request.urlopen(f"{url}uri/{quoted}?t=json", timeout=60) as resp:  # noqa: S310
            return json.load(resp)

    def file_caps(self, rootcap: str, path: str) -> dict[str, str]:
        """Relative path -> read cap of every file under ``path``, via the web API."""
        out: dict[str, str] = {}
        pending = [("", self.web_json(rootcap, path))]
        while pending:
            rel, node = pending.pop()
            for name, (kind, info) in node[1]["children"].items():
                child = f"{rel}/{name}" if rel else name
                if kind == "dirnode":
                    pending.append((child, self.web_json(info["ro_uri"])))
                else:
                    out[child] = info["ro_uri"]
        return out


def _grid_data(harness: GridHarness) -> dict[str, Any]:
    return json.loads(json.dumps(harness.grid_manifest))


def _invitation(harness: GridHarness, local: Path, path: Path) -> Path:
    data = {
        **_grid_data(harness),
        "kind": "invitation",
        "name": "alice",
        "aliases": {},
        "backups": [{"alias": "docs", "path": "laptop/documents", "local": str(local)}],
    }
    path.write_bytes(seal(validate(data), OPERATOR_PW, kdf=TEST_KDF))
    return path


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                out.append((p, p.read_bytes()))
    return out


def _hits(root: Path, secrets: dict[str, bytes]) -> list[str]:
    found = []
    for path, data in _all_bytes(root):
        found += [f"{what} in {path}" for what, value in secrets.items() if value in data]
    return found


def _node_secrets(node: Path) -> dict[str, bytes]:
    """Every private file of a running node, as the byte strings that give it away."""
    out = {}
    for f in sorted((node / "private").iterdir()):
        if f.is_file() and f.name not in ("introducers.yaml", "servers.yaml", "aliases"):
            text = f.read_bytes()
            out[f"private/{f.name}"] = text.strip()
            # PEM bodies: each base64 line alone is enough to search for.
            for i, line in enumerate(text.splitlines()):
                if len(line) >= 40 and not line.startswith(b"-----"):
                    out[f"private/{f.name} line {i}"] = line.strip()
    return out


def test_nothing_of_a_session_stays_on_persistent_storage(
    tahoe_grid: GridHarness, tmp_path: Path
) -> None:
    """start -> backup -> stop: no secret of the session is left outside the manifest."""
    laptop = Laptop.new(tmp_path)
    docs = laptop.persistent / "Documents"
    files = make_tree(docs)
    invitation = _invitation(tahoe_grid, docs, laptop.persistent / "alice.htb")
    new_pw = tmp_path / "activist.pw"  # outside Persistent: typed in, in real life
    new_pw.write_text(ACTIVIST_PW + "\n")
    m = ["-m", str(invitation), *WEB, "--unsafe-no-tor"]
    outputs = []
    secrets: dict[str, bytes] = {}
    try:
        outputs.append(
            laptop.htb(
                "start",
                *m,
                "--new-passphrase-file",
                str(new_pw),
                *CHEAP_KDF,
                HTB_NEW_PASSPHRASE=UNUSED_NEW_PW,
            )
        )
        laptop.passphrase = ACTIVIST_PW
        full = open_sealed(invitation.read_bytes(), ACTIVIST_PW).manifest
        outputs.append(laptop.htb("backup", *m[:2], "-v"))

        # While it runs: the node is in RAM, closed to others, its process clean.
        assert laptop.node.is_dir()
        for path in [laptop.node, *laptop.node.rglob("*")]:
            mode = path.lstat().st_mode & 0o777
            assert mode & 0o077 == 0, f"{path} is mode {mode:04o}"
        pid = int((laptop.node / "running.process").read_text().split()[0])
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"HTB_PASSPHRASE" not in environ
        assert b"HTB_NEW_PASSPHRASE" not in environ
        for pw in (OPERATOR_PW, ACTIVIST_PW, UNUSED_NEW_PW):
            assert pw.encode() not in environ
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert full.aliases["docs"].encode() not in cmdline

        rootcap = full.aliases["docs"]
        assert full.convergence is not None
        secrets = {
            "the operator's passphrase": OPERATOR_PW.encode(),
            "her passphrase": ACTIVIST_PW.encode(),
            "the HTB_NEW_PASSPHRASE given": UNUSED_NEW_PW.encode(),
            # Every FURL of the grid (introducer, storage servers, log ports): its swissnum.
            **{
                f"swissnum of {what}": furl.rsplit("/", 1)[1].encode()
                for what, furl in tahoe_grid.furls().items()
            },
            "rootcap": rootcap.encode(),
            "rootcap (read-only)": laptop.web_json(rootcap)[1]["ro_uri"].encode(),
            "convergence secret": full.convergence.encode(),
            "convergence secret in the node": (laptop.node / "private/convergence")
            .read_bytes()
            .strip(),
            **{
                f"introducer swissnum {name}": furl.rsplit("/", 1)[1].encode()
                for name, furl in full.introducers.items()
            },
            **_node_secrets(laptop.node),
            **{
                f"file cap {p}": cap.encode()
                for p, cap in laptop.file_caps(rootcap, "laptop/documents/Latest").items()
                if cap != "URI:LIT:"  # an empty file: its cap holds nothing
            },
        }
        assert secrets["convergence secret"] == secrets["convergence secret in the node"]
        assert any(k.startswith("private/node.privkey") for k in secrets)
        storage_swissnums = [k for k in secrets if k.endswith(" storage.furl")]
        assert len(storage_swissnums) == len(tahoe_grid.servers), storage_swissnums
        assert "swissnum of introducer introducer.furl" in secrets
    finally:
        outputs.append(laptop.htb("stop", *WEB, check=False))

    # Stopped: the node directory is gone, and nothing in Persistent Storage gives
    # anything away (the sealed manifest is ciphertext; the documents are the person's).
    assert outputs[-1].returncode == 0
    assert not laptop.node.exists()
    assert list(laptop.runtime.iterdir()) == []
    assert _hits(laptop.persistent, secrets) == []
    for proc in outputs:
        for what, value in secrets.items():
            assert value not in (proc.stdout + proc.stderr).encode(), what
    # Control: the same search finds each secret planted in Persistent Storage (deep in a
    # subdirectory, amid other bytes), so the 0 hits above are not a search that cannot
    # find. Mutation: a passphrase or swissnum written to a file there fails the test.
    planted = laptop.persistent / ".cache" / "planted"
    planted.parent.mkdir()
    for what, value in secrets.items():
        planted.write_bytes(b"before " + value + b" after")
        assert f"{what} in {planted}" in _hits(laptop.persistent, secrets)
    shutil.rmtree(planted.parent)
    assert read_tree(docs) == files
    # Persistent Storage holds the sealed manifest and the sealed backupdb, nothing else of htb.
    assert sorted(p.name for p in laptop.persistent.iterdir()) == [
        "Documents",
        "alice.htb",
        "alice.htb.backupdb",
    ]

    # After a reboot (node gone), the next session's first backup is incremental: the
    # sealed backupdb tells tahoe every file and directory is already on the grid.
    try:
        laptop.htb("start", *m)
        again = laptop.htb("backup", *m[:2], "-v")
        assert " 0 files uploaded (" in again.stderr
        assert " 0 directories created (" in again.stderr
    finally:
        laptop.htb("stop", *WEB)
    assert not laptop.node.exists()


def test_invitation_join_export_restore_and_convergence(
    tahoe_grid: GridHarness, tmp_path: Path
) -> None:
    """The operator's invitation -> the activist's own backups -> a friend's copy -> restore."""
    alice = Laptop.new(tmp_path / "alice")
    docs = alice.persistent / "Documents"
    files = make_tree(docs)
    invitation = _invitation(tahoe_grid, docs, alice.persistent / "alice.htb")
    new_pw = tmp_path / "activist.pw"
    new_pw.write_text(ACTIVIST_PW + "\n")
    m = ["-m", str(invitation), *WEB, "--unsafe-no-tor"]
    friend_copy = tmp_path / "friend" / "alice.htb.asc"
    friend_qr = tmp_path / "friend" / "alice.png"
    try:
        # Exporting an invitation is refused: there is nothing of hers in it yet.
        refused = alice.htb("export", *m[:2], "-o", str(friend_copy), check=False)
        assert refused.returncode == 4
        assert "this is an invitation: run `htb start` first" in refused.stderr
        assert not friend_copy.exists()

        joined = alice.htb("join", *m, "--new-passphrase-file", str(new_pw), *CHEAP_KDF)
        assert "htb export" in joined.stderr
        # The operator's passphrase opens nothing now; hers opens the full manifest.
        alice.passphrase = OPERATOR_PW
        assert alice.htb("unseal", str(invitation), check=False).returncode == 3
        alice.passphrase = ACTIVIST_PW
        full = open_sealed(invitation.read_bytes(), ACTIVIST_PW).manifest
        assert full.kind == "full"
        assert set(full.aliases) == {"docs"}
        assert full.convergence is not None

        alice.htb("backup", *m[:2])
        rootcap = full.aliases["docs"]
        caps_first = alice.file_caps(rootcap, "laptop/documents/Latest")
        alice.htb(
            "export",
            *m[:2],
            "-o",
            str(friend_copy),
            "--armor",
            "--qr",
            str(friend_qr),
            *CHEAP_KDF,
        )
    finally:
        alice.htb("stop", *WEB)
    assert friend_copy.read_text().startswith("-----BEGIN HTB SEALED MANIFEST-----")
    assert friend_copy.stat().st_mode & 0o777 == 0o600
    assert friend_qr.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert open_sealed(friend_copy.read_bytes(), ACTIVIST_PW).manifest == full

    # Seized: her laptop is gone. A new one, the friend's copy and her passphrase.
    shutil.rmtree(tmp_path / "alice")
    bob_laptop = Laptop.new(tmp_path / "new-laptop")
    bob_laptop.passphrase = ACTIVIST_PW
    m2 = ["-m", str(friend_copy), *WEB, "--unsafe-no-tor"]
    try:
        bob_laptop.htb("start", *m2)
        restored = bob_laptop.htb("restore", *m2[:2])
        assert "verified" in restored.stderr
        assert read_tree(docs) == files

        # Same manifest, same convergence secret: backing up the restored tree
        # (new node, no backupdb) gives every file the cap it had: nothing new stored.
        bob_laptop.htb("backup", *m2[:2])
        archives = bob_laptop.web_json(rootcap, "laptop/documents/Archives")[1]["children"]
        assert len(archives) == 2
        caps_again = bob_laptop.file_caps(rootcap, "laptop/documents/Latest")
        assert caps_again == caps_first
    finally:
        bob_laptop.htb("stop", *WEB)


def test_join_with_the_grid_unreachable_leaves_the_invitation(tmp_path: Path) -> None:
    laptop = Laptop.new(tmp_path)
    data = {
        "version": 1,
        "kind": "invitation",
        "grid": {
            "introducers": {"default": {"furl": "pb://aaaa@tcp:127.0.0.1:9/introducer"}},
            "shares": {"needed": 1, "happy": 1, "total": 1},
        },
        "aliases": {},
        "backups": [{"alias": "x", "path": "p", "local": str(tmp_path / "data")}],
    }
    invitation = laptop.persistent / "inv.htb"
    invitation.write_bytes(seal(validate(data), OPERATOR_PW, kdf=TEST_KDF))
    before = invitation.read_bytes()
    new_pw = tmp_path / "activist.pw"
    new_pw.write_text(ACTIVIST_PW + "\n")
    proc = laptop.htb(
        "join",
        "-m",
        str(invitation),
        *WEB,
        "--unsafe-no-tor",
        "--timeout",
        "3",
        "--new-passphrase-file",
        str(new_pw),
        check=False,
    )
    assert proc.returncode == 6, proc.stderr
    assert "0 of 1 needed storage servers connected" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert invitation.read_bytes() == before
    assert not laptop.node.exists()  # the failed join left no node (nor any cap) behind
    assert sorted(p.name for p in laptop.persistent.iterdir()) == ["inv.htb"]
