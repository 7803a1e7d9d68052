"""Provisioning time of the local grid (inventories/local): cold and no-change runs.

Runs testbed/playbooks/grid.yml (the private Tor network, then site.yml) with
ansible's profile_tasks callback and prints, for each run, the wall time, the time
spent in site.yml's own plays (the rest is the test bed's), the sum of changed=
over all hosts and the slowest tasks. Never asserts on time.

  --cold               first destroy and recreate the containers, and time a cold run
  --reruns N           no-change runs to time (default 2)
  --connection NAME    override the inventory's connection for the no-change runs
                       (e.g. containers.podman.podman, to compare with nsenter)

Usage: .venv/bin/python bench/provision.py [--cold] [--reruns N] [--connection NAME]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / ".venv/bin/ansible-playbook"
# The test bed's inventory, named (ansible.cfg has no default inventory).
INVENTORY = REPO / "inventories/local/hosts.yml"
ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "CONTAINERS_CONF": str(REPO / "testbed/roles/testbed_containers/files/containers.conf"),
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "8",
}
SLOW_TASK = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$")
# profile_tasks stamps each task with the run's elapsed time: "... 0:01:02.345 ***".
ELAPSED = re.compile(r"(\d+):(\d\d):(\d\d\.\d+) \*+ *$", re.M)
# Plays of the test bed (testbed/playbooks/grid.yml runs them before site.yml).
TESTBED_PLAYS = ("Enter each container", "A private Tor network")


def seconds(hms: tuple[str, ...]) -> float:
    return int(hms[0]) * 3600 + int(hms[1]) * 60 + float(hms[2])


def site_seconds(stdout: str, total: float) -> float:
    """Seconds from the first play of site.yml to the end of the run."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("PLAY [") and not line[6:].startswith(TESTBED_PLAYS):
            for later in lines[i:]:
                if m := ELAPSED.search(later):
                    return total - seconds(m.groups())
    return 0.0


def play(name: str, *args: str) -> tuple[float, float, int, list[str]]:
    t0 = time.monotonic()
    r = subprocess.run(
        [str(PLAYBOOK), "-i", str(INVENTORY), str(REPO / name), *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        check=False,
    )
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"{name} failed (exit {r.returncode}):\n{r.stdout[-3000:]}")
    recap = r.stdout.split("PLAY RECAP", 1)[-1]
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", recap))
    slow = [f"{m[2]:>7}s  {m[1]}" for m in map(SLOW_TASK.match, r.stdout.splitlines()) if m]
    stamps = ELAPSED.findall(r.stdout)
    run = seconds(stamps[-1]) if stamps else elapsed
    return elapsed, site_seconds(r.stdout, run), changed, slow


def report(label: str, figures: tuple[float, float, int, list[str]]) -> None:
    elapsed, site, changed, slow = figures
    print(f"{label}: {elapsed:.0f} s (site.yml's plays {site:.0f} s), changed={changed}")
    for line in slow[:8]:
        print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--reruns", type=int, default=2)
    parser.add_argument("--connection")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    if args.cold:
        play("testbed/playbooks/local-grid-down.yml")
        t0 = time.monotonic()
        play("testbed/playbooks/local-grid-up.yml")
        print(f"containers created and booted: {time.monotonic() - t0:.0f} s")
        report("cold run of testbed/playbooks/grid.yml", play("testbed/playbooks/grid.yml"))
    extra = ["-e", f"ansible_connection={args.connection}"] if args.connection else []
    for n in range(1, args.reruns + 1):
        label = f"no-change run {n}" + (f" ({args.connection})" if args.connection else "")
        report(label, play("testbed/playbooks/grid.yml", *extra))


if __name__ == "__main__":
    main()
