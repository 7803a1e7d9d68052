"""htb's own overhead on the local onion grid, against raw tahoe, in one run.

On the demo's Tails-like client (after `scripts/demo`), as amnesia: a fresh
sample tree (2 270 files, an 8 MiB file) backed up with `htb backup` and another
of the same shape with raw `tahoe backup` through the same node; restored with
`htb restore --to` and with raw `tahoe cp -r`; then an incremental backup of each
after a one-file change. Prints times and htb/raw ratios; never asserts on time.
The trees differ only in their random bytes (different seeds), so that neither
run finds the other's shares on the grid.

Usage: .venv/bin/python bench/client.py   (the local grid must be up, after scripts/demo)
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault(
    "CONTAINERS_CONF", str(REPO / "roles/testbed_containers/files/containers.conf")
)
TAILS = "htb-tails"
HOME = "/home/amnesia"
DOCS = f"{HOME}/Persistent/Documents"
NODE = f"{HOME}/Persistent/.htb/node"
TAHOE = f"{HOME}/Persistent/.htb/venv/bin/tahoe -d {NODE}"
HTB = f"{HOME}/.local/bin/htb"
PW = "--passphrase-file /run/htb-passphrase --timeout 600"


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


def main() -> None:
    subprocess.run(
        ["podman", "cp", str(REPO / "scripts/make-sample-data"), f"{TAILS}:/usr/local/bin/"],
        check=True,
    )
    alice(f"{HTB} start {PW}")
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

    rows = [
        ("backup (full)", htb_backup, raw_backup),
        ("restore", htb_restore, raw_restore),
        ("backup after a one-file change", htb_incr, raw_incr),
    ]
    print(f"{'':34}{'htb':>9}{'raw tahoe':>11}{'htb/raw':>9}")
    for name, h, r in rows:
        print(f"{name:34}{h:8.1f}s{r:10.1f}s{h / r:9.2f}")
    alice("rm -rf ~/bench")


if __name__ == "__main__":
    main()
