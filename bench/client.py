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

Usage: .venv/bin/python bench/client.py   (the local grid must be up, after scripts/demo)
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault(
    "CONTAINERS_CONF", str(REPO / "testbed/roles/testbed_containers/files/containers.conf")
)
TAILS = "htb-tails"
HOME = "/home/amnesia"
DOCS = f"{HOME}/Persistent/Documents"
HTB = f"{HOME}/.local/bin/htb"
MANIFEST = f"{HOME}/Persistent/.htb/manifest.htbm"
# Alice's own passphrase (the demo leaves it there).
PW = "--passphrase-file /run/htb-demo/mine --timeout 600"
# The node lives in RAM wherever htb put it: the directory of the running `tahoe run`.
NODE = "$(ps -u amnesia -o args= | awk '/[t]ahoe run/ {print $NF; exit}')"
TAHOE = f"{HOME}/Persistent/.htb/venv/bin/tahoe -d {NODE}"


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


def main() -> None:
    subprocess.run(
        ["podman", "cp", str(REPO / "scripts/make-sample-data"), f"{TAILS}:/usr/local/bin/"],
        check=True,
    )
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
    alice("echo one more line >> ~/bench/raw/deep/run.sh")
    alice(f"echo one more line >> {DOCS}/deep/run.sh")
    raw_incr = timed(f"{TAHOE} backup --exclude='*.tmp' ~/bench/raw bench-raw:raw")
    htb_incr = timed(f"{HTB} backup {PW}")
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
    print(f"htb stop / htb start (node rebuilt in RAM): {stop:.1f} s / {start:.1f} s")
    print(f"backup after a one-file change, warm (backupdb in RAM): {htb_incr:.1f} s")
    for name, seconds in (("sealed backupdb", htb_sealed_db), ("no backupdb", htb_no_db)):
        print(
            f"  the same, first after a restart, {name}: {seconds:.1f} s "
            f"({seconds / htb_incr:.2f}x)"
        )
    alice("rm -rf ~/bench")


if __name__ == "__main__":
    main()
