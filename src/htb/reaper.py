"""The desktop app's node ends with the app: ``python -m htb.reaper NODE_DIR``.

The app's :class:`htb.tahoe.TahoeClient` (``ephemeral=True``) starts this small
process beside its ``tahoe run``. It holds no secret: its arguments are the node
directory's path, its environment htb's own without the passphrases, and all it
reads is its stdin, a pipe whose only writer is the app. On that pipe the app says
``pid N`` for each node it starts. When the pipe closes (the app stopped the node,
quit, was locked and replaced, crashed or was killed: the kernel closes the pipe
in every case) or the session ends (SIGTERM, SIGHUP), it ends the node (SIGTERM,
then SIGKILL) and deletes its directory, which holds every secret of the session.

The node also exits by itself when the app dies, for the same reason: its stdin is
another pipe only the app writes to, and `tahoe run` without ``--allow-stdin-close``
stops when its stdin closes (allmydata/scripts/tahoe_run.py, ``on_stdin_close``).
This process is what deletes the directory, and what ends a node that hangs.

A node is named by a pidfd (``os.pidfd_open``), never by its number alone: a
number can be reused once the node has gone; a pidfd cannot name another process.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType

from htb import nodedir
from htb.errors import HtbError

# Seconds for the node to stop after SIGTERM before SIGKILL (Tahoe closes its
# connections first), then for the kernel to end it.
TERM_SECONDS = 20.0
KILL_SECONDS = 5.0


class _SessionEnds(Exception):
    """SIGTERM or SIGHUP: the desktop session is ending; clean up as at EOF."""


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    raise _SessionEnds()


def _exited(pidfd: int, timeout: float) -> bool:
    """Whether the process of ``pidfd`` has exited within ``timeout`` seconds."""
    readable, _, _ = select.select([pidfd], [], [], timeout)
    return bool(readable)


def end(pidfd: int) -> None:
    """End the node named by ``pidfd``: SIGTERM, then SIGKILL; return once it is gone."""
    for sig, grace in ((signal.SIGTERM, TERM_SECONDS), (signal.SIGKILL, KILL_SECONDS)):
        if _exited(pidfd, 0):
            return
        try:
            signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            return
        if _exited(pidfd, grace):
            return


def watch(lines: Iterable[bytes], node_dir: Path) -> int:
    """Follow the app's ``pid N`` lines until EOF; then end the last node, delete its dir."""
    pidfd: int | None = None
    try:
        for line in lines:
            word, _, number = line.decode("ascii", "replace").strip().partition(" ")
            if word == "pid" and number.isdigit():
                if pidfd is not None:
                    os.close(pidfd)
                    pidfd = None
                try:
                    pidfd = os.pidfd_open(int(number))
                except ProcessLookupError:  # exited already: nothing to end
                    pidfd = None
    except _SessionEnds:
        pass
    # From here on nothing interrupts the clean-up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if pidfd is not None:
        end(pidfd)
    try:
        nodedir.remove(node_dir)
    except (OSError, HtbError) as exc:
        print(f"htb-reaper: {node_dir} not deleted: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not os.path.isabs(args[0]):
        print("usage: python -m htb.reaper NODE_DIR (absolute)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the app's terminal is the app's
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    return watch(sys.stdin.buffer, Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
