"""Figures of the local onion grid (inventories/local, after `scripts/demo`).

Prints: time from the private Tor network's start to a usable network, time
until a new onion service is reachable, RSS of every tor and tahoe process, and
20 MiB upload/download over the onion grid beside a plain-TCP tahoe grid of the
same shape (1 introducer, 4 storage nodes, 2-of-4) on 127.0.0.1. Provisioning
times: bench/provision.py. Never asserts on time.

Usage: .venv/bin/python bench/grid.py   (the local grid must be up)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault(
    "CONTAINERS_CONF", str(REPO / "testbed/roles/testbed_containers/files/containers.conf")
)
os.environ.setdefault("HTB_TAHOE", str(REPO / ".venv-tahoe/bin/tahoe"))

from htb.testing.devgrid import DevGrid  # noqa: E402

TAHOE_IN = "/opt/tahoe-lafs/bin/tahoe"
GRID = ["htb-introducer", "htb-storage1", "htb-storage2", "htb-storage3", "htb-storage4"]
CLIENT = "htb-client"
MIB = 20


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def in_container(name: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("podman", "exec", name, "bash", "-c", command, check=check)


def first_ts(name: str, unit: str, pattern: str) -> float:
    out = in_container(name, f"journalctl -u {unit} -o short-unix --no-pager").stdout
    for line in out.splitlines():
        if re.search(pattern, line):
            return float(line.split()[0])
    raise SystemExit(f"{name}: no '{pattern}' in {unit}'s journal")


def network_start_to_usable() -> None:
    start = first_ts("htb-tornet", "tor-testnet@auth1", r"")
    usable = min(first_ts(h, "tor@default", r"Bootstrapped 100%") for h in [*GRID, CLIENT])
    print(
        f"private Tor network: started -> first grid tor bootstrapped 100%: {usable - start:.1f} s"
    )


def new_onion_reachable() -> None:
    conf = "/etc/tor/torrc.d/onion-bench.conf"
    in_container(
        "htb-storage1",
        "printf 'HiddenServiceDir /var/lib/tor/onion/bench\\n"
        "HiddenServicePort 80 127.0.0.1:41001\\n'"
        f" > {conf} && install -d -o debian-tor -m 0700 /var/lib/tor/onion/bench"
        " && systemctl reload tor@default",
    )
    t0 = time.monotonic()
    try:
        while True:
            r = in_container(
                "htb-storage1", "cat /var/lib/tor/onion/bench/hostname 2>/dev/null", check=False
            )
            if r.stdout.strip():
                break
            time.sleep(0.2)
        onion = r.stdout.strip()
        while True:
            # 97: SOCKS refused (not published yet); anything else: reached the service.
            rc = in_container(
                CLIENT,
                f"curl -s -o /dev/null --max-time 20 --socks5-hostname 127.0.0.1:9050 http://{onion}/",
                check=False,
            ).returncode
            if rc not in (97, 28):
                break
            time.sleep(0.5)
        took = time.monotonic() - t0
        print(f"new onion service: reload -> reachable from another host: {took:.1f} s")
    finally:
        in_container(
            "htb-storage1",
            f"rm -f {conf} && rm -rf /var/lib/tor/onion/bench && systemctl reload tor@default",
            check=False,
        )


def rss() -> None:
    print("RSS (MiB) per process:")
    for name in ["htb-tornet", *GRID, CLIENT]:
        out = in_container(name, "ps -eo rss=,comm= | awk '$2 ~ /^(tor|tahoe)$/'").stdout
        figures = [
            f"{comm} {int(kb) / 1024:.0f}" for kb, comm in (ln.split() for ln in out.splitlines())
        ]
        total = sum(int(ln.split()[0]) for ln in out.splitlines()) / 1024
        print(f"  {name:15} {', '.join(figures)}  (total {total:.0f})")


def onion_throughput() -> tuple[float, float]:
    tahoe = f"runuser -u tahoe-client -- {TAHOE_IN} -d /var/lib/tahoe/client"
    in_container(CLIENT, f"head -c {MIB}M /dev/urandom > /tmp/bench && chmod 644 /tmp/bench")
    t0 = time.monotonic()
    cap = in_container(CLIENT, f"{tahoe} put /tmp/bench").stdout.strip()
    put = time.monotonic() - t0
    t0 = time.monotonic()
    in_container(CLIENT, f"{tahoe} get {cap} > /dev/null")
    get = time.monotonic() - t0
    in_container(CLIENT, "rm -f /tmp/bench")
    return put, get


def tcp_throughput() -> tuple[float, float]:
    tahoe = os.environ["HTB_TAHOE"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        grid = DevGrid(base / "grid", 4)
        grid.start()
        try:
            client = base / "client"
            sh(
                tahoe,
                "create-client",
                "--introducer",
                grid.furl,
                "--webport",
                "tcp:0:interface=127.0.0.1",
                "--shares-needed",
                "2",
                "--shares-happy",
                "3",
                "--shares-total",
                "4",
                str(client),
            )
            proc = subprocess.Popen(
                [tahoe, "run", "--allow-stdin-close", str(client)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(600):
                    if (client / "node.url").exists():
                        break
                    time.sleep(0.1)
                time.sleep(5)  # let it connect to the 4 storage nodes
                payload = base / "payload"
                payload.write_bytes(os.urandom(MIB * 2**20))
                t0 = time.monotonic()
                cap = sh(tahoe, "-d", str(client), "put", str(payload)).stdout.strip()
                put = time.monotonic() - t0
                t0 = time.monotonic()
                sh(tahoe, "-d", str(client), "get", cap, str(base / "back"))
                get = time.monotonic() - t0
                return put, get
            finally:
                proc.terminate()
                proc.wait(30)
        finally:
            grid.destroy()


def main() -> None:
    network_start_to_usable()
    new_onion_reachable()
    rss()
    onion_put, onion_get = onion_throughput()
    tcp_put, tcp_get = tcp_throughput()
    print(f"{MIB} MiB, 2-of-4, 4 storage nodes:")
    print(f"  onion grid: put {onion_put:.1f} s, get {onion_get:.1f} s")
    print(f"  plain TCP : put {tcp_put:.1f} s, get {tcp_get:.1f} s")
    print(f"  ratio onion/TCP: put {onion_put / tcp_put:.1f}x, get {onion_get / tcp_get:.1f}x")
    print("provisioning times: bench/provision.py")


if __name__ == "__main__":
    main()
