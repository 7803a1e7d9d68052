"""The node in RAM (issue 9): what rebuilding it at each start and dropping the backupdb cost.

On a plain-TCP Tahoe grid on 127.0.0.1 (htb.testing.devgrid: an introducer, 4 storage
nodes, 2-of-4, happy 3) and the sample tree of scripts/make-sample-data (2 200
files, most of them small, and one LARGE-MiB file), it prints:

1. `htb start` with the node rebuilt from the manifest in RAM (this htb) against
   the old behaviour, reusing an existing node directory (the htb of git
   revision OLD_REV, run from `git archive`): time until `htb start` returns, and
   until shares.happy storage servers are connected. Both unseal a manifest
   sealed with the default KDF.
2. `htb backup` of the same tree after a one-file change: the first after a
   "reboot" (`htb stop` deletes the node directory and its backupdb; `htb start`)
   against a warm one (same node, backupdb present). ROUNDS rounds; median.
3. The first backup on a new laptop after a restore: time, and the storage
   indexes added on the storage nodes, with the manifest's convergence secret and
   with a random one (a manifest without `convergence`, as before issue 9).

Never asserts on time.
Usage: .venv/bin/python bench/ram_node.py [--rounds 3] [--large-mib 4] [--old-rev 5e20867]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from devgrid_bench import (
    PW,
    REPO,
    WEB,
    fmt,
    laptop_env,
    main_on_devgrid,
    old_htb,
    timed_htb,
)

from htb.manifest import DEFAULT_KDF, seal, validate
from htb.ops import new_convergence_secret
from htb.tahoe import TahoeClient
from htb.testing.devgrid import DevGrid

TCP = [*WEB, "--unsafe-no-tor"]


class Htb:
    """One htb (this one, or an old one from ``src``) on one laptop (HOME, RAM dir)."""

    def __init__(self, src: Path, home: Path, runtime: Path, node: Path | None = None) -> None:
        self.src, self.home, self.runtime, self.node = src, home, runtime, node
        home.mkdir(parents=True, exist_ok=True)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def node_dir(self) -> Path:
        return self.node or self.runtime / "htb-node"

    def __call__(self, *args: str) -> float:
        node = ("-d", str(self.node)) if self.node else ()
        return timed_htb(args, laptop_env(self.src, self.home, self.runtime), after=node)

    def wait_connected(self, happy: int, since: float) -> float:
        client = TahoeClient(self.node_dir)
        while client.status().connected < happy:
            time.sleep(0.05)
        return time.monotonic() - since


def storage_indexes(grid: DevGrid) -> set[str]:
    found = set()
    for name in grid.storage_names:
        shares = grid.base / name / "storage" / "shares"
        if shares.is_dir():
            found |= {si.name for prefix in shares.iterdir() for si in prefix.iterdir()}
    return found


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed_start(htb: Htb, manifest: Path, happy: int) -> tuple[float, float]:
    t0 = time.monotonic()
    returned = htb("start", "-m", str(manifest), *TCP)
    return returned, htb.wait_connected(happy, t0)


def main() -> None:
    main_on_devgrid(
        __doc__,
        run,
        rounds=3,
        old_rev="5e20867",
        old_rev_help="the htb before the node in RAM",
        prefix="htb-bench-ram-",
    )


def run(args: argparse.Namespace, base: Path, grid: DevGrid) -> None:
    shares = {"needed": 2, "happy": 3, "total": 4}
    docs = base / "laptop" / "Documents"
    count = subprocess.run(
        [sys.executable, str(REPO / "scripts/make-sample-data"), str(docs), str(args.large_mib)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"grid: devgrid on 127.0.0.1, 4 storage nodes, shares 2/3/4; tree: {count} files, "
        f"{args.large_mib} MiB large file; default KDF to unseal"
    )
    template = {
        "version": 1,
        "grid": {"introducers": {"default": {"furl": grid.furl}}, "shares": shares},
        "aliases": {},
        "backups": [{"alias": "docs", "path": "laptop/documents", "local": str(docs)}],
    }
    (base / "template.json").write_text(json.dumps(template))
    new = Htb(REPO / "src", base / "laptop", base / "run-user")
    sealed = base / "laptop" / "alice.htb"
    new("new-manifest", str(base / "template.json"), "-o", str(sealed), *TCP)
    new("stop", *WEB)
    full_data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "htb", "unseal", str(sealed)],
            env={**os.environ, "HTB_PASSPHRASE": PW, "PYTHONPATH": str(REPO / "src")},
            capture_output=True,
            check=True,
        ).stdout
    )

    # 1. htb start: rebuilt in RAM vs an existing node directory reused (old htb).
    old_src = old_htb(args.old_rev, base)
    legacy = {k: v for k, v in full_data.items() if k not in ("kind", "convergence")}
    old_sealed = base / "old.htb"
    old_sealed.write_bytes(seal(validate(legacy), PW, kdf=DEFAULT_KDF))
    old = Htb(old_src, base / "old-laptop", base / "old-run", node=base / "old-laptop/.htb/node")
    (base / "old-laptop/.htb").mkdir(mode=0o700)  # as roles/client_tails made it
    old("start", "-m", str(old_sealed), *TCP)  # creates the persistent node directory once
    old("stop", *WEB)
    starts: dict[str, list[tuple[float, float]]] = {"ram": [], "old": []}
    for _ in range(args.rounds):
        starts["old"].append(timed_start(old, old_sealed, shares["happy"]))
        old("stop", *WEB)
        starts["ram"].append(timed_start(new, sealed, shares["happy"]))
        new("stop", *WEB)
    print("\n1. htb start (median of", args.rounds, "): returns / happy servers connected")
    for key, label in (
        ("ram", "node rebuilt in RAM (this htb)"),
        ("old", f"existing node directory reused (htb {args.old_rev})"),
    ):
        ret = median([s[0] for s in starts[key]])
        conn = median([s[1] for s in starts[key]])
        print(f"   {label}: {ret:.2f} s / {conn:.2f} s")
    old_node = old.node_dir
    assert old_node.is_dir()

    # 2. The first backup after a reboot vs a warm one, each after a one-file change.
    note = next(docs.rglob("note 000 ✎.txt"))
    m = ["-m", str(sealed)]
    saved = sealed.with_name(sealed.name + ".backupdb")

    def change() -> None:
        note.write_text(f"changed {time.time_ns()}\n")

    new("start", *m, *TCP)
    initial = new("backup", *m)
    warm: list[float] = []
    sealed_db: list[float] = []
    dropped: list[float] = []
    for _ in range(args.rounds):
        change()
        warm.append(new("backup", *m))
        new("stop", *WEB)  # a reboot: the node directory and its backupdb are gone
        new("start", *m, *TCP)  # opens the sealed backupdb into the new node
        change()
        sealed_db.append(new("backup", *m))
        new("stop", *WEB)
        saved.unlink()  # the design's first choice: no backupdb kept at all
        new("start", *m, *TCP)
        change()
        dropped.append(new("backup", *m))
    print(
        f"\n2. htb backup after a one-file change, {count} files (initial upload: {initial:.1f} s)"
    )
    w = median(warm)
    print(f"   warm (same session, backupdb in RAM), median: {w:.2f} s  {fmt(warm)}")
    for label, values in (
        ("first after a reboot, backupdb sealed beside the manifest", sealed_db),
        ("first after a reboot, backupdb dropped", dropped),
    ):
        print(
            f"   {label}, median: {median(values):.2f} s  {fmt(values)}  "
            f"= {median(values) / w:.2f}x warm (target <= 1.5x)"
        )
    new("stop", *WEB)

    # 3. A new laptop: restore from the manifest, then back up the restored tree.
    for label, data in (
        ("same convergence secret (the manifest's)", full_data),
        (
            "another convergence secret (as without one)",
            {**full_data, "convergence": new_convergence_secret()},
        ),
    ):
        other = base / f"new-laptop-{len(label)}"
        manifest = base / f"copy-{len(label)}.htb"
        manifest.write_bytes(seal(validate(data), PW, kdf=DEFAULT_KDF))
        laptop = Htb(REPO / "src", other, other / "run-user")
        docs.rename(docs.with_name("Documents.before"))
        laptop("start", "-m", str(manifest), *TCP)
        restore = laptop("restore", "-m", str(manifest))
        before = storage_indexes(grid)
        took = laptop("backup", "-m", str(manifest))
        added = storage_indexes(grid) - before
        laptop("stop", *WEB)
        print(
            f"\n3. new laptop, {label}: restore {restore:.1f} s; first backup {took:.2f} s, "
            f"{len(added)} new storage indexes on the grid"
        )
        subprocess.run(["rm", "-rf", str(docs)], check=True)
        docs.with_name("Documents.before").rename(docs)
    directories = sum(1 for p in docs.rglob("*") if p.is_dir()) + 1
    big = sum(1 for p in docs.rglob("*") if p.is_file() and p.stat().st_size > 55)
    print(
        f"   (the tree: {directories} directories, {big} files over 55 bytes, the rest "
        "LIT: kept inside their directory's cap)"
    )


if __name__ == "__main__":
    main()
