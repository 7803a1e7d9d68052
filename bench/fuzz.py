#!/usr/bin/env python3
"""Fuzz htb's whole reading path: 100 000 hostile inputs and more (issue 13).

Same generator and judge as the CI slice (tests/hostile/, tests/unit/test_fuzz.py):
``htb unseal`` on mutated binary, armored and 2014 manifests and on properly sealed
hostile plaintexts, ``htb seal`` on hostile plaintext JSON, all in-process through
``htb.cli.main`` with $HTB_PASSPHRASE. Prints inputs per kind, time, refusals by exit
code, must-open inputs and how many opened, accepted (altered inputs that opened),
uncaught exceptions, and every failure grouped with its smallest input.

    .venv/bin/python bench/fuzz.py --count 100000            # the benchmark
    .venv/bin/python bench/fuzz.py --seed 13 --fast --index 1295   # replay one input

Input N of a seed is always the same bytes: the first ones are a fixed list
(truncations at every length, header and armor edits, hostile plaintexts, size
limits), the rest random mutations drawn from random.Random(f"{seed}:{N}"). A few 2014
files with altered ciphertext also run the real ~11 s scrypt fallback (--real-scrypt);
elsewhere a cheap stand-in key fails the same way. Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402


def _show(seed: int, index: int, fast: bool, workdir: Path) -> int:
    corpus = hostile.corpus_for(seed, fast=fast)
    case = corpus.case(index)
    runner = hostile.Runner(workdir)
    with runner.installed():
        out = runner.run(case)
    print(f"#{index} kind={case.kind} op={case.op} verb={case.verb} {len(case.data)} bytes")
    print(f"expected: {case.expect}")
    print(f"exit {out.code}; {out.error or ''} {out.where or ''}")
    print(f"stderr: {out.stderr.decode('utf-8', 'backslashreplace')!r}")
    print(f"stdout: {out.stdout[:300]!r}")
    print(f"data[:400]: {case.data[:400]!r}")
    problems = hostile.judge(case, out)
    print("problems:", problems or "none")
    return 1 if problems else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100_000, help="inputs (fixed list included)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--fast", action="store_true", help="the CI slice's smaller fixed list")
    p.add_argument(
        "--real-scrypt",
        type=int,
        default=5,
        metavar="N",
        help="2014 inputs that run the real scrypt fallback (~11 s each)",
    )
    p.add_argument("--index", type=int, help="replay one input and show what htb did")
    p.add_argument("--save", type=Path, help="write the smallest input of each failure here")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="htb-fuzz-") as tmp:
        if args.index is not None:
            return _show(args.seed, args.index, args.fast, Path(tmp))
        start = time.perf_counter()
        corpus = hostile.corpus_for(args.seed, fast=args.fast)
        fixed = len(corpus.fixed())
        built = time.perf_counter() - start
        print(
            f"seed {args.seed}: {args.count} inputs ({min(fixed, args.count)} fixed, "
            f"{max(0, args.count - fixed)} random), {args.jobs} worker(s); "
            f"corpus built in {built:.1f} s",
            flush=True,
        )
        step = max(args.count // 10, 1)
        shown = [0]

        def progress(t: hostile.Tally) -> None:
            if t.total - shown[0] >= step:
                shown[0] = t.total
                rate = t.total / (time.perf_counter() - start)
                print(
                    f"  {t.total} inputs, {sum(t.failed.values())} failed, {rate:.0f}/s", flush=True
                )

        tally = hostile.run_parallel(
            args.seed,
            args.count,
            Path(tmp),
            jobs=args.jobs,
            fast=args.fast,
            chunk=500,
            progress=progress,
        )
        if args.real_scrypt:
            scrypt_start = time.perf_counter()
            tally.merge(
                hostile.run_real_scrypt(args.seed, args.real_scrypt, Path(tmp), jobs=args.jobs)
            )
            print(
                f"  {args.real_scrypt} 2014 inputs with the real scrypt: "
                f"{time.perf_counter() - scrypt_start:.1f} s",
                flush=True,
            )
        wall = time.perf_counter() - start

    print()
    print(tally.report())
    failed = sum(tally.failed.values())
    print(
        f"wall time {wall:.1f} s ({tally.total / wall:.0f} inputs/s, {args.jobs} workers); "
        f"failed inputs: {failed}; accepted: {sum(tally.accepted.values())}; "
        f"uncaught: {sum(tally.uncaught.values())}"
    )
    if tally.groups or tally.soft:
        print()
        print(tally.failures(limit=200))
    if args.save and tally.groups:
        args.save.mkdir(parents=True, exist_ok=True)
        for n, (key, (_, case, _, _)) in enumerate(sorted(tally.groups.items())):
            name = f"{n:03d}-{case.kind}-{case.index}.bin"
            (args.save / name).write_bytes(case.data)
            print(f"saved {args.save / name}: {key}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
