"""htb's own overhead on the local onion grid, against raw tahoe, in one run.

On the demo's Tails-like client (after `scripts/demo`), as amnesia: a fresh
sample tree (2 270 files, an 8 MiB file) backed up with `htb backup` and another
of the same shape with raw `tahoe backup` through the same node; restored with
`htb restore --to` and with raw `tahoe cp -r`; then an incremental backup of each
after a one-file change. Prints times and htb/raw ratios; never asserts on time.
The trees differ only in their random bytes (different seeds), so that neither
run finds the other's shares on the grid.

Then what keeping the node in RAM costs: `htb stop` + `htb start` (the node and
its keys rebuilt from the manifest, as after a reboot) and the first incremental
backup after it, with the backupdb htb seals beside the manifest and without it
(every file offered to the grid again), against a warm one (the backupdb of the
same session).

The one-file incremental runs ROUNDS times (default 3; medians), then once more under
cProfile: its seconds by phase (bench/incremental.py's phases). With BEFORE_REV (a git
revision), the htb of that revision (its src/htb on the laptop's PYTHONPATH, the same
venv and node) runs too, interleaved with the others.

Usage: [ROUNDS=3] [BEFORE_REV=2978ca1] .venv/bin/python bench/client.py
(the local grid up, after scripts/demo)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault(
    "CONTAINERS_CONF", str(REPO / "testbed/roles/testbed_containers/files/containers.conf")
)
sys.path.insert(0, str(REPO / "bench"))
from incremental import phases  # noqa: E402

TAILS = "htb-tails"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
HOME = "/home/amnesia"
DOCS = f"{HOME}/Persistent/Documents"
HTB = f"{HOME}/.local/bin/htb"
MANIFEST = f"{HOME}/Persistent/.htb/manifest.htbm"
# Alice's own passphrase (the demo leaves it there).
PW = "--passphrase-file /run/htb-demo/mine --timeout 600"
# The node lives in RAM wherever htb put it: the directory of the running `tahoe run`.
NODE = "$(ps -u amnesia -o args= | awk '/[t]ahoe run/ {print $NF; exit}')"
TAHOE = f"{HOME}/Persistent/.htb/venv/bin/tahoe -d {NODE}"
BEFORE_REV = os.environ.get("BEFORE_REV", "")
BEFORE_PATH = "PYTHONPATH=/tmp/htb-before/src"
# The installed htb's Python, with what the `htb` wrapper sets.
IN_VENV = (
    f"HTB_TAHOE={HOME}/Persistent/.htb/venv/bin/tahoe HTB_MANIFEST={MANIFEST} "
    f"HTB_TOR_SOCKS_PORT=tcp:127.0.0.1:9050 {HOME}/Persistent/.htb/venv/bin/python"
)


def alice(command: str) -> str:
    proc = subprocess.run(
        ["podman", "exec", TAILS, "sudo", "-H", "-u", "amnesia", "bash", "-ec", command],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"failed: {command}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def timed(command: str) -> float:
    start = time.monotonic()
    alice(command)
    return time.monotonic() - start


def until_ready() -> None:
    """Until `htb status` says backups can run (enough servers connected)."""
    deadline = time.monotonic() + 600
    while True:
        proc = subprocess.run(
            ["podman", "exec", TAILS, "sudo", "-H", "-u", "amnesia", HTB, "status"],
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit("the grid did not become usable within 600 s")
        time.sleep(1)


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def install_before() -> None:
    """src/htb of BEFORE_REV in the laptop's /tmp (`git archive`: the repository untouched)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BEFORE_REV, "src/htb"], capture_output=True, check=True
    ).stdout
    alice("rm -rf /tmp/htb-before && mkdir -m 0700 /tmp/htb-before")
    subprocess.run(
        [
            "podman",
            "exec",
            "-i",
            TAILS,
            "sudo",
            "-u",
            "amnesia",
            "tar",
            "-x",
            "-C",
            "/tmp/htb-before",
        ],
        input=archive,
        check=True,
    )


def profile_incremental(label: str, pythonpath: str = "") -> None:
    """One more one-file `htb backup` under cProfile (the bench's own run): its phases."""
    alice(f"echo one more line >> {DOCS}/deep/run.sh")
    profiled = f"{pythonpath} {IN_VENV} -m cProfile -o /tmp/htb-bench.prof -m htb backup {PW}"
    wall = timed(profiled)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["podman", "cp", f"{TAILS}:/tmp/htb-bench.prof", tmp], check=True)
        rows = phases(Path(tmp) / "htb-bench.prof", wall)
    alice("rm -f /tmp/htb-bench.prof")
    print(f"one-file `htb backup` ({label}) under cProfile, {wall:.1f} s, by phase (s, calls):")
    for label, seconds, calls in rows:
        print(f"  {label:40} {seconds:5.2f}  {calls}")


def main() -> None:
    subprocess.run(
        ["podman", "cp", str(REPO / "scripts/make-sample-data"), f"{TAILS}:/usr/local/bin/"],
        check=True,
    )
    if BEFORE_REV:
        install_before()
    alice(f"{HTB} stop || true; {HTB} start {PW}")
    until_ready()
    alice(f"rm -rf ~/bench {DOCS} && mkdir ~/bench")
    files = alice(f"python3 /usr/local/bin/make-sample-data {DOCS} 8 1").strip()
    alice("python3 /usr/local/bin/make-sample-data ~/bench/raw 8 2")
    alice(f"{TAHOE} list-aliases | grep -q '^bench-raw:' || {TAHOE} create-alias bench-raw")
    print(f"sample: {files} files, {alice(f'du -sh {DOCS}').split()[0]} per tree")

    raw_backup = timed(f"{TAHOE} backup --exclude='*.tmp' ~/bench/raw bench-raw:raw")
    htb_backup = timed(f"{HTB} backup {PW}")
    raw_restore = timed(f"{TAHOE} cp -r bench-raw:raw/Latest ~/bench/raw-restored")
    htb_restore = timed(f"{HTB} restore {PW} --to ~/bench/htb-restored")
    # The one-file incremental, ROUNDS times each, interleaved: medians (issue 25, item 4);
    # with BEFORE_REV, also the htb of that git revision, through the same node.
    raw_incrs, htb_incrs, before_incrs = [], [], []
    for _ in range(ROUNDS):
        alice("echo one more line >> ~/bench/raw/deep/run.sh")
        raw_incrs.append(timed(f"{TAHOE} backup --exclude='*.tmp' ~/bench/raw bench-raw:raw"))
        if BEFORE_REV:
            alice(f"echo one more line >> {DOCS}/deep/run.sh")
            before_incrs.append(timed(f"{BEFORE_PATH} {IN_VENV} -m htb backup {PW}"))
        alice(f"echo one more line >> {DOCS}/deep/run.sh")
        htb_incrs.append(timed(f"{HTB} backup {PW}"))
    raw_incr, htb_incr = statistics.median(raw_incrs), statistics.median(htb_incrs)
    if BEFORE_REV:
        profile_incremental(f"htb {BEFORE_REV}", BEFORE_PATH)
    profile_incremental("this htb")
    # As after a reboot: a new node in RAM, its backupdb opened from the sealed copy ...
    stop = timed(f"{HTB} stop")
    start = timed(f"{HTB} start {PW}")
    until_ready()
    alice(f"echo and one more >> {DOCS}/deep/run.sh")
    htb_sealed_db = timed(f"{HTB} backup {PW}")
    # ... and without it.
    alice(f"{HTB} stop && rm -f {MANIFEST}.backupdb && {HTB} start {PW}")
    until_ready()
    alice(f"echo and one more >> {DOCS}/deep/run.sh")
    htb_no_db = timed(f"{HTB} backup {PW}")

    rows = [
        ("backup (full)", htb_backup, raw_backup),
        ("restore", htb_restore, raw_restore),
        ("backup after a one-file change", htb_incr, raw_incr),
    ]
    print(f"{'':34}{'htb':>9}{'raw tahoe':>11}{'htb/raw':>9}")
    for name, h, r in rows:
        print(f"{name:34}{h:8.1f}s{r:10.1f}s{h / r:9.2f}")
    print(f"  one-file change, each round: raw {fmt(raw_incrs)}, htb {fmt(htb_incrs)}")
    if BEFORE_REV:
        before = statistics.median(before_incrs)
        print(
            f"  the same with htb {BEFORE_REV}: {before:.1f} s {fmt(before_incrs)}, "
            f"htb/raw {before / raw_incr:.2f}"
        )
    print(f"htb stop / htb start (node rebuilt in RAM): {stop:.1f} s / {start:.1f} s")
    print(f"backup after a one-file change, warm (backupdb in RAM): {htb_incr:.1f} s")
    for name, seconds in (("sealed backupdb", htb_sealed_db), ("no backupdb", htb_no_db)):
        print(
            f"  the same, first after a restart, {name}: {seconds:.1f} s "
            f"({seconds / htb_incr:.2f}x)"
        )
    alice("rm -rf ~/bench /tmp/htb-before")


if __name__ == "__main__":
    main()
