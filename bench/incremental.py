"""Issue 25, item 4: an incremental `htb backup` against raw `tahoe backup`; where htb's time goes.

On a plain-TCP Tahoe grid on 127.0.0.1 (htb.testing.devgrid: an introducer, 4 storage
nodes, 2-of-4, happy 3), one node started by `htb start`, the sample tree of
scripts/make-sample-data for htb and another (other seed) for raw `tahoe backup` to
an alias of its own through the same node. ROUNDS rounds, each: one file changed in
each tree, then raw `tahoe backup`, the htb of git revision OLD_REV (`git archive`,
the repository untouched) and this htb. Medians, and htb/raw.

Then one `htb backup` of each htb under cProfile (this process's bench only: htb
prints nothing more), its seconds by phase: Python start and imports, unsealing the
manifest (the Argon2id KDF: how many runs), the node's status and the wait for
servers, the `tahoe backup` child, what htb does on the grid after it, sealing the
backupdb. On this grid a round trip to a storage node costs nothing; over Tor each
costs a few hundred milliseconds (bench/client.py measures that).

Never asserts on time.
Usage: .venv/bin/python bench/incremental.py [--rounds 5] [--old-rev 2978ca1]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

from devgrid_bench import REPO, WEB, fmt, laptop_env, main_on_devgrid, old_htb, timed_htb

from htb.testing.devgrid import DevGrid

# (label, qualified-name suffixes whose cumulative time is that phase), in run order.
PHASES = [
    ("unseal the manifest (Argon2id KDF runs)", ["envelope.py:_master_key"]),
    ("node status (web API)", ["tahoe.py:status"]),
    ("`tahoe backup` child", ["tahoe.py:_cli"]),
    ("htb on the grid after it", ["tahoe.py:_record_top_mode"]),
    # Not save_backupdb: with a thread started in the backup, Python 3.12+ cProfile
    # charges it the time of the calls before it.
    ("seal the backupdb", ["backupdb.py:seal", "files.py:write_atomic"]),
]


class Laptop:
    def __init__(self, base: Path) -> None:
        self.home, self.runtime = base / "laptop", base / "run-user"
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        self.node = self.runtime / "htb-node"

    def env(self, src: Path) -> dict[str, str]:
        return laptop_env(src, self.home, self.runtime)

    def htb(self, src: Path, *args: str, profile: Path | None = None) -> float:
        prof = ("-m", "cProfile", "-o", str(profile)) if profile else ()
        return timed_htb(args, self.env(src), before=prof)

    def tahoe(self, *args: str) -> float:
        start = time.monotonic()
        subprocess.run(
            [os.environ["HTB_TAHOE"], "-d", str(self.node), *args],
            capture_output=True,
            check=True,
        )
        return time.monotonic() - start


def phases(profile: Path, wall: float) -> list[tuple[str, float, int]]:
    """(phase, seconds, calls) from a cProfile dump of one `htb backup`."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    found: dict[str, tuple[float, int]] = {}
    main_time = 0.0
    for (file, _line, func), (cc, _nc, _tt, ct, _callers) in stats.items():
        where = f"{file}:{func}"
        if where.endswith("htb/cli.py:main"):
            main_time = max(main_time, ct)
        for label, names in PHASES:
            if any(where.endswith(n) for n in names):
                seconds, calls = found.get(label, (0.0, 0))
                found[label] = (seconds + ct, calls + cc)
    rows = [("Python start, imports (outside main)", wall - main_time, 1)]
    rows += [(label, *found.get(label, (0.0, 0))) for label, _ in PHASES]
    rest = main_time - sum(s for label, s, _ in rows[1:])
    rows.append(("the rest of main", rest, 1))
    return rows


def main() -> None:
    main_on_devgrid(
        __doc__,
        run,
        rounds=5,
        old_rev="2978ca1",
        old_rev_help="the htb before issue 25, item 4",
        prefix="htb-bench-incr-",
    )


def run(args: argparse.Namespace, base: Path, grid: DevGrid) -> None:
    laptop = Laptop(base)
    docs, raw = laptop.home / "Documents", laptop.home / "raw"
    for tree, seed in ((docs, "1"), (raw, "2")):
        count = subprocess.run(
            [sys.executable, str(REPO / "scripts/make-sample-data"), str(tree), "4", seed],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    template = {
        "version": 1,
        "grid": {
            "introducers": {"default": {"furl": grid.furl}},
            "shares": {"needed": 2, "happy": 3, "total": 4},
        },
        "aliases": {},
        "backups": [{"alias": "docs", "path": "laptop/documents", "local": str(docs)}],
    }
    (base / "template.json").write_text(json.dumps(template))
    sealed = laptop.home / "alice.htb"
    new, old = REPO / "src", old_htb(args.old_rev, base)
    m = ["-m", str(sealed)]
    laptop.htb(new, "new-manifest", str(base / "template.json"), "-o", str(sealed), *WEB,
               "--unsafe-no-tor")  # fmt: skip
    laptop.htb(new, "stop", *WEB)
    laptop.htb(new, "start", *m, *WEB, "--unsafe-no-tor")
    laptop.tahoe("create-alias", "raw")
    raw_backup = ["backup", "--exclude=*.tmp", str(raw), "raw:raw"]
    full = (laptop.tahoe(*raw_backup), laptop.htb(new, "backup", *m))
    print(
        f"grid: devgrid on 127.0.0.1, 4 storage nodes, 2/3/4; trees of {count} files; "
        f"full backup raw {full[0]:.1f} s, htb {full[1]:.1f} s"
    )

    def change(tree: Path) -> None:
        next(tree.rglob("note 000 ✎.txt")).write_text(f"changed {time.time_ns()}\n")

    times: dict[str, list[float]] = {"raw": [], "old": [], "new": []}
    for _ in range(args.rounds):
        change(raw)
        times["raw"].append(laptop.tahoe(*raw_backup))
        change(docs)
        times["old"].append(laptop.htb(old, "backup", *m))
        change(docs)
        times["new"].append(laptop.htb(new, "backup", *m))
    r = statistics.median(times["raw"])
    print(f"\nbackup after a one-file change, median of {args.rounds}:")
    print(f"  raw tahoe backup:          {r:5.2f} s  {fmt(times['raw'])}")
    for key, label in (("old", f"htb {args.old_rev} (before)"), ("new", "this htb")):
        h = statistics.median(times[key])
        print(f"  {label:26} {h:5.2f} s  {fmt(times[key])}  htb/raw {h / r:.2f}")

    print("\none `htb backup` after a one-file change under cProfile, by phase (s, calls):")
    for key, src in (("old", old), ("new", new)):
        change(docs)
        profile = base / f"{key}.prof"
        wall = laptop.htb(src, "backup", *m, profile=profile)
        print(f"  {'before' if key == 'old' else 'after'} ({wall:.2f} s in all):")
        for label, seconds, calls in phases(profile, wall):
            print(f"    {label:38} {seconds:5.2f}  {calls}")
    laptop.htb(new, "stop", *WEB)


if __name__ == "__main__":
    main()
