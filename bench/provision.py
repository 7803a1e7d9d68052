"""Provisioning time of the local grid (inventories/local): cold and no-change runs.

Runs testbed/playbooks/grid.yml (the private Tor network, then site.yml) with
ansible's profile_tasks callback and prints, for each run, the wall time, the sum
of changed= over all hosts and the slowest tasks. Never asserts on time.

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
ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "CONTAINERS_CONF": str(REPO / "testbed/roles/testbed_containers/files/containers.conf"),
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "8",
}
SLOW_TASK = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$")


def play(name: str, *args: str) -> tuple[float, int, list[str]]:
    t0 = time.monotonic()
    r = subprocess.run(
        [str(PLAYBOOK), str(REPO / name), *args],
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
    return elapsed, changed, slow


def report(label: str, figures: tuple[float, int, list[str]]) -> None:
    elapsed, changed, slow = figures
    print(f"{label}: {elapsed:.0f} s, changed={changed}")
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
        play("testbed/playbooks/local-grid-up.yml")
        report("cold run of testbed/playbooks/grid.yml", play("testbed/playbooks/grid.yml"))
    extra = ["-e", f"ansible_connection={args.connection}"] if args.connection else []
    for n in range(1, args.reruns + 1):
        label = f"no-change run {n}" + (f" ({args.connection})" if args.connection else "")
        report(label, play("testbed/playbooks/grid.yml", *extra))


if __name__ == "__main__":
    main()
