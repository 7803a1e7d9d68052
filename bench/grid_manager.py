"""Upload time with the Grid Manager on vs off: the same grid, the same run.

On the local onion grid (inventories/local, after `scripts/demo` or
bench/provision.py), the operator's client node htb-client uploads FILES files of
SIZE KiB with its [grid_managers] section (it then checks each server's
certificate) and without it (restarted in between, waiting for every storage server
to be connected), ROUNDS rounds, each mode first in every other round; then its
tahoe.cfg is put back as it was. Prints seconds per upload, median of each mode.
Never asserts on time.

Usage: .venv/bin/python bench/grid_manager.py [ROUNDS] [FILES] [SIZE_KIB]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

CLIENT = "htb-client"
TAHOE = "runuser -u tahoe-client -- /opt/tahoe-lafs/bin/tahoe -d /var/lib/tahoe/client"
CFG = "/var/lib/tahoe/client/tahoe.cfg"
STORAGE = 4


def run(command: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["podman", "exec", "-i", CLIENT, "bash", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def connected() -> int:
    welcome = json.loads(run("curl -sS http://127.0.0.1:3456/?t=json"))
    statuses = [str(s.get("connection_status", "")) for s in welcome["servers"]]
    return sum(status.startswith("connected") for status in statuses)


def restart_with(cfg: str) -> None:
    run(f"cat > {CFG}", stdin=cfg)
    run("systemctl restart tahoe-client")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if connected() >= STORAGE:
                return
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            pass  # the node's web API is not up yet
        time.sleep(2)
    raise SystemExit(f"{CLIENT}: fewer than {STORAGE} storage servers after 300 s")


def without_grid_managers(cfg: str) -> str:
    out, skip = [], False
    for line in cfg.splitlines(keepends=True):
        if line.startswith("["):
            skip = line.strip() == "[grid_managers]"
        if not skip:
            out.append(line)
    return "".join(out)


def uploads(files: int, size_kib: int) -> list[float]:
    times = []
    for i in range(files):
        run(f"head -c {size_kib}K /dev/urandom > /tmp/gm-{i} && chmod 644 /tmp/gm-{i}")
        start = time.monotonic()
        for _attempt in range(3):  # a transient unhappiness right after a restart
            put = subprocess.run(
                ["podman", "exec", CLIENT, "bash", "-c", f"{TAHOE} put /tmp/gm-{i}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if put.returncode == 0:
                break
            time.sleep(5)
        else:
            raise SystemExit(f"upload failed 3 times: {put.stderr.strip()[-200:]}")
        times.append(time.monotonic() - start)
    return times


def main() -> None:
    given = [int(a) for a in sys.argv[1:4]]
    rounds, files, size_kib = given + [3, 10, 256][len(given) :]
    original = run(f"cat {CFG}")
    if "[grid_managers]" not in original:
        raise SystemExit(f"{CLIENT} has no [grid_managers]: run site.yml first")
    results: dict[str, list[float]] = {"on": [], "off": []}
    try:
        modes = [("off", without_grid_managers(original)), ("on", original)]
        for i in range(rounds):
            # Each mode goes first in every other round: the order does not favour one.
            for mode, cfg in modes if i % 2 == 0 else modes[::-1]:
                restart_with(cfg)
                results[mode] += uploads(files, size_kib)
    finally:
        restart_with(original)
    print(f"{rounds} rounds x {files} uploads of {size_kib} KiB through Tor, {STORAGE} servers")
    for mode, times in results.items():
        print(
            f"Grid Manager {mode:>3}: median {statistics.median(times):.2f} s per upload"
            f" (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"
        )


if __name__ == "__main__":
    main()
