"""What the htb verbs do, written against :class:`htb.client.Client` only."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from htb import settings
from htb.client import CheckReport, Client, Progress, Status, TorSettings, no_progress
from htb.errors import (
    Cancelled,
    GridError,
    NodeNotRunningError,
    NotEnoughServersError,
    UnrecoverableError,
)
from htb.manifest import BackupEntry, Manifest, validate
from htb.manifest.schema import safe_name

Say = Callable[[str], None]
T = TypeVar("T")


# Each introducer relays its own copy of a server's announcement (its own sequence
# number and nonce), and Tahoe replaces a server's connection when a different copy
# arrives: with two introducers, servers counted as connected after the first one
# answered drop and reconnect when the second answers. So servers are counted once
# every introducer has answered or failed, or after this many seconds (one that
# hangs, seized, must not hold the person back for long).
INTRODUCER_GRACE = 45.0


def _running_status(client: Client) -> Status:
    """The node's status; raises when no node runs (never started, stopped, or a
    reboot took it): waiting for servers cannot help then."""
    status = client.status()
    if not status.running:
        raise NodeNotRunningError(
            "the Tahoe client node is not running: `htb start -m MANIFEST` builds and starts it"
        )
    return status


def wait_for_servers(
    client: Client,
    minimum: int,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    *,
    upload: bool = False,
) -> Status:
    """Poll until ``minimum`` servers are connected; raise with the count if they are not.

    For an ``upload``, only servers uploads may use count: when the manifest names
    Grid Managers, those they certify (a node that joined with a leaked introducer
    FURL is connected, and takes no share).
    """
    start = clock()
    deadline = start + timeout
    while True:
        status = _running_status(client)
        now = clock()
        settled = status.introducers_pending == 0 or now - start >= INTRODUCER_GRACE
        usable = status.usable(upload=upload)
        if usable >= minimum and (settled or now >= deadline):
            return status
        if now >= deadline:
            what = "certified " if upload and status.grid_managers else ""
            raise NotEnoughServersError(
                f"{usable} of {minimum} needed {what}storage servers connected after "
                f"{timeout:.0f} s (is tor running? is the grid up?)"
            )
        sleep(1.0)


# "Connected" on the node's welcome page is not yet "usable": right after it counts
# a server, an upload can still find too few willing ones (NotEnoughServersError).
# Such a failure is retried, a bounded number of times, then reported plainly.
TRANSIENT_ATTEMPTS = 3
# Seconds the local node may take to answer after `tahoe run` (not the grid: --timeout).
NODE_START_TIMEOUT = 60.0
TRANSIENT_DELAY = 5.0
# Uploads need `happy` servers to accept at once: on a loaded grid under Tor one of
# them can take a minute to come back (seen in CI: 3 attempts within 70 s all failed).
# So they get more attempts, with the wait doubling: 5, 10, 20, 40 s between them.
UPLOAD_ATTEMPTS = 5
MAX_DELAY = 40.0


def _retry(
    action: Callable[[], T],
    recover: Callable[[], object],
    error: type[GridError],
    gave_up: str,
    retrying: str,
    say: Say,
    sleep: Callable[[float], None],
    attempts: int = TRANSIENT_ATTEMPTS,
) -> T:
    """Run ``action``; on ``error`` wait, ``recover`` (wait for servers) and retry, bounded.

    Only ``error`` is retried: a Cancelled (the person stopped it) goes straight up.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Cancelled:
            raise
        except error:
            if attempt == attempts:
                raise error(gave_up) from None
            say(f"      {retrying}; waiting and trying again ({attempt + 1} of {attempts})")
            sleep(min(TRANSIENT_DELAY * 2 ** (attempt - 1), MAX_DELAY))
            recover()
    raise AssertionError("unreachable")  # pragma: no cover


def _wait_up_to(
    client: Client, servers: int, timeout: float, sleep: Callable[[float], None]
) -> None:
    """Wait, at most ``timeout`` seconds and without failing, for ``servers`` connected
    servers - or for every server the node knows, if they are at least shares.happy (a
    whole grid: waiting for another cannot help)."""
    for _ in range(max(1, int(timeout))):
        status = _running_status(client)
        whole = status.connected == len(status.servers) and status.connected >= status.happy
        if status.connected >= servers or whole:
            return
        sleep(1.0)


def retry_transient(
    action: Callable[[], T],
    client: Client,
    minimum: int,
    wait: float,
    *,
    say: Say = no_progress,
    sleep: Callable[[float], None] = time.sleep,
    upload: bool = True,
) -> T:
    """Run ``action``; on NotEnoughServersError wait for ``minimum`` servers and retry."""
    return _retry(
        action,
        lambda: wait_for_servers(client, minimum, wait, sleep, upload=upload),
        NotEnoughServersError,
        f"too few storage servers accepted shares, {UPLOAD_ATTEMPTS} attempts in a row: "
        "the grid is connected but not usable now; try again later "
        "(`htb status` shows the servers)",
        "too few storage servers accepted shares",
        say,
        sleep,
        UPLOAD_ATTEMPTS,
    )


def retry_download(
    action: Callable[[], T],
    client: Client,
    servers: int,
    wait: float,
    *,
    say: Say = no_progress,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run a download; on UnrecoverableError wait for servers and retry, bounded.

    Tahoe drops and remakes a server's connection when another introducer relays a
    new copy of its announcement (a restarted node, an introducer back up): a
    download under way then finds too few shares for a moment. And a server that is
    connected may hold nothing (rebuilt with an empty disk) while those that hold the
    shares are still reconnecting. So a retry waits for ``servers`` servers (those at
    the start), then for one more than the attempt had, unless the grid is whole.
    Data that is truly lost fails every attempt and is reported once, after the bound.
    """
    started_with = [0]

    def attempt() -> T:
        started_with[0] = client.status().connected
        return action()

    def recover() -> None:
        wait_for_servers(client, servers, wait, sleep)
        # A connected server may hold no share (a storage node rebuilt with an empty
        # disk) while those that do are still reconnecting.
        _wait_up_to(client, started_with[0] + 1, wait, sleep)

    return _retry(
        attempt,
        recover,
        UnrecoverableError,
        f"too few storage servers hold shares of this data, {TRANSIENT_ATTEMPTS} attempts in "
        "a row: it cannot be rebuilt now (`htb status` shows the servers; `htb check` tells "
        "what is lost)",
        "too few shares found",
        say,
        sleep,
    )


def snapshots(
    client: Client,
    entry: BackupEntry,
    *,
    say: Say = no_progress,
    wait: float = settings.GRID_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """The entry's snapshot names, read once enough servers are connected to read them.

    Right after `htb start` (or the app's Unlock) the node knows fewer servers than
    hold the directory's shares: reading then is retried as a download is.
    """
    seen = wait_for_servers(client, client.status().needed, wait, sleep).connected
    return retry_download(
        partial(client.snapshots, entry), client, seen, wait, say=say, sleep=sleep
    )


def select(manifest: Manifest, names: Sequence[str]) -> list[BackupEntry]:
    """The backup entries to act on: all, or those whose alias or path is named."""
    entries = manifest.backups
    if not names:
        return entries
    chosen = [e for e in entries if e.alias in names or e.target in names or e.path in names]
    unknown = set(names) - {n for e in chosen for n in (e.alias, e.target, e.path)}
    if unknown:
        # A name is shown only if it cannot be a secret (a cap or FURL typed by mistake).
        shown = sorted(n for n in map(safe_name, unknown) if n)
        hidden = len(unknown) - len(shown)
        parts = [", ".join(shown)] if shown else []
        if hidden:
            parts.append(f"{hidden} other name{'s' if hidden > 1 else ''}")
        raise GridError(f"no backup entry named {' and '.join(parts)} in the manifest")
    return chosen


def backup(
    client: Client,
    entries: Sequence[BackupEntry],
    *,
    say: Say = no_progress,
    progress: Progress = no_progress,
    wait: float = settings.GRID_WAIT,
) -> None:
    """Back up each entry; refuse before uploading anything if a local directory is missing."""
    for entry in entries:
        if not Path(entry.local).is_dir():
            raise GridError(f"cannot back up {entry.local}: no such directory")
    status = client.status()
    wait_for_servers(client, status.happy, wait, upload=True)
    for i, entry in enumerate(entries, 1):
        say(f"[{i}/{len(entries)}] backing up {entry.local} -> {entry.alias}:{entry.path}")
        # `tahoe backup` is incremental: a retry uploads only what is not there yet.
        retry_transient(
            partial(client.backup, entry, progress), client, status.happy, wait, say=say
        )


def check(
    client: Client,
    aliases: Sequence[str],
    *,
    repair: bool = False,
    say: Say = no_progress,
    wait: float = settings.GRID_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, CheckReport]:
    """Deep-check (and with ``repair``, repair) each alias's directory, adding leases.

    A check needs k servers to read; a repair needs shares.happy to place shares.
    A check also gives the others a moment (servers still reconnecting would count
    their shares as missing), then goes on with those there.
    """
    status = client.status()
    minimum = status.happy if repair else status.needed
    wait_for_servers(client, minimum, wait, sleep, upload=repair)
    _wait_up_to(client, status.happy, min(wait, INTRODUCER_GRACE), sleep)
    reports = {}
    for i, alias in enumerate(aliases, 1):
        say(f"[{i}/{len(aliases)}] {'checking and repairing' if repair else 'checking'} {alias}")
        reports[alias] = retry_transient(
            partial(client.check, alias, repair), client, minimum, wait, say=say, upload=repair
        )
    return reports


def new_manifest(
    client: Client,
    template: Manifest,
    say: Say = no_progress,
    *,
    wait: float = settings.GRID_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> Manifest:
    """Create on the grid every alias the template's backups name but do not define.

    ``client`` must be configured for the template's grid and running; ``wait`` bounds
    each wait for servers after a transient shortage (`htb start --timeout`).
    """
    aliases = dict(template.aliases)
    for entry in template.backups:
        if entry.alias not in aliases:
            say(f"creating alias {entry.alias} on the grid")
            happy = template.shares[1]
            aliases[entry.alias] = retry_transient(
                partial(client.create_alias, entry.alias), client, happy, wait, say=say, sleep=sleep
            )
    return validate({**template.data, "aliases": aliases})


def new_convergence_secret() -> str:
    """A new Tahoe convergence secret, as a node's ``private/convergence`` holds it.

    32 random bytes in Tahoe's base32 (lower case, unpadded: 52 characters), as
    tahoe-lafs 1.20 makes them (``allmydata.client._make_secret``).
    """
    return base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()


def create_backups(
    client: Client,
    template: Manifest,
    tor: TorSettings | None,
    *,
    say: Say = no_progress,
    wait: float = settings.GRID_WAIT,
) -> Manifest:
    """The full manifest of a template or an invitation, with its own directories on the grid.

    Builds the node for the template's grid with a new convergence secret (or the
    template's own), starts it, waits for shares.happy servers, creates each alias
    the backups name and the template does not define. The node keeps running,
    with those aliases. On failure it is stopped and its directory deleted: a
    directory already created on the grid is forgotten (nothing refers to it).
    """
    data = {**template.data, "kind": "full"}
    data.setdefault("convergence", new_convergence_secret())
    full = validate(data, template=True)
    try:
        client.configure(full, tor)
        client.start(max(wait, NODE_START_TIMEOUT))
        wait_for_servers(client, full.shares[1], wait, upload=True)
        return new_manifest(client, full, say=say, wait=wait)
    except BaseException:
        client.stop()
        raise
