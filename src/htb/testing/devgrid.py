"""A plain-TCP Tahoe grid on 127.0.0.1: for tests, the demo and benchmarks only.

It runs real ``tahoe`` processes (an introducer and a few storage nodes) bound
to loopback. It is not an onion grid and never holds real data; the grid roles
build the real thing. ``python -m htb.testing.devgrid up DIR`` / ``down DIR`` drive it
from a shell.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from htb import gridmanager
from htb.errors import GridError
from htb.files import write_atomic
from htb.nodeconfig import grid_files
from htb.tahoe import child_env, tahoe_executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(path: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise GridError(f"devgrid: {what} did not appear within {timeout:.0f} s ({path})")
        time.sleep(0.1)


@dataclass
class DevGrid:
    """An introducer and ``storage_nodes`` storage nodes under ``base``."""

    base: Path
    storage_nodes: int = 3
    tahoe: str = field(default_factory=tahoe_executable)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _run(self, *args: str) -> None:
        subprocess.run([self.tahoe, *args], check=True, capture_output=True, env=child_env())

    def _start(self, name: str) -> None:
        node = self.base / name
        log = (node / "htb-run.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [self.tahoe, "run", "--allow-stdin-close", str(node)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(),
        )

    def create(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        intro = self.base / "introducer"
        if not intro.exists():
            port = free_port()
            self._run(
                "create-introducer",
                f"--port=tcp:{port}:interface=127.0.0.1",
                f"--location=tcp:127.0.0.1:{port}",
                str(intro),
            )
        for name in self.storage_names:
            node = self.base / name
            if node.exists():
                continue
            port = free_port()
            self._run(
                "create-node",
                "--nickname",
                name,
                f"--port=tcp:{port}:interface=127.0.0.1",
                f"--location=tcp:127.0.0.1:{port}",
                "--webport=none",
                str(node),
            )

    @property
    def storage_names(self) -> list[str]:
        return [f"storage{i}" for i in range(1, self.storage_nodes + 1)]

    @property
    def furl(self) -> str:
        return (self.base / "introducer" / "private" / "introducer.furl").read_text().strip()

    def start(self, timeout: float = 60.0) -> None:
        """Start every node; storage nodes are pointed at the introducer first."""
        self.create()
        self._start("introducer")
        _wait_for(
            self.base / "introducer" / "private" / "introducer.furl", timeout, "introducer FURL"
        )
        for name in self.storage_names:
            text = grid_files({"default": self.furl}, {})["introducers.yaml"] or ""
            write_atomic(self.base / name / "private/introducers.yaml", text.encode())
            self._start(name)
        for name in self.storage_names:
            _wait_for(
                self.base / name / "private" / "storage.furl", timeout, f"{name} storage FURL"
            )

    def servers(self) -> dict[str, dict[str, Any]]:
        """The static servers.yaml ``storage`` mapping for every storage node."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.storage_names:
            node = self.base / name
            pubkey = (node / "node.pubkey").read_text().strip().removeprefix("pub-")
            furl = (node / "private" / "storage.furl").read_text().strip()
            out[pubkey] = {"ann": {"nickname": name, "anonymous-storage-FURL": furl}}
        return out

    def stop_node(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def drop_shares(self, name: str) -> None:
        """Storage node ``name`` loses every share it holds (a disk lost); it keeps running.

        A storage server reads its share directories afresh on every request.
        """
        shares = self.base / name / "storage" / "shares"
        for prefix in shares.iterdir() if shares.is_dir() else ():
            if prefix.name != "incoming":
                shutil.rmtree(prefix)

    def start_node(self, name: str) -> None:
        if name not in self.procs:
            self._start(name)

    def certify(self, name: str, grid_manager_key: str, expires: datetime) -> dict[str, str]:
        """Have storage node ``name`` announce a certificate of this Grid Manager, as the
        storage role does: its key exists once it has run, so it is restarted with the
        certificate (its announcement, renewed, reaches clients through the introducer)."""
        node = self.base / name
        running = name in self.procs
        self.stop_node(name)
        certificate = gridmanager.sign(
            grid_manager_key, (node / "node.pubkey").read_text().strip(), expires
        )
        (node / "private" / "grid-manager.cert").write_text(json.dumps(certificate))
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(node / "tahoe.cfg", encoding="utf-8")
        cfg["storage"]["grid_management"] = "true"
        cfg["grid_manager_certificates"] = {"grid-manager": "private/grid-manager.cert"}
        with (node / "tahoe.cfg").open("w", encoding="utf-8") as f:
            cfg.write(f)
        if running:
            self.start_node(name)
        return certificate

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_node(name)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _pidfile_stop(base: Path) -> None:
    for pidfile in base.glob("*/running.process"):
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError, IndexError):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m htb.testing.devgrid", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("base", type=Path)
    parser.add_argument("--storage-nodes", type=int, default=3)
    args = parser.parse_args(argv)
    if args.action == "down":
        _pidfile_stop(args.base)
        return 0
    grid = DevGrid(args.base, args.storage_nodes)
    grid.start()
    # The processes outlive this command (own sessions); `down` stops them.
    print(
        json.dumps({"introducer_furl_file": str(args.base / "introducer/private/introducer.furl")})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
