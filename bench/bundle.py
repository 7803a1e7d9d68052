"""Issue 25: what the operator builds, signs and carries for N activists, before and after.

Before: one ``htb-<name>.run`` per activist, her sealed invitation inside (htb.bundle
of the commit before issue 25, from a git worktree of it). After: one
``htb-<version>.run`` for everyone, signed once, and N sealed invitations
(``<name>.htbm.asc``) beside it. Both from the same wheelhouse
(.cache/wheelhouse/tails-trixie.tar: 66 wheels for Tails' Python) and a throwaway
operator key; each side runs in a Python of its own with its tree's ``src`` first on
the path. The invitations are real sealed invitations (a cheap KDF: sealing them is
roles/activist_manifests' work, the same before and after, and is not timed).

Prints, for N = 1 and 50: the seconds to build and sign, the bytes written (what is
signed and carried), the files and the signatures made; then a rebuild (nothing
changed). Never asserts on time.

Usage: .venv/bin/python bench/bundle.py --before-tree DIR [--counts 1,50]
  (DIR: `git worktree add DIR <commit before issue 25>`, e.g. 2978ca1)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO / ".cache" / "wheelhouse" / "tails-trixie.tar"
PW = "bench only lantern mosaic unpaved fidelity outsmart gurgle"

# Run in a child Python whose htb is the tree's: builds every bundle, twice (the
# second time nothing changes), and prints what it measured as JSON.
SIDE = r"""
import json, sys, time
from pathlib import Path
from htb import bundle
shape, wheelhouse, invitations, dest, fpr, home = sys.argv[1:7]
names = sorted(p.name.removesuffix(".htbm.asc") for p in Path(invitations).glob("*.htbm.asc"))
home = Path(home)
def run():
    results = []
    start = time.monotonic()
    if shape == "before":  # per activist: her invitation inside, each signed
        for name in names:
            results.append(bundle.build(Path(dest), Path(wheelhouse),
                Path(invitations) / f"{name}.htbm.asc", fpr, name, gnupg_home=home,
                python_version="3.13"))
    else:  # the release's: one for all, the invitations beside it
        results.append(bundle.build(Path(dest), Path(wheelhouse), fpr, gnupg_home=home,
            python_version="3.13"))
    return time.monotonic() - start, sum(r.signed for r in results)
first, signed = run()
again, resigned = run()
print(json.dumps({"seconds": first, "signed": signed, "again": again, "resigned": resigned}))
"""


def gpg(home: Path, *args: str) -> str:
    done = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def invitations(out: Path, count: int) -> None:
    """``count`` sealed invitations, as roles/activist_manifests writes them."""
    sys.path.insert(0, str(REPO / "src"))
    from htb.manifest import TEST_KDF, seal, validate

    furl = "pb://" + "a" * 32 + "@tor:" + "c" * 56 + ".onion:3457/" + "d" * 32
    for i in range(count):
        name = f"activist{i:02d}"
        data = {
            "version": 1, "kind": "invitation", "name": name, "aliases": {},
            "grid": {"introducers": {"default": {"furl": furl}},
                     "shares": {"needed": 2, "happy": 3, "total": 3}},
            "backups": [{"alias": "documents", "path": "laptop/documents",
                         "local": "/home/amnesia/Persistent/Documents"}],
        }  # fmt: skip
        sealed = seal(validate(data), PW, kdf=TEST_KDF, armored=True)
        (out / f"{name}.htbm.asc").write_bytes(sealed)


def side(tree: Path, shape: str, base: Path, count: int, fpr: str, home: Path) -> dict:
    inv = base / f"invitations-{count}"
    if not inv.exists():
        inv.mkdir()
        invitations(inv, count)
    dest = base / f"{shape}-{count}"
    done = subprocess.run(
        [sys.executable, "-c", SIDE, shape, str(WHEELHOUSE), str(inv), str(dest), fpr, str(home)],
        capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{shape} {count}: {done.stderr.strip()}")
    out = json.loads(done.stdout)
    files = sorted(p for p in dest.iterdir() if p.is_file())
    carried = [*files, *(sorted(inv.iterdir()) if shape == "after" else [])]
    out["bytes"] = sum(p.stat().st_size for p in carried)
    out["files"] = len(carried)
    out["bundle_bytes"] = sum(p.stat().st_size for p in files if p.suffix == ".run")
    out["invitation_bytes"] = sum(p.stat().st_size for p in inv.iterdir())
    shutil.rmtree(dest)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before-tree", type=Path, required=True)
    p.add_argument("--counts", default="1,50")
    args = p.parse_args()
    if not WHEELHOUSE.is_file():
        raise SystemExit(f"no {WHEELHOUSE}: run scripts/build-tails-wheelhouse")
    with tempfile.TemporaryDirectory(prefix="htb-bench-bundle-") as tmp:
        base = Path(tmp)
        home = base / "gnupg"
        home.mkdir(mode=0o700)
        uid = "HTB bench operator <operator@example.invalid>"
        gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        fpr = next(
            line.split(":")[9]
            for line in gpg(home, "--with-colons", "--list-secret-keys").splitlines()
            if line.startswith("fpr:")
        )
        print("| invitations | shape | build + sign (s) | signatures | bytes carried "
              "(files) | bundle bytes | rebuild, nothing changed (s) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for count in (int(c) for c in args.counts.split(",")):
            for shape, tree in (("before", args.before_tree), ("after", REPO)):
                r = side(tree, shape, base, count, fpr, home)
                print(
                    f"| {count} | {shape} | {r['seconds']:.1f} | {r['signed']} | "
                    f"{r['bytes']:,} ({r['files']}) | {r['bundle_bytes']:,} | "
                    f"{r['again']:.1f} ({r['resigned']} signed) |",
                    flush=True,
                )
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


if __name__ == "__main__":
    main()
