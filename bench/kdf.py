"""Benchmark htb's sealed-manifest KDF against ``gpg --symmetric``.

Run: ``.venv/bin/python bench/kdf.py [N]`` (N seal/unseal rounds per setting, default 5;
the 512 MiB candidates run at most 3). Prints figures; never asserts on wall-clock time.
``bench/kdf.py --bound [N]`` measures only the reader's bound (below) and the default.

Also measures the costliest KDF a reader accepts (issue 13: a hostile header can make
htb run at most passes x memory = 2 GiB, 512 MiB at most): a fresh process opening such a
file with a wrong passphrase (time, peak RSS), and how fast a header just above the bound
is refused (no KDF runs).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nacl
import nacl.bindings
import nacl.pwhash

from htb.errors import UnsupportedVersionError, WrongPassphraseError
from htb.manifest import MAX_KDF, KdfParams, Manifest, open_sealed, seal, validate

MIB = 1024**2
PASSPHRASE = "correct horse battery staple uranium"
TIME = "/usr/bin/time"
SETTINGS: list[tuple[str, KdfParams]] = [
    ("INTERACTIVE", KdfParams(2, 64 * MIB)),
    ("MODERATE (default)", KdfParams(3, 256 * MIB)),
    ("4 x 256 MiB", KdfParams(4, 256 * MIB)),
    ("2 x 512 MiB", KdfParams(2, 512 * MIB)),
    ("3 x 512 MiB", KdfParams(3, 512 * MIB)),
]
DEFAULT_NAME = "MODERATE (default)"
# The reader's bound: passes x memory <= 2 GiB, memory <= 512 MiB. MAX_KDF (4 x 512 MiB)
# is the costliest in time and memory; the others have the same passes x memory.
BOUND: list[tuple[str, KdfParams]] = [
    ("4 x 512 MiB (MAX_KDF)", MAX_KDF),
    ("8 x 256 MiB", KdfParams(8, 256 * MIB)),
    ("16 x 128 MiB", KdfParams(16, 128 * MIB)),
]
ABOVE_BOUND = [KdfParams(5, 512 * MIB), KdfParams(64, 2048 * MIB), KdfParams(17, 8192)]
HASHES = {1: "md5", 2: "sha1", 3: "ripemd160", 8: "sha256", 9: "sha384", 10: "sha512"}


def build_manifest() -> Manifest:
    onion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx"
    introducers = {
        f"intro{i}": {"furl": f"pb://{'t' * 32}{i}@tor:{onion}{'cdefg'[i]}.onion:3457/introducer"}
        for i in range(3)
    }
    servers = {
        f"v0-{'s' * 50}{i}": {
            "ann": {
                "anonymous-storage-FURL": (
                    f"pb://{'k' * 32}@tor:{onion}{'cdefg'[i]}.onion:3457/storage{i}"
                ),
                "nickname": f"storage{i}",
            }
        }
        for i in range(5)
    }
    aliases = {
        name: f"URI:DIR2:{'a' * 26}{'cdef'[i]}:{'b' * 52}"
        for i, name in enumerate(["docs", "photos", "mail", "keys"])
    }
    backups = [
        {"alias": alias, "path": f"laptop/{alias}/{n}", "local": f"/home/amnesia/Persistent/{n}"}
        for n, alias in enumerate(["docs", "photos", "mail", "keys", "docs"])
    ]
    return validate(
        {
            "version": 1,
            "grid": {
                "introducers": introducers,
                "servers": servers,
                "shares": {"needed": 2, "happy": 3, "total": 3},
            },
            "aliases": aliases,
            "backups": backups,
        }
    )


def timed(argv: list[str], stdin: bytes) -> tuple[float, int]:
    """Run argv under /usr/bin/time; return (wall seconds, peak RSS in KiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run(
            [TIME, "-f", "%e %M", "-o", out.name, *argv],
            input=stdin,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall, rss = out.read().split()[-2:]
    return float(wall), int(rss)


def child_unseal(path: str) -> None:
    """Subprocess mode: one unseal, so /usr/bin/time sees only its memory."""
    passphrase = sys.stdin.read()
    opened = open_sealed(Path(path).read_bytes(), passphrase)
    assert opened.manifest is not None


def child_unseal_wrong(path: str) -> None:
    """Subprocess mode: one unseal with a wrong passphrase (a hostile file's whole cost)."""
    try:
        open_sealed(Path(path).read_bytes(), "not the passphrase")
    except WrongPassphraseError:
        return
    raise AssertionError("opened with a wrong passphrase")


@dataclass
class Bound:
    name: str
    kdf: KdfParams
    kdf_s: list[float]
    wrong_s: list[float]
    rss_kib: int


def bench_bound(name: str, kdf: KdfParams, n: int, manifest: Manifest, tmp: Path) -> Bound:
    """Seal once at ``kdf``; n in-process KDF runs; n fresh processes opening it wrongly."""
    n = min(n, 3)
    path = tmp / "bound.htb"
    path.write_bytes(seal(manifest, PASSPHRASE, kdf=kdf))
    kdf_s, wrong_s, rss = [], [], 0
    for _ in range(n):
        t = time.perf_counter()
        nacl.pwhash.argon2id.kdf(
            32, PASSPHRASE.encode(), os.urandom(16), opslimit=kdf.opslimit, memlimit=kdf.memlimit
        )
        kdf_s.append(time.perf_counter() - t)
        wall, peak = timed([sys.executable, __file__, "--child-unseal-wrong", str(path)], b"")
        wrong_s.append(wall)
        rss = max(rss, peak)
    return Bound(name, kdf, kdf_s, wrong_s, rss)


def bench_refusal(manifest: Manifest) -> list[tuple[KdfParams, float]]:
    """Seconds to refuse a header above the bound (median of 1000): no KDF runs."""
    blob = bytearray(seal(manifest, PASSPHRASE, kdf=KdfParams(1, 8192)))
    out = []
    for kdf in ABOVE_BOUND:
        blob[6:18] = kdf.opslimit.to_bytes(4, "big") + kdf.memlimit.to_bytes(8, "big")
        data, times = bytes(blob), []
        for _ in range(1000):
            t = time.perf_counter()
            try:
                open_sealed(data, PASSPHRASE)
            except UnsupportedVersionError:
                times.append(time.perf_counter() - t)
            else:
                raise AssertionError(f"{kdf} was accepted")
        out.append((kdf, statistics.median(times)))
    return out


@dataclass
class Row:
    name: str
    kdf: KdfParams
    seal_med: float
    seal_max: float
    unseal_med: float
    unseal_max: float
    kdf_s: float
    rss_kib: int
    size_bin: int
    size_arm: int


def bench_setting(name: str, kdf: KdfParams, n: int, manifest: Manifest, tmp: Path) -> Row:
    if kdf.memlimit > 256 * MIB:
        n = min(n, 3)
    seals, unseals = [], []
    blob = b""
    for _ in range(n):
        t = time.perf_counter()
        blob = seal(manifest, PASSPHRASE, kdf=kdf)
        seals.append(time.perf_counter() - t)
        t = time.perf_counter()
        open_sealed(blob, PASSPHRASE)
        unseals.append(time.perf_counter() - t)
    armored = seal(manifest, PASSPHRASE, armored=True, kdf=kdf)
    t = time.perf_counter()
    nacl.pwhash.argon2id.kdf(
        32, PASSPHRASE.encode(), os.urandom(16), opslimit=kdf.opslimit, memlimit=kdf.memlimit
    )
    kdf_s = time.perf_counter() - t
    path = tmp / "sealed.htb"
    path.write_bytes(blob)
    _, rss = timed([sys.executable, __file__, "--child-unseal", str(path)], PASSPHRASE.encode())
    return Row(
        name,
        kdf,
        statistics.median(seals),
        max(seals),
        statistics.median(unseals),
        max(unseals),
        kdf_s,
        rss,
        len(blob),
        len(armored),
    )


@dataclass
class Gpg:
    enc_s: float
    enc_rss: int
    dec_s: float
    dec_rss: int
    size: int
    s2k: str
    hash_name: str
    count: int
    s2k_s: float
    wrong_s: float


def bench_gpg(plain: bytes, tmp: Path) -> Gpg:
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    src, out, back = tmp / "manifest.json", tmp / "manifest.json.gpg", tmp / "back.json"
    src.write_bytes(plain)
    base = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback"]
    pw = (PASSPHRASE + "\n").encode()
    enc_s, enc_rss = timed(
        [*base, "--passphrase-fd", "0", "-o", str(out), "--symmetric", str(src)], pw
    )
    # gpg-agent caches the passphrase after encryption; --no-symkey-cache stops that.
    dec = [*base, "--no-symkey-cache", "--passphrase-fd", "0", "-o", str(back), "--decrypt"]
    dec_s, dec_rss = timed([*dec, str(out)], pw)
    assert back.read_bytes() == plain
    back.unlink()
    t = time.perf_counter()
    wrong = subprocess.run([*dec, str(out)], input=b"wrong\n", capture_output=True, check=False)
    wrong_s = time.perf_counter() - t
    assert wrong.returncode != 0
    listing = subprocess.run(
        [*base, "--no-symkey-cache", "--passphrase-fd", "0", "--list-packets", str(out)],
        input=pw,
        capture_output=True,
        check=False,
    ).stdout.decode()
    m = re.search(r"s2k (\d+), hash (\d+)", listing)
    c = re.search(r"count (\d+)", listing)
    s2k, hash_id = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    count = int(c.group(1)) if c else 0
    hash_name = HASHES.get(hash_id, f"id {hash_id}")
    # Iterated+salted S2K: hash `count` bytes of repeated salt||passphrase.
    unit = os.urandom(8) + PASSPHRASE.encode()
    chunk = unit * (1 * MIB // len(unit))
    h = hashlib.new(hash_name)
    t = time.perf_counter()
    done = 0
    while done + len(chunk) <= count:
        h.update(chunk)
        done += len(chunk)
    h.update((unit * (len(chunk) // len(unit) + 1))[: count - done])
    s2k_s = time.perf_counter() - t
    return Gpg(
        enc_s,
        enc_rss,
        dec_s,
        dec_rss,
        out.stat().st_size,
        f"mode {s2k}",
        hash_name,
        count,
        s2k_s,
        wrong_s,
    )


def print_bound(bounds: list[Bound], refusals: list[tuple[KdfParams, float]]) -> None:
    print("\n## The reader's bound: the costliest header htb accepts (wrong passphrase)")
    print(
        "| setting               | ops | mem MiB | KDF alone med / max | fresh process, "
        "wrong passphrase med / max | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|")
    for b in bounds:
        print(
            f"| {b.name:<21} | {b.kdf.opslimit:>3} | {b.kdf.memlimit // MIB:>7} "
            f"| {statistics.median(b.kdf_s):.2f} / {max(b.kdf_s):.2f} s "
            f"| {statistics.median(b.wrong_s):.2f} / {max(b.wrong_s):.2f} s "
            f"| {b.rss_kib / 1024:.0f} |"
        )
    print("Above the bound, refused from the header (median of 1000, no KDF):")
    for kdf, seconds in refusals:
        print(f"  {kdf.opslimit} x {kdf.memlimit // 1024} KiB: {seconds * 1e6:.0f} us")


def machine_facts() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    gpg_v = subprocess.run(["gpg", "--version"], capture_output=True, check=True).stdout
    return [
        f"date (UTC)     {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"nproc          {os.cpu_count()}",
        f"cpu            {cpu}",
        f"memory         {mem}",
        f"python         {platform.python_version()}",
        f"pynacl         {nacl.__version__}",
        f"libsodium      {nacl.bindings.sodium_version_string().decode()}"
        if hasattr(nacl.bindings, "sodium_version_string")
        else "libsodium      (bundled with pynacl)",
        f"gpg            {gpg_v.decode().splitlines()[0]}",
    ]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--child-unseal":
        child_unseal(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "--child-unseal-wrong":
        child_unseal_wrong(argv[2])
        return 0
    bound_only = len(argv) > 1 and argv[1] == "--bound"
    if bound_only:
        argv = argv[1:]
    n = int(argv[1]) if len(argv) > 1 else 5
    if shutil.which(TIME) is None:
        print(f"{TIME} is missing: apt-get install time", file=sys.stderr)
        return 1
    manifest = build_manifest()
    if bound_only:
        print("\n".join(machine_facts()[:5]))
        with tempfile.TemporaryDirectory() as d:
            default = dict(SETTINGS)[DEFAULT_NAME]
            bounds = [
                bench_bound(name, kdf, n, manifest, Path(d))
                for name, kdf in [(DEFAULT_NAME, default), *BOUND]
            ]
        print_bound(bounds, bench_refusal(manifest))
        return 0
    plain = manifest.to_json()
    print("## Machine")
    print("\n".join(machine_facts()))
    print(f"plaintext manifest: {len(plain)} bytes; rounds per setting: {n} (512 MiB: <= 3)\n")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        for name, kdf in SETTINGS:
            rows.append(bench_setting(name, kdf, n, manifest, Path(d)))
        bounds = [bench_bound(name, kdf, n, manifest, Path(d)) for name, kdf in BOUND]
        gpg = bench_gpg(plain, Path(d))
    refusals = bench_refusal(manifest)
    print("## htb seal / unseal (seconds; RSS = peak of a fresh process doing one unseal)")
    head = (
        f"| {'setting':<18} | ops | mem MiB | seal med | seal max | unseal med | unseal max "
        "| KDF alone | peak RSS MiB | binary B | armored B |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        print(
            f"| {r.name:<18} | {r.kdf.opslimit:>3} | {r.kdf.memlimit // MIB:>7} "
            f"| {r.seal_med:>8.2f} | {r.seal_max:>8.2f} | {r.unseal_med:>10.2f} "
            f"| {r.unseal_max:>10.2f} | {r.kdf_s:>9.2f} | {r.rss_kib / 1024:>12.0f} "
            f"| {r.size_bin:>8} | {r.size_arm:>9} |"
        )
    print_bound(bounds, refusals)

    print("\n## gpg --symmetric (defaults)")
    print(f"s2k {gpg.s2k}, hash {gpg.hash_name}, count {gpg.count} bytes")
    print(f"encrypt {gpg.enc_s:.2f} s, peak RSS {gpg.enc_rss / 1024:.1f} MiB")
    print(f"decrypt {gpg.dec_s:.2f} s, peak RSS {gpg.dec_rss / 1024:.1f} MiB; size {gpg.size} B")
    print(f"decrypt with a wrong passphrase: {gpg.wrong_s:.2f} s (process start included)")
    print(f"S2K alone ({gpg.hash_name} over {gpg.count} bytes, hashlib): {gpg.s2k_s * 1000:.1f} ms")
    default = next(r for r in rows if r.name == DEFAULT_NAME)
    gpg_mem = 1024  # bytes: a hash state and the salt||passphrase buffer; call it 1 KiB
    t_ratio = default.kdf_s / gpg.s2k_s
    m_ratio = default.kdf.memlimit / gpg_mem
    print("\n## Cost of one passphrase guess")
    for r in rows:
        print(
            f"{r.name:<18} {r.kdf_s:6.2f} s x {r.kdf.memlimit // MIB:4} MiB  "
            f"= {r.kdf_s / gpg.s2k_s:6.0f}x gpg time, "
            f"{r.kdf_s * r.kdf.memlimit / (gpg.s2k_s * gpg_mem):.2e}x gpg time*memory"
        )
    print(
        f"\nOne guess against htb's default ({default.kdf.opslimit} x "
        f"{default.kdf.memlimit // MIB} MiB Argon2id) costs {t_ratio:.0f} times the time and "
        f"{m_ratio:.0f} times the memory ({default.kdf.memlimit // MIB} MiB vs ~1 KiB) of one "
        f"guess against gpg --symmetric's default ({gpg.hash_name} S2K, count {gpg.count})."
    )
    print(
        f"Time x memory per guess: {t_ratio * m_ratio:.1e} times gpg's. A GPU runs thousands of "
        "SHA-1 S2K guesses in parallel in on-chip memory; each Argon2id guess needs its own "
        f"{default.kdf.memlimit // MIB} MiB of RAM, so a 24 GiB card runs at most "
        f"{24 * 1024 // (default.kdf.memlimit // MIB)} at once and is bound by memory bandwidth."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
