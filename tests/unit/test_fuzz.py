"""Issue 13, the fast slice: hostile input never crashes htb and never opens when altered.

About 2 000 inputs through ``htb unseal`` (binary, armored, 2014, properly sealed
hostile plaintexts) and ``htb seal`` (hostile plaintext JSON), in-process, in two
forked workers. The generator, the expectations and the judge are tests/hostile/;
bench/fuzz.py runs the same at 100 000 inputs and more. Every failure is reported
with its corpus index: ``bench/fuzz.py --seed 13 --fast --index N`` replays it.
"""

from __future__ import annotations

import os

import hostile
import pytest

from htb.manifest import TEST_KDF, envelope, open_sealed, seal, validate

SEED = 13
RANDOM_INPUTS = 400


@pytest.fixture(scope="module")
def tally(tmp_path_factory: pytest.TempPathFactory) -> hostile.Tally:
    corpus = hostile.corpus_for(SEED, fast=True)
    count = len(corpus.fixed()) + RANDOM_INPUTS
    jobs = min(2, os.cpu_count() or 1)
    workdir = tmp_path_factory.mktemp("fuzz")
    return hostile.run_parallel(SEED, count, workdir, jobs=jobs, fast=True, chunk=250)


def test_the_harness_seals_as_htb_does() -> None:
    """The originals are htb's format: htb opens them; htb's own output parses the same."""
    corpus = hostile.corpus_for(SEED, fast=True)
    opened = open_sealed(corpus.binaries[1], hostile.PASSPHRASE)
    assert opened.manifest.data == hostile.manifest_rich()
    assert open_sealed(corpus.armored[1], hostile.PASSPHRASE).form == "armored"
    assert open_sealed(corpus.legacy[0], hostile.PASSPHRASE).form == "legacy-2014"
    blob = seal(validate(hostile.manifest_rich()), hostile.PASSPHRASE, kdf=TEST_KDF)
    assert hostile.ref_binary(blob) == ("kdf", False)
    assert envelope.armor(blob).encode() == hostile.armor(blob)


def test_inputs_are_reproducible() -> None:
    a, b = hostile.Corpus(SEED, fast=True), hostile.Corpus(SEED, fast=True)
    n = len(a.fixed())
    assert a.fixed()[5].data == b.fixed()[5].data
    assert [a.case(n + i).data for i in range(20)] == [b.case(n + i).data for i in range(20)]


@pytest.mark.parametrize("kind", hostile.KINDS)
def test_fuzz_slice(tally: hostile.Tally, kind: str) -> None:
    """0 accepted, 0 uncaught, one ``htb: error:`` line with the documented code, no leak."""
    assert tally.count.get(kind, 0) > 0
    failures = {k: v for k, v in tally.groups.items() if k.startswith(f"{kind}: ")}
    if failures:
        sub = hostile.Tally(groups=failures)
        pytest.fail(
            f"{tally.failed.get(kind, 0)} of {tally.count[kind]} {kind} inputs:\n" + sub.failures()
        )


def test_fuzz_slice_covers_both_sides(tally: hostile.Tally) -> None:
    """No-op edits that must still open (re-wrapped armor, CRLF, quoting, text around the
    block, 2014 line breaks, valid JSON variants) are part of the slice, and did open."""
    for kind in ("armored", "legacy-2014", "sealed-plaintext", "seal-plaintext"):
        assert tally.must_open.get(kind, 0) >= 5, kind
    assert tally.stats.kdf_out_of_bounds == 0
    print("\n" + tally.report())
