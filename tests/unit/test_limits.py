"""Hostile input (issue 13): size limits, the KDF cost bound, the check order, and the
property that nothing but an HtbError ever comes out of open_sealed / read_sealed."""

from __future__ import annotations

import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from htb.errors import (
    HtbError,
    ManifestInvalidError,
    NotEnoughMemoryError,
    NotSealedError,
    PassphraseUnavailableError,
    TamperedError,
    TruncatedError,
    UnreadableFileError,
    UnsupportedVersionError,
    WrongPassphraseError,
)
from htb.manifest import (
    MAX_INPUT,
    MAX_KDF,
    MAX_PLAINTEXT,
    envelope,
    legacy,
    open_sealed,
    read_limited,
    read_sealed,
)
from htb.manifest.envelope import (
    HEADER_LEN,
    MAX_CIPHERTEXT,
    PREFIX_LEN,
    TEST_KDF,
    Header,
    KdfParams,
)

MIB = 1024 * 1024
PW = "correct staple horse battery with nine more words"
SEALED = envelope.seal(b'{"version":1}', PW, TEST_KDF)
# A refusal takes ~4 us (bench/kdf.py); each costly cost refused below would take over
# 1 s of Argon2id even on an idle machine. The cheap ones are proven by the error class.
NO_KDF_S = 0.5


def craft(
    *,
    magic: bytes = b"HTBM",
    version: int = 1,
    kdf_id: int = 1,
    ops: int = 1,
    mem: int = 8192,
    ct_len: int | None = None,
    body: int = 32,
) -> bytes:
    """A header with any field values, a random check and ``body`` random ciphertext bytes."""
    n = body if ct_len is None else ct_len
    head = struct.pack(">4sBBIQ16s24sI", magic, version, kdf_id, ops, mem, b"s" * 16, b"n" * 24, n)
    return head + os.urandom(16) + os.urandom(body)


def timed_refusal(blob: bytes, error: type[HtbError], match: str) -> float:
    t = time.perf_counter()
    with pytest.raises(error, match=match):
        envelope.unseal(blob, PW)
    return time.perf_counter() - t


# --- defect 5: the KDF cost bound ------------------------------------------------------
ACCEPTED = [
    KdfParams(1, 8192),
    KdfParams(3, 256 * MIB),  # the default
    KdfParams(4, 512 * MIB),  # MAX_KDF
    KdfParams(8, 256 * MIB),
    KdfParams(16, 128 * MIB),
    KdfParams(5, 409 * MIB),
]
ABOVE = [
    KdfParams(64, 2048 * MIB),  # the defect's header: 120 s and 2.1 GB before
    KdfParams(5, 512 * MIB),  # passes x memory over 2 GiB
    KdfParams(8, 256 * MIB + 1024),
    KdfParams(17, 128 * MIB),  # more than 16 passes
    KdfParams(1, 512 * MIB + 1024),  # more than 512 MiB
    KdfParams(2**32 - 1, 2**64 - 1),
]
OUTSIDE = [
    KdfParams(0, 8192),
    KdfParams(1, 7168),
    KdfParams(1, 8193),  # not whole KiB
    KdfParams(3, 256 * MIB + 1),
    KdfParams(17, 8192),
]


def test_defect_5_cost_bound() -> None:
    assert KdfParams(4, 512 * MIB) == MAX_KDF
    assert KdfParams(3, 256 * MIB) == envelope.DEFAULT_KDF
    for kdf in ACCEPTED:
        assert kdf.in_bounds(), kdf
        kdf.validate()
        kdf.validate(reading=False)
    for kdf in ABOVE + OUTSIDE:
        assert not kdf.in_bounds(), kdf
        with pytest.raises(UnsupportedVersionError, match="KDF cost") as info:
            kdf.validate()
        assert "not written by htb" in str(info.value)
        with pytest.raises(UnsupportedVersionError, match="choose a cost"):
            kdf.validate(reading=False)
    with pytest.raises(UnsupportedVersionError, match=r"above what htb runs \(at most 16 passes"):
        KdfParams(5, 512 * MIB).validate()


@pytest.mark.parametrize("kdf", ABOVE + OUTSIDE, ids=str)
def test_defect_5_costly_header_refused_without_running_the_kdf(kdf: KdfParams) -> None:
    # The check value is random: had the KDF run, the error would be "wrong passphrase".
    # Every costly one would take seconds (or fail for memory); refusal takes microseconds.
    blob = craft(ops=kdf.opslimit, mem=kdf.memlimit)
    assert timed_refusal(blob, UnsupportedVersionError, "KDF cost") < NO_KDF_S
    t = time.perf_counter()
    with pytest.raises(UnsupportedVersionError, match="KDF cost"):
        envelope.seal(b"{}", PW, kdf)
    assert time.perf_counter() - t < NO_KDF_S


def test_defect_5_cost_checked_even_if_the_rest_is_garbage() -> None:
    # Armored, and with the ciphertext length also wrong: the cost (check 7) wins.
    blob = craft(ops=64, mem=2048 * MIB, ct_len=3)
    text = envelope.armor(blob).encode()
    t = time.perf_counter()
    with pytest.raises(UnsupportedVersionError, match="KDF cost 64 passes x 2048 MiB"):
        open_sealed(text, PW)
    assert time.perf_counter() - t < NO_KDF_S


# Measured (bench/kdf.py, docs/benchmarks.md): one Argon2id run at 4 x 512 MiB takes
# 1.7-3.6 s on an idle 2-core VM, 5.7-6.2 s with the VM loaded 3-4x; peak RSS 539 MiB.
# Bound asserted: 30 s per seal or open (5x the loaded figure; the defect took 120 s at
# 64 x 2 GiB), 700 MiB.
MAX_OPEN_S = 30.0
MAX_OPEN_RSS_MIB = 700


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_defect_5_highest_accepted_cost_opens_or_fails_within_bound(tmp_path: Path) -> None:
    t = time.perf_counter()
    blob = envelope.seal(b'{"version":1}', PW, MAX_KDF)
    sealed_s = time.perf_counter() - t
    assert sealed_s < MAX_OPEN_S, sealed_s
    t = time.perf_counter()
    assert envelope.unseal(blob, PW) == b'{"version":1}'
    opened_s = time.perf_counter() - t
    assert opened_s < MAX_OPEN_S, opened_s
    # A fresh process, to measure its peak memory: a wrong passphrase costs the same run.
    path = tmp_path / "max.htb"
    path.write_bytes(blob)
    child = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from htb.errors import WrongPassphraseError
        from htb.manifest import envelope
        t = time.perf_counter()
        try:
            envelope.unseal(Path({str(path)!r}).read_bytes(), "wrong")
        except WrongPassphraseError:
            # VmHWM: this process's own peak (ru_maxrss would include pytest's, inherited
            # across exec on Linux).
            status = Path("/proc/self/status").read_text()
            print(time.perf_counter() - t, status.split("VmHWM:")[1].split()[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    seconds, rss_kib = float(out[0]), int(out[1])
    assert seconds < MAX_OPEN_S, seconds
    assert rss_kib / 1024 < MAX_OPEN_RSS_MIB, rss_kib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_defect_5_not_enough_memory_is_a_person_actionable_error() -> None:
    # Argon2id at 256 MiB in a process allowed only 64 MiB more address space.
    child = textwrap.dedent(
        """
        import resource
        from htb.errors import HtbError
        from htb.manifest import envelope
        from htb.manifest.envelope import KdfParams
        status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
        limit = int(status) * 1024 + 64 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        for call in (
            lambda: envelope.seal(b"{}", "pw", KdfParams(3, 256 * 1024 * 1024)),
            lambda: envelope.unseal(bytes.fromhex(BLOB), "pw"),
        ):
            try:
                call()
            except HtbError as exc:
                print(type(exc).__name__, exc.exit_code, exc, sep="|")
        """
    )
    blob = craft(ops=1, mem=256 * MIB)
    proc = subprocess.run(
        [sys.executable, "-c", f"BLOB = {blob.hex()!r}\n{child}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc
    for line in lines:
        name, code, message = line.split("|")
        assert name == NotEnoughMemoryError.__name__
        assert code == "1"
        assert message.startswith("not enough free memory to derive the key (needs 256 MiB)")
        assert "close other programs" in message


# --- defect 6: sizes ---------------------------------------------------------------------
def test_defect_6_large_file_refused_after_reading_max_input_plus_one(tmp_path: Path) -> None:
    # Sparse: an 812 MiB armored file (was MemoryError) costs no disk.
    big = tmp_path / "m.asc"
    with big.open("wb") as f:
        f.write(envelope.armor(SEALED).encode())
        f.truncate(812 * MIB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    with pytest.raises(NotSealedError, match=r"too large to be a manifest \(over 4 MiB\)"):
        read_sealed(big, PW)
    assert time.perf_counter() - t < 5.0
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 64


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_defect_6_endless_input_is_read_bounded() -> None:
    # Reading the whole of /dev/zero first would never end: the timeout catches it.
    child = (
        "import sys\n"
        "from pathlib import Path\n"
        "from htb.errors import HtbError, NotSealedError, ManifestInvalidError\n"
        "from htb.manifest import read_limited, read_sealed\n"
        "for call in (lambda: read_sealed(None, 'pw'),\n"
        "             lambda: read_sealed(Path('/dev/zero'), 'pw'),\n"
        "             lambda: read_limited(None, error=ManifestInvalidError)):\n"
        "    try:\n"
        "        call()\n"
        "    except HtbError as exc:\n"
        "        print(type(exc).__name__, exc, sep='|')\n"
    )
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run(
            [sys.executable, "-c", child],
            stdin=zero,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    assert proc.stdout.splitlines() == [
        "NotSealedError|standard input is too large to be a manifest (over 4 MiB)",
        "NotSealedError|/dev/zero is too large to be a manifest (over 4 MiB)",
        "ManifestInvalidError|standard input is too large to be a manifest (over 4 MiB)",
    ]


def test_defect_6_read_limited_boundary(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * MAX_INPUT)
    assert len(read_limited(exact, error=ManifestInvalidError)) == MAX_INPUT
    over = tmp_path / "over"
    over.write_bytes(b"x" * (MAX_INPUT + 1))
    with pytest.raises(ManifestInvalidError, match="over 4 MiB") as info:
        read_limited(over, error=ManifestInvalidError)
    assert info.value.exit_code == 4
    with pytest.raises(NotSealedError, match="over 4 MiB") as sealed:
        read_limited(over, error=NotSealedError)
    assert sealed.value.exit_code == 3


def test_defect_6_in_memory_input_over_max_is_refused_first() -> None:
    # Check 1 comes before everything, in every form (even a valid armored block).
    padded = envelope.armor(SEALED).encode() + b" " * MAX_INPUT
    for data in (padded, SEALED + b"\0" * MAX_INPUT, b"\0" * (MAX_INPUT + 1)):
        with pytest.raises(NotSealedError, match="too large"):
            open_sealed(data, PW)
    with pytest.raises(NotSealedError, match="too large"):
        envelope.dearmor(padded)


def test_defect_6_ciphertext_length_bounds() -> None:
    # n > MAX_PLAINTEXT + 16: refused from the header alone, before the length check.
    with pytest.raises(NotSealedError, match="too large to be a manifest"):
        envelope.unseal(craft(ct_len=MAX_CIPHERTEXT + 1, body=10), PW)
    with pytest.raises(NotSealedError, match="too large to be a manifest"):
        envelope.unseal(craft(ct_len=2**32 - 1, body=10), PW)
    for n in (0, 1, 15):  # shorter than the tag
        with pytest.raises(TamperedError, match="impossible ciphertext length"):
            envelope.unseal(craft(ct_len=n, body=n), PW)
    # n = MAX_CIPHERTEXT is a possible length: it goes on to the KDF.
    with pytest.raises(WrongPassphraseError):
        envelope.unseal(craft(ct_len=MAX_CIPHERTEXT, body=MAX_CIPHERTEXT), PW)


def test_defect_6_seal_refuses_plaintext_over_max_plaintext() -> None:
    blob = envelope.seal(b" " * MAX_PLAINTEXT, PW, TEST_KDF)
    assert len(envelope.unseal(blob, PW)) == MAX_PLAINTEXT
    with pytest.raises(ManifestInvalidError, match="manifest too large") as info:
        envelope.seal(b" " * (MAX_PLAINTEXT + 1), PW, TEST_KDF)
    assert info.value.exit_code == 4


def test_unreadable_input_is_a_local_problem(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(UnreadableFileError, match="cannot read") as info:
            read_sealed(path, PW)
        assert info.value.exit_code == 1
    weird = tmp_path / "a\nb\udcff"
    with pytest.raises(UnreadableFileError) as info:
        read_limited(weird, error=NotSealedError)
    assert "\n" not in str(info.value)
    str(info.value).encode("utf-8")  # printable on stderr


# --- the check order -----------------------------------------------------------------------
ORDER = [
    # (blob, error, message): each violates its own check and every later one.
    (b"HTB", NotSealedError, "no HTBM header"),  # 2: shorter than 4 bytes
    (b"XTBM\x09", NotSealedError, "no HTBM header"),  # 2 before 3, 4
    (b"HTBM", TruncatedError, "inside its header"),  # 3
    (b"HTBM\x02\x09", UnsupportedVersionError, "format version 2"),  # 4 before 5
    (SEALED[:77], TruncatedError, r"inside its header \(77 of 78"),  # 5
    (craft(kdf_id=9, ops=0, ct_len=0, body=0), UnsupportedVersionError, "function id 9"),  # 6
    (craft(ops=17, ct_len=0, body=0), UnsupportedVersionError, "KDF cost 17"),  # 7 before 8
    (craft(ct_len=3, body=99), TamperedError, "impossible ciphertext length"),  # 8 before 9
    (craft(ct_len=MAX_CIPHERTEXT + 1, body=0), NotSealedError, "too large"),  # 8 before 9
    (craft(ct_len=40, body=39), TruncatedError, "117 found"),  # 9
    (craft(ct_len=40, body=41), TamperedError, "1 unexpected bytes"),  # 9
    (craft(ct_len=40, body=40), WrongPassphraseError, "wrong passphrase"),  # 10
]


@pytest.mark.parametrize(("blob", "error", "match"), ORDER)
def test_binary_check_order(blob: bytes, error: type[HtbError], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        envelope.unseal(blob, PW)
    assert type(info.value) is error
    assert info.value.exit_code == 3


def test_check_11_tampered_and_header_bound_to_key() -> None:
    bad = bytearray(SEALED)
    bad[-1] ^= 1
    with pytest.raises(TamperedError, match="altered or damaged"):
        envelope.unseal(bytes(bad), PW)
    assert envelope.parse_header(SEALED).ciphertext_len == len(SEALED) - PREFIX_LEN
    assert envelope.parse_header(SEALED).pack() == SEALED[:HEADER_LEN]


def test_passphrase_must_be_text() -> None:
    for bad, match in (("", "empty"), ("pass\udc80word", "lone surrogate")):
        with pytest.raises(PassphraseUnavailableError, match=match):
            envelope.unseal(SEALED, bad)
        with pytest.raises(PassphraseUnavailableError, match=match):
            envelope.seal(b"{}", bad, TEST_KDF)
    # The file's problems come first: a damaged file is reported as such.
    with pytest.raises(TruncatedError):
        envelope.unseal(SEALED[:-1], "")


# --- property: nothing but an HtbError, whatever the input ------------------------------------
_U32 = 2**32 - 1
_U64 = 2**64 - 1
# Costs: anything out of bounds, or in bounds but cheap (the costly accepted ones are
# exercised by the slow test above; here they would only make the property slow).
_OPS = st.one_of(st.integers(0, _U32), st.sampled_from([0, 1, 2, 16, 17, _U32]))
_MEM = st.one_of(
    st.integers(0, 8191),
    st.integers(512 * MIB + 1, _U64),
    st.integers(8, 1024).map(lambda k: k * 1024),
    st.sampled_from([8191, 8193, 512 * MIB + 1, 512 * MIB + 1024, 2**32, _U64]),
)
_LEN = st.one_of(
    st.integers(0, 400),
    st.integers(0, 5 * MIB),
    st.sampled_from([0, 15, 16, 17, MAX_CIPHERTEXT, MAX_CIPHERTEXT + 1, MAX_INPUT - PREFIX_LEN]),
)
_FIELDS = ["magic", "version", "kdf_id", "cost", "ct_len", "cut", "tail"]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    broken=st.frozensets(st.sampled_from(_FIELDS)),
    magic=st.binary(min_size=4, max_size=4),
    version=st.integers(0, 255),
    kdf_id=st.integers(0, 255),
    ops=_OPS,
    mem=_MEM,
    ct_len=st.one_of(st.integers(0, _U32), _LEN),
    body=_LEN,
    cut=st.integers(0, PREFIX_LEN + 400),
    tail=st.integers(1, 5 * MIB),
    seed=st.integers(0, 2**32),
    form=st.sampled_from(["binary", "armored", "quoted"]),
)
def test_any_header_and_length_gives_only_htb_errors(
    broken: frozenset[str],
    magic: bytes,
    version: int,
    kdf_id: int,
    ops: int,
    mem: int,
    ct_len: int,
    body: int,
    cut: int,
    tail: int,
    seed: int,
    form: str,
) -> None:
    """Fields not in ``broken`` are valid (cost: cheapest), so every check is reached."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible test bytes
    kdf = KdfParams(ops, mem) if "cost" in broken else KdfParams(1 + seed % 3, 8192)
    header = Header(
        version if "version" in broken else 1,
        kdf_id if "kdf_id" in broken else 1,
        kdf,
        rnd.randbytes(16),
        rnd.randbytes(24),
        ct_len if "ct_len" in broken else body,
    ).pack()
    if "magic" in broken:
        header = magic + header[4:]
    blob = header + rnd.randbytes(16) + rnd.randbytes(body)
    if "cut" in broken:
        blob = blob[:cut]
    if "tail" in broken:
        blob += rnd.randbytes(tail)
    if form == "binary":
        data = blob
    else:
        text = envelope.armor(blob)
        data = (text if form == "armored" else "> " + text.replace("\n", "\r\n> ")).encode()
    with pytest.raises(HtbError) as info:
        open_sealed(data, PW, allow_legacy=False)
    event(type(info.value).__name__)
    assert "\n" not in str(info.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", b"HTBM", b"HTBM\x01\x01", SEALED[:62], SEALED]),
    data=st.binary(max_size=3000),
    armored=st.booleans(),
)
def test_any_bytes_give_only_htb_errors(prefix: bytes, data: bytes, armored: bool) -> None:
    raw = prefix + data
    if armored:
        raw = f"{envelope.ARMOR_BEGIN}\n".encode() + raw + f"\n{envelope.ARMOR_END}".encode()
    assume(not legacy.looks_legacy(raw))  # 2014 manifests: helper C's tests (scrypt is slow)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m"
        path.write_bytes(raw)
        with pytest.raises(HtbError) as info:
            read_sealed(path, PW)
    event(type(info.value).__name__)
    assert "\n" not in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(0, 10_000),
    junk=st.binary(min_size=1, max_size=8),
    mode=st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_armor_opens_or_gives_htb_error(position: int, junk: bytes, mode: str) -> None:
    text = envelope.armor(SEALED).encode()
    i = position % (len(text) + 1)
    if mode == "replace":
        mutated = text[:i] + junk + text[i + len(junk) :]
    elif mode == "insert":
        mutated = text[:i] + junk + text[i:]
    else:
        mutated = text[:i] + text[i + len(junk) :]
    try:
        assert envelope.unseal(envelope.to_binary(mutated), PW) == b'{"version":1}'
    except HtbError as exc:
        assert "\n" not in str(exc)
