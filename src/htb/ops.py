"""What the htb verbs do, written against :class:`htb.client.Client` only."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from htb.client import CheckReport, Client, Node, Progress, Status, TorSettings, no_progress
from htb.errors import (
    Cancelled,
    GridError,
    NodeNotRunningError,
    NotEnoughServersError,
    RestoreRefusedError,
    UnrecoverableError,
    VerifyError,
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
) -> Status:
    """Poll until ``minimum`` servers are connected; raise with the count if they are not."""
    start = clock()
    deadline = start + timeout
    while True:
        status = _running_status(client)
        now = clock()
        settled = status.introducers_pending == 0 or now - start >= INTRODUCER_GRACE
        if status.connected >= minimum and (settled or now >= deadline):
            return status
        if now >= deadline:
            raise NotEnoughServersError(
                f"{status.connected} of {minimum} needed storage servers connected after "
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
) -> T:
    """Run ``action``; on NotEnoughServersError wait for ``minimum`` servers and retry."""
    return _retry(
        action,
        lambda: wait_for_servers(client, minimum, wait, sleep),
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
    wait: float = 120.0,
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
    wait: float = 120.0,
) -> None:
    """Back up each entry; refuse before uploading anything if a local directory is missing."""
    for entry in entries:
        if not Path(entry.local).is_dir():
            raise GridError(f"cannot back up {entry.local}: no such directory")
    status = client.status()
    wait_for_servers(client, status.happy, wait)
    for i, entry in enumerate(entries, 1):
        say(f"[{i}/{len(entries)}] backing up {entry.local} -> {entry.alias}:{entry.path}")
        # `tahoe backup` is incremental: a retry uploads only what is not there yet.
        retry_transient(
            partial(client.backup, entry, progress), client, status.happy, wait, say=say
        )


def restore_target(entry: BackupEntry, root: Path | None) -> Path:
    """Where an entry is restored: its own ``local``, or the same path under ``root``."""
    local = Path(entry.local)
    return root / local.relative_to("/") if root is not None else local


def _make_parents(path: Path) -> list[Path]:
    """``mkdir -p path``; return the directories it created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(os.scandir(path))


def local_listing(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for d in dirnames:
            out[str(rel / d) if str(rel) != "." else d] = -1
        for f in filenames:
            p = Path(dirpath) / f
            out[str(rel / f) if str(rel) != "." else f] = p.stat().st_size
    return out


def verify(listing: dict[str, Node], restored: Path) -> None:
    """Every name and size on the grid is on disk, and nothing else."""
    expected = {path: node.size for path, node in listing.items()}
    actual = local_listing(restored)
    if actual != expected:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        wrong = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
        raise VerifyError(
            f"restore of {restored} does not match the grid: {len(missing)} missing, "
            f"{len(extra)} unexpected, {len(wrong)} of a wrong size"
            + (f" (first: {(missing + extra + wrong)[0]})" if missing or extra or wrong else "")
        )


def apply_modes(listing: dict[str, Node], restored: Path) -> None:
    """Give each restored entry the permission bits it had when it was backed up.

    Deepest first, so that a directory made read-only does not stop its children.
    """
    for path in sorted(listing, key=lambda p: p.count("/"), reverse=True):
        mode = listing[path].mode
        if mode is not None:
            os.chmod(restored / path, mode, follow_symlinks=False)


_Fetched = tuple[dict[str, Node], int | None]


def _fetch_verified(
    client: Client, entry: BackupEntry, snapshot: str | None, staging: Path, progress: Progress
) -> _Fetched:
    """Copy a snapshot into a fresh ``staging`` and check it; its listing and top mode."""
    shutil.rmtree(staging, ignore_errors=True)  # what a failed attempt left
    staging.mkdir(mode=0o700)
    # The listing (what verify checks against) is read while the copy runs: both
    # are mostly waiting on the grid.
    with ThreadPoolExecutor(max_workers=2) as pool:
        listing = pool.submit(client.listing, entry, snapshot)
        top = pool.submit(client.snapshot_mode, entry, snapshot)
        client.fetch(entry, snapshot, staging, progress)
        expected = listing.result()
        top_mode = top.result()
    verify(expected, staging)
    apply_modes(expected, staging)
    return expected, top_mode


def restore(
    client: Client,
    entries: Sequence[BackupEntry],
    *,
    snapshot: str | None = None,
    root: Path | None = None,
    overwrite: bool = False,
    say: Say = no_progress,
    progress: Progress = no_progress,
    wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Path]:
    """Restore each entry into its directory, verified, never overwriting unasked.

    Every target is checked before anything is downloaded. Each snapshot is
    copied into a staging directory beside its target and verified there;
    only then does it take the target's place. With ``overwrite``, existing
    data is moved aside to ``<target>.htb-previous-<time>``, never deleted.
    """
    targets = [restore_target(e, root) for e in entries]
    for target in targets:
        if target.exists() and not _is_empty_dir(target) and not overwrite:
            raise RestoreRefusedError(
                f"{target} exists and is not empty: nothing restored. Move it away, "
                "restore elsewhere with --to, or pass --overwrite (keeps the old copy aside)"
            )
    status = client.status()
    # After a retryable failure, wait for as many servers as were there at the start
    # (at least shares.needed: the wait returns no sooner).
    seen = wait_for_servers(client, status.needed, wait).connected
    done = []
    for i, (entry, target) in enumerate(zip(entries, targets, strict=True), 1):
        say(f"[{i}/{len(entries)}] restoring {entry.alias}:{entry.path} -> {target}")
        created = _make_parents(target.parent)
        staging = target.parent / f".htb-restore-{target.name}-{os.getpid()}"
        try:
            attempt = partial(_fetch_verified, client, entry, snapshot, staging, progress)
            expected, top_mode = retry_download(attempt, client, seen, wait, say=say, sleep=sleep)
        except BaseException:
            # A failed restore leaves the disk as it found it.
            shutil.rmtree(staging, ignore_errors=True)
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        if target.exists():
            if _is_empty_dir(target):
                target.rmdir()
            else:
                aside = target.with_name(
                    f"{target.name}.htb-previous-{time.strftime('%Y%m%dT%H%M%S')}"
                )
                target.rename(aside)
                say(f"      previous content kept in {aside}")
        staging.rename(target)
        if top_mode is not None:
            # Last: a read-only top directory must not stop its own restore.
            target.chmod(top_mode)
        say(f"      verified {sum(1 for v in expected.values() if v.size >= 0)} files")
        done.append(target)
    return done


def check(
    client: Client,
    aliases: Sequence[str],
    *,
    repair: bool = False,
    say: Say = no_progress,
    wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, CheckReport]:
    """Deep-check (and with ``repair``, repair) each alias's directory, adding leases.

    A check needs k servers to read; a repair needs shares.happy to place shares.
    A check also gives the others a moment (servers still reconnecting would count
    their shares as missing), then goes on with those there.
    """
    status = client.status()
    minimum = status.happy if repair else status.needed
    wait_for_servers(client, minimum, wait, sleep)
    _wait_up_to(client, status.happy, min(wait, INTRODUCER_GRACE), sleep)
    reports = {}
    for i, alias in enumerate(aliases, 1):
        say(f"[{i}/{len(aliases)}] {'checking and repairing' if repair else 'checking'} {alias}")
        reports[alias] = retry_transient(
            partial(client.check, alias, repair), client, minimum, wait, say=say
        )
    return reports


def new_manifest(client: Client, template: Manifest, say: Say = no_progress) -> Manifest:
    """Create on the grid every alias the template's backups name but do not define.

    ``client`` must be configured for the template's grid and running.
    """
    aliases = dict(template.aliases)
    for entry in template.backups:
        if entry.alias not in aliases:
            say(f"creating alias {entry.alias} on the grid")
            happy = template.shares[1]
            aliases[entry.alias] = retry_transient(
                partial(client.create_alias, entry.alias), client, happy, 120.0, say=say
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
    wait: float = 120.0,
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
        wait_for_servers(client, full.shares[1], wait)
        return new_manifest(client, full, say=say)
    except BaseException:
        client.stop()
        raise
