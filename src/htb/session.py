"""The session operations, shared by the ``htb`` command and the desktop app.

Open a sealed manifest, make an invitation one's own, start the node with the
last session's backupdb, back up (saving that backupdb again), copy the
manifest for a friend. Plain functions with explicit parameters: the callers
read passphrases and options their own way and show ``say``'s lines their own
way. No second backup logic: everything goes through :mod:`htb.ops`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from htb import backupdb, ops, settings
from htb.client import Client, Progress, TorSettings, no_progress
from htb.errors import GridError, HtbError, ManifestInvalidError
from htb.manifest import (
    DEFAULT_KDF,
    BackupEntry,
    KdfParams,
    Manifest,
    Opened,
    envelope,
    open_sealed,
    read_sealed,
    seal,
    write_atomic,
)

# The one QR writer (htb.qr), under the names the command and the app call.
from htb.qr import QR_TOO_LARGE_HINT as QR_TOO_LARGE_HINT
from htb.qr import qr_png as qr_png

Say = Callable[[str], None]

_LOOPBACK_HINTS = ("tcp:127.0.0.1:", "tcp:localhost:", "127.0.0.1:", "localhost:")
INVITATION_REFUSED = "this is an invitation: run `htb start` first to create your backups"
OPENING = "opening the manifest (deriving the key takes a second)"


# --- errors as a person sees them ---------------------------------------------------
def one_line(message: str) -> str:
    """``message`` as one line: line breaks become spaces, other control characters escapes."""
    return "".join(
        ch if ch.isprintable() else " " if ch.isspace() else ascii(ch)[1:-1] for ch in message
    )


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line (as after ``htb: error: ``) and exit code of a failure.

    Only htb's own errors and OSError's reason are shown: any other message
    could quote a value (a passphrase, a cap).
    """
    if isinstance(exc, HtbError):
        return one_line(str(exc)), exc.exit_code
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return one_line(f"{exc.filename}: {reason}" if exc.filename else reason), 1
    if isinstance(exc, MemoryError):
        return "not enough free memory", 1
    if isinstance(exc, RecursionError):
        return "ran out of stack space (is the input nested too deeply?)", 1
    return f"internal error ({type(exc).__name__}); please report it", 1


# --- opening -------------------------------------------------------------------------
def open_file(path: Path, passphrase: str, *, say: Say = no_progress) -> Opened:
    """Open the sealed manifest at ``path`` (either form, or a 2014 one)."""
    say(OPENING)
    return read_sealed(path, passphrase)


def open_text(text: str, passphrase: str, *, say: Say = no_progress) -> Opened:
    """Open a manifest pasted as armored text."""
    say(OPENING)
    return open_sealed(text.strip().encode(), passphrase)


def tor_settings(
    manifest: Manifest,
    socks_port: str = settings.SOCKS_PORT,
    control_port: str | None = None,
    *,
    unsafe_no_tor: bool = False,
) -> TorSettings | None:
    """How the node reaches the manifest's grid: over Tor, or (test grids) plain TCP."""
    hints = manifest.non_onion_hints()
    if unsafe_no_tor:
        remote = [h for h in hints if not h.startswith(_LOOPBACK_HINTS)]
        if remote or not hints:
            raise GridError(
                "--unsafe-no-tor is only for test grids on 127.0.0.1; this manifest "
                "points elsewhere, so it must be used over Tor"
            )
        return None
    manifest.require_onion_only()
    return TorSettings(socks_port=socks_port, control_port=control_port)


# --- the sealed backupdb beside the manifest ------------------------------------------
def load_backupdb(
    manifest_path: Path, client: Client, manifest: Manifest, *, say: Say = no_progress
) -> None:
    """Give the new node what the last session's backups recorded (sealed beside M)."""
    sealed = backupdb.path_for(manifest_path)
    key = backupdb.key(manifest)
    if key is None or not sealed.is_file():
        return
    data = backupdb.unseal(sealed.read_bytes(), key)
    if data is None:
        say(
            f"note: {sealed} was not saved for this manifest (or is damaged): ignored; the "
            "first backup checks every file again"
        )
        return
    client.load_backupdb(data)


def save_backupdb(
    manifest_path: Path, client: Client, manifest: Manifest, *, say: Say = no_progress
) -> None:
    """Seal the node's backupdb beside M: the next session's first backup stays incremental."""
    key = backupdb.key(manifest)
    data = client.read_backupdb()
    if key is None or data is None:
        return
    try:
        write_atomic(backupdb.path_for(manifest_path), backupdb.seal(data, key))
    except OSError as exc:
        say(
            f"warning: could not save the backup state ({exc.strerror or type(exc).__name__}): "
            "the next session's first backup checks every file again"
        )


# --- the session ---------------------------------------------------------------------
def join(
    client: Client,
    invitation: Opened,
    new_passphrase: str,
    manifest_path: Path,
    tor: TorSettings | None,
    *,
    kdf: KdfParams = DEFAULT_KDF,
    say: Say = no_progress,
    wait: float = settings.GRID_WAIT,
) -> Manifest:
    """Make an invitation the person's own: her directories, her passphrase, over the file.

    ``new_passphrase`` must already be strength-checked. The node keeps running.
    """
    full = ops.create_backups(client, invitation.manifest, tor, say=say, wait=wait)
    sealed = seal(full, new_passphrase, armored=invitation.form == "armored", kdf=kdf)
    write_atomic(manifest_path, sealed)
    return full


def start(
    client: Client,
    manifest: Manifest,
    manifest_path: Path | None,
    tor: TorSettings | None,
    *,
    say: Say = no_progress,
    wait: float = settings.GRID_WAIT,
) -> None:
    """Build the node afresh from a full manifest, give it the saved backupdb, start it."""
    client.configure(manifest, tor)
    if manifest_path is not None:
        load_backupdb(manifest_path, client, manifest, say=say)
    client.start(max(wait, ops.NODE_START_TIMEOUT))


def stop(client: Client) -> None:
    """Stop the node and delete its directory."""
    client.stop()


def backup(
    client: Client,
    manifest: Manifest,
    manifest_path: Path | None,
    entries: Sequence[BackupEntry],
    *,
    say: Say = no_progress,
    progress: Progress = no_progress,
    wait: float = settings.GRID_WAIT,
) -> None:
    """Back up ``entries``; the backupdb is saved beside the manifest even after a failure."""
    try:
        ops.backup(client, entries, say=say, progress=progress, wait=wait)
    finally:
        # Even after a failure: what was uploaded need not be checked again.
        if manifest_path is not None:
            save_backupdb(manifest_path, client, manifest, say=say)


_SNAPSHOT_NAME = re.compile(r"(\d{4}-\d\d-\d\d)_(\d\d:\d\d:\d\d)Z")


def snapshot_time(name: str) -> str | None:
    """ISO 8601 (UTC) of a `tahoe backup` snapshot name (``2026-01-02_03:04:05Z``), else None."""
    match = _SNAPSHOT_NAME.match(name)
    return f"{match[1]}T{match[2]}Z" if match else None


# --- copies for friends ----------------------------------------------------------------
@dataclass(frozen=True)
class Copy:
    """A copy of a manifest for a friend: sealed once (fresh salt and nonce)."""

    blob: bytes  # the binary form
    armored: str  # the same bytes, armored


def export(manifest: Manifest, passphrase: str, *, kdf: KdfParams = DEFAULT_KDF) -> Copy:
    """A fresh sealing of a full manifest; the file and a QR code hold the same bytes."""
    if manifest.is_invitation:
        raise ManifestInvalidError(INVITATION_REFUSED)
    blob = seal(manifest, passphrase, kdf=kdf)
    return Copy(blob, envelope.armor(blob))


def local_totals(entry: BackupEntry) -> dict[str, int]:
    """Relative path -> size of every file a backup of ``entry`` reads (its excludes left out).

    The same walk as the in-memory grid's: a name matching an exclude pattern is
    skipped with everything below it; symlinks are not followed.
    """
    out: dict[str, int] = {}
    root = Path(entry.local)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if not any(fnmatch.fnmatch(d, p) for p in entry.excludes)
            and not (here / d).is_symlink()
        ]
        for name in filenames:
            if any(fnmatch.fnmatch(name, p) for p in entry.excludes):
                continue
            path = here / name
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(root))] = path.stat().st_size
    return out
