"""Running many inputs, in forked workers, and grouping the failures."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hostile.armor import _b64_char_edit
from hostile.cases import KINDS, Case
from hostile.corpus import Corpus
from hostile.judge import judge, soft_findings
from hostile.runner import Outcome, Runner, Stats


# --- running many, grouping the failures ------------------------------------------
@dataclass
class Tally:
    """Figures of a run, per kind, and the failures grouped with their smallest input."""

    count: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    must_open: dict[str, int] = field(default_factory=dict)
    opened: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    uncaught: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    groups: dict[str, tuple[int, Case, Outcome, list[str]]] = field(default_factory=dict)
    soft: dict[str, int] = field(default_factory=dict)
    slowest: list[tuple[float, str, int]] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def add(self, case: Case, out: Outcome, problems: list[str], soft: list[str]) -> None:
        k = case.kind
        self.count[k] = self.count.get(k, 0) + 1
        self.seconds[k] = self.seconds.get(k, 0.0) + out.seconds
        code = "uncaught" if out.error else str(out.code)
        self.codes.setdefault(k, {})
        self.codes[k][code] = self.codes[k].get(code, 0) + 1
        if case.expect.outcome == "open":
            self.must_open[k] = self.must_open.get(k, 0) + 1
            self.opened[k] = self.opened.get(k, 0) + (out.code == 0)
        if out.code == 0 and case.expect.outcome == "refuse":
            self.accepted[k] = self.accepted.get(k, 0) + 1
        if out.error:
            self.uncaught[k] = self.uncaught.get(k, 0) + 1
        if problems:
            self.failed[k] = self.failed.get(k, 0) + 1
            key = f"{k}: {problems[0]}"
            old = self.groups.get(key)
            if old is None:
                self.groups[key] = (1, case, out, problems)
            else:
                n, best, best_out, best_p = old
                if len(case.data) < len(best.data):
                    best, best_out, best_p = case, out, problems
                self.groups[key] = (n + 1, best, best_out, best_p)
        for s in soft:
            key = f"{k}: {s}"
            self.soft[key] = self.soft.get(key, 0) + 1
        self.slowest.append((out.seconds, f"{k} {case.op}"[:80], case.index))
        self.slowest = sorted(self.slowest, reverse=True)[:5]

    def merge(self, other: Tally) -> None:
        for name in (
            "count",
            "seconds",
            "must_open",
            "opened",
            "accepted",
            "uncaught",
            "failed",
            "soft",
        ):
            mine, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for k, codes in other.codes.items():
            mine_codes = self.codes.setdefault(k, {})
            for code, n in codes.items():
                mine_codes[code] = mine_codes.get(code, 0) + n
        for key, (n, case, out, problems) in other.groups.items():
            old = self.groups.get(key)
            if old is None:
                self.groups[key] = (n, case, out, problems)
            else:
                best = (case, out, problems) if len(case.data) < len(old[1].data) else old[1:]
                self.groups[key] = (old[0] + n, *best)
        self.slowest = sorted(self.slowest + other.slowest, reverse=True)[:5]
        for name in vars(self.stats):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(other.stats, name))

    @property
    def total(self) -> int:
        return sum(self.count.values())

    def report(self) -> str:
        lines = [
            f"{'kind':18} {'inputs':>7} {'seconds':>8} {'must open':>9} {'opened':>6} "
            f"{'accepted':>8} {'uncaught':>8} {'failed':>6}  exit codes"
        ]
        for k in sorted(self.count, key=lambda k: KINDS.index(k) if k in KINDS else 99):
            codes = ", ".join(f"{c}: {n}" for c, n in sorted(self.codes[k].items()))
            lines.append(
                f"{k:18} {self.count[k]:7} {self.seconds[k]:8.1f} {self.must_open.get(k, 0):9} "
                f"{self.opened.get(k, 0):6} {self.accepted.get(k, 0):8} "
                f"{self.uncaught.get(k, 0):8} {self.failed.get(k, 0):6}  {codes}"
            )
        lines.append(
            f"{'total':18} {self.total:7} {sum(self.seconds.values()):8.1f} "
            f"{sum(self.must_open.values()):9} {sum(self.opened.values()):6} "
            f"{sum(self.accepted.values()):8} {sum(self.uncaught.values()):8} "
            f"{sum(self.failed.values()):6}"
        )
        s = self.stats
        lines.append(
            f"Argon2id calls: {s.kdf_calls} (costly in-bound ones run cheap: {s.kdf_substituted};"
            f" stopped outside the bounds: {s.kdf_out_of_bounds}); 2014 scrypt fallbacks: "
            f"{s.scrypt_calls} (cheap stand-in: {s.scrypt_stubbed})"
        )
        lines.append(
            "slowest: " + "; ".join(f"{t:.2f} s {name} (#{i})" for t, name, i in self.slowest)
        )
        return "\n".join(lines)

    def failures(self, limit: int = 60) -> str:
        out = []
        for key, (n, case, o, problems) in sorted(self.groups.items(), key=lambda kv: -kv[1][0])[
            :limit
        ]:
            err = o.error or o.stderr.decode("utf-8", "backslashreplace").strip()[:300]
            out.append(
                f"[{n}x] {key}\n    smallest: #{case.index} op={case.op!r} verb={case.verb} "
                f"{len(case.data)} bytes, expected {case.expect.outcome} "
                f"{case.expect.codes} ({case.expect.reason}); exit {o.code}; "
                f"{'also: ' + '; '.join(problems[1:]) + '; ' if problems[1:] else ''}"
                f"output: {err!r}\n    data[:120]={case.data[:120]!r}"
            )
        soft = [f"  [{n}x] {k}" for k, n in sorted(self.soft.items(), key=lambda kv: -kv[1])]
        if soft:
            out.append("message wording (soft, not failures):\n" + "\n".join(soft[:20]))
        return "\n".join(out)


_CORPORA: dict[tuple[int, bool], Corpus] = {}


def corpus_for(seed: int, *, fast: bool = False) -> Corpus:
    """One corpus per seed and size in a process (forked workers inherit it built)."""
    key = (seed, fast)
    if key not in _CORPORA:
        _CORPORA[key] = Corpus(seed, fast=fast)
        _CORPORA[key].fixed()
    return _CORPORA[key]


def run_cases(cases: list[Case], workdir: Path, *, real_scrypt: bool = False) -> Tally:
    runner = Runner(workdir, real_scrypt=real_scrypt)
    tally = Tally()
    with runner.installed():
        for case in cases:
            out = runner.run(case)
            tally.add(case, out, judge(case, out), soft_findings(case, out))
    tally.stats = runner.stats
    return tally


def run_range(seed: int, start: int, stop: int, workdir: Path, *, fast: bool = False) -> Tally:
    """Run inputs ``start`` to ``stop`` of the corpus of ``seed``; return their tally."""
    corpus = corpus_for(seed, fast=fast)
    return run_cases([corpus.case(i) for i in range(start, stop)], workdir)


def _run_scrypt_case(args: tuple[int, int, int, str]) -> Tally:
    seed, n, k, workdir = args
    return run_cases([real_scrypt_cases(seed, n)[k]], Path(workdir), real_scrypt=True)


def run_real_scrypt(seed: int, n: int, workdir: Path, *, jobs: int) -> Tally:
    """The 2014 inputs of :func:`real_scrypt_cases`, ``jobs`` at a time."""
    import multiprocessing

    corpus_for(seed)
    tasks = [(seed, n, k, str(workdir / f"scrypt{k}")) for k in range(n)]
    total = Tally()
    with multiprocessing.get_context("fork").Pool(max(1, jobs)) as pool:
        for tally in pool.imap_unordered(_run_scrypt_case, tasks):
            total.merge(tally)
    return total


def real_scrypt_cases(seed: int, n: int) -> list[Case]:
    """2014 files whose ciphertext is altered: the reader falls back to the ~11 s scrypt."""
    corpus = corpus_for(seed)
    cases = []
    for k in range(n):
        rng = random.Random(f"{seed}:scrypt:{k}")  # noqa: S311
        op, data = _b64_char_edit(rng, rng.choice(corpus.legacy))
        cases.append(Case("legacy-2014-scrypt", op, data, corpus.expect_unseal(data), index=-1 - k))
    return cases


def _run_chunk(args: tuple[int, int, int, str, bool]) -> Tally:
    seed, start, stop, workdir, fast = args
    return run_range(seed, start, stop, Path(workdir), fast=fast)


def run_parallel(
    seed: int,
    count: int,
    workdir: Path,
    *,
    jobs: int,
    fast: bool = False,
    chunk: int = 500,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Inputs 0..count in ``jobs`` forked processes (each its own corpus, same seed)."""
    import multiprocessing

    corpus_for(seed, fast=fast)  # built once, before the workers fork
    tasks = [
        (seed, s, min(s + chunk, count), str(workdir / f"w{s}"), fast)
        for s in range(0, count, chunk)
    ]
    total = Tally()
    if jobs <= 1:
        for t in tasks:
            total.merge(_run_chunk(t))
            if progress:
                progress(total)
        return total
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs, maxtasksperchild=20) as pool:
        for tally in pool.imap_unordered(_run_chunk, tasks):
            total.merge(tally)
            if progress:
                progress(total)
    return total
