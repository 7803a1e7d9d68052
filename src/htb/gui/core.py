"""The desktop app without GTK: each long operation in a worker thread, results as events.

Every event reaches the view through the injected ``post`` (in the app
``GLib.idle_add``, so the listener runs on the UI thread; in tests, a direct
call). Nothing here blocks the caller: key derivation, joining, backups,
restores and status polls all run in threads. The operations are those of
:mod:`htb.session` and :mod:`htb.ops`, as the ``htb`` command runs them.

Secrets: the passphrase is kept (for copies) only while unlocked, never put in
an event, a log or a child process; the armored copy reaches only the view. After
Lock the view replaces the whole process (htb.gui.app.relaunch): Python cannot
wipe the strings this module dropped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from htb import nodedir, ops, placing, restore, session, settings
from htb import passphrase as pw
from htb.client import Client, Status
from htb.errors import (
    Cancelled,
    HtbError,
    ManifestInvalidError,
    NotSealedError,
)
from htb.gui.events import (
    Activity,
    AskNewPassphrase,
    AskReplace,
    BackupRow,
    BackupsChanged,
    Busy,
    CopyReady,
    Event,
    Failed,
    Failure,
    Listener,
    Locked,
    RestoreFinished,
    RestoreProgress,
    Saved,
    SnapshotList,
    StatusLine,
    Unlocked,
)
from htb.gui.i18n import _, ngettext
from htb.gui.progress import ProgressTracker
from htb.manifest import (
    DEFAULT_KDF,
    KdfParams,
    Manifest,
    Opened,
    open_sealed,
    read_limited,
    write_atomic,
)
from htb.tahoe import TAHOE_ENV, TahoeClient

Post = Callable[[Callable[[], None]], object]


# --- configuration ---------------------------------------------------------------------
# The QR code on screen: 3 pixels a module for a full manifest (a phone reads that off
# a screen), and the dialog still fits a laptop's 1280 x 800.
QR_MAX_PIXELS = 560


@dataclass(frozen=True)
class Config:
    """What the app takes from the environment, as the ``htb`` command does."""

    manifest_path: Path | None  # $HTB_MANIFEST: where the person's manifest is installed
    tahoe: str | None  # $HTB_TAHOE
    socks_port: str  # $HTB_TOR_SOCKS_PORT
    node_dir: Path  # $HTB_NODE_DIR, else htb.nodedir's default

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        manifest = env.get("HTB_MANIFEST")
        return cls(
            manifest_path=Path(manifest).expanduser() if manifest else None,
            tahoe=env.get(TAHOE_ENV) or None,
            socks_port=env.get(settings.SOCKS_PORT_ENV) or settings.SOCKS_PORT,
            node_dir=nodedir.default_node_dir(env),
        )


def tahoe_client(config: Config) -> Client:
    # Ephemeral: the node, and its directory, end with the app however it ends (a
    # crash, a kill); `htb start`'s node runs on until `htb stop`.
    return TahoeClient(config.node_dir, tahoe=config.tahoe or "", ephemeral=True)


# --- pure helpers --------------------------------------------------------------------
def status_text(status: Status) -> str:
    """The status line. With Grid Managers in the manifest, backups count only the
    servers they certify (restores may use any): both counts are shown."""
    total, needed, happy = len(status.servers), status.needed, status.happy
    if status.grid_managers:
        return _(
            "Certified servers connected: {c} of {t}, {h} needed to back up; "
            "servers connected: {a}, {n} needed to restore"
        ).format(c=status.certified, t=total, h=happy, a=status.connected, n=needed)
    return _(
        "Storage servers connected: {c} of {t} ({n} needed to restore, {h} to back up)"
    ).format(c=status.connected, t=total, n=needed, h=happy)


def check_new_passphrase(new: str, repeat: str) -> str | None:
    """What is wrong with a new passphrase (shown inline), or None if it will do."""
    if not new:
        return _("Enter a passphrase, or press Suggest one")
    if new != repeat:
        return _("The two passphrases differ")
    try:
        pw.check(new)
    except HtbError as exc:
        return session.one_line(str(exc))
    return None


def suggest_passphrase() -> str:
    return pw.generate()


def needs_overwrite(folder: Path) -> bool:
    """Whether restoring into ``folder`` replaces something (it exists and is not empty)."""
    return folder.exists() and not (folder.is_dir() and not any(os.scandir(folder)))


def describe_time(snapshot: str | None) -> str:
    if snapshot is None:
        return _("never")
    iso = session.snapshot_time(snapshot)
    return iso.replace("T", " ").replace("Z", " UTC") if iso else snapshot


# --- the core ------------------------------------------------------------------------
@dataclass
class _Pending:
    """A manifest opened but not yet in use (a question to the person is open)."""

    opened: Opened
    data: bytes
    source: Path | None
    target: Path | None


class Core:
    """The app's state and operations; the view only calls these and listens."""

    def __init__(
        self,
        config: Config,
        post: Post,
        listener: Listener,
        *,
        client_factory: Callable[[Config], Client] = tahoe_client,
        kdf: KdfParams = DEFAULT_KDF,
        wait: float = settings.GRID_WAIT,
    ) -> None:
        self.config = config
        self._post = post
        self._listener = listener
        self._client_factory = client_factory
        self._kdf = kdf
        self._wait = wait
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._busy: str | None = None
        self._polling = False
        self._cancel = threading.Event()
        # Lock and shutdown end a session: an operation begun before (an unlock, a join)
        # that finishes after must not unlock again, nor leave the node running.
        self._generation = 0
        # How long Lock waits for a running operation before it stops the node anyway.
        self.lock_wait = 60.0
        self._client: Client | None = None
        self._pending: _Pending | None = None
        self._passphrase: str | None = None
        self._copy: str | None = None
        self.manifest: Manifest | None = None
        self.manifest_path: Path | None = None

    # --- plumbing ----------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self._post(lambda: self._listener(event))

    def _spawn(self, work: Callable[[], None]) -> None:
        thread = threading.Thread(target=work, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _exclusive(self, operation: str, work: Callable[[], None]) -> bool:
        """Run ``work`` in a worker unless another long operation runs; False if refused."""
        with self._lock:
            if self._busy is not None:
                refused = self._busy
            else:
                refused = None
                self._busy = operation
                self._cancel.clear()
        if refused is not None:
            self._emit(Activity(_("Wait: another operation is running ({op})").format(op=refused)))
            return False
        self._emit(Busy(operation))

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # every failure is shown, as the CLI does
                self._fail(operation, exc)
                self._end_if_opened(operation)
            finally:
                with self._lock:
                    self._busy = None
                self._emit(Busy(None))

        self._spawn(run)
        return True

    def _end_if_opened(self, operation: str) -> None:
        """An unlock or join that failed once the manifest had opened ends the session.

        Then, as after Lock, nothing of it may stay: the node is stopped and the view
        replaces the process (it shows the failure again in the new one).
        """
        if operation not in ("unlock", "join") or self.manifest is not None:
            return
        if self._passphrase is None:  # nothing opened (a wrong passphrase): nothing to end
            return
        self._end_session()
        try:
            self._stop_node()
        except Exception as exc:  # shown like any failure
            self._fail("lock", exc)
        self._emit(Locked())

    def _fail(self, operation: str, exc: BaseException) -> None:
        failure = Failure.of(exc)
        if isinstance(exc, Cancelled):
            self._emit(Activity(_("Cancelled: the last complete snapshot is unchanged")))
            return
        self._emit(Activity(failure.line))
        self._emit(Failed(failure, operation))

    def _say(self, line: str) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    @property
    def busy(self) -> str | None:
        return self._busy

    @property
    def unlocked(self) -> bool:
        return self.manifest is not None

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Join every worker started so far (tests; the app's exit)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _client_now(self) -> Client:
        if self._client is None:
            self._client = self._client_factory(self.config)
        return self._client

    # --- unlocking -------------------------------------------------------------------
    def unlock(self, *, passphrase: str, path: Path | None = None, text: str | None = None) -> bool:
        """Open a manifest file, or pasted armored text, with ``passphrase``; then use it."""
        generation = self._generation

        def work() -> None:
            self._emit(Activity(_("Unlocking… (deriving the key takes a few seconds)")))
            if text is not None and text.strip():
                data = text.strip().encode() + b"\n"
                source = None
            elif path is not None:
                data = read_limited(path, error=NotSealedError)
                source = path
            else:
                raise ManifestInvalidError("no manifest: choose a file or paste its text")
            self._passphrase = None
            opened = open_sealed(data, passphrase)
            if not self._current(generation):
                return
            self._passphrase = passphrase
            target = self.config.manifest_path or source
            pending = _Pending(opened, data, source, target)
            self._pending = pending
            if target is not None and not _same_file(source, target):
                if target.exists():
                    self._emit(AskReplace(target))
                    return
                self._install(pending)
            else:
                self.manifest_path = target
            self._use(pending, generation)

        return self._exclusive("unlock", work)

    def _install(self, pending: _Pending) -> None:
        assert pending.target is not None  # noqa: S101 - callers checked
        # htb join FILE's writer: the person was asked before it replaces another.
        placing.install(pending.data, pending.target, replace=True)
        self.manifest_path = pending.target

    def answer_replace(self, replace_it: bool) -> bool:
        """The person's answer to :class:`AskReplace`."""
        pending = self._pending
        generation = self._generation
        if pending is None:
            return False

        def work() -> None:
            if not self._current(generation):
                return
            if replace_it:
                self._install(pending)
            else:
                # Used from where it was opened; a pasted one has no place for its backupdb.
                self.manifest_path = pending.source
            self._use(pending, generation)

        return self._exclusive("unlock", work)

    def _use(self, pending: _Pending, generation: int) -> None:
        """Go on with an opened manifest: an invitation asks for her passphrase first."""
        if pending.opened.manifest.is_invitation:
            if self.manifest_path is None:
                self._pending = None
                raise ManifestInvalidError(
                    "this invitation must be saved to become yours: set HTB_MANIFEST, "
                    "or open it from a file"
                )
            self._emit(Activity(_("This is an invitation: choose your own passphrase")))
            self._emit(AskNewPassphrase())
            return
        self._pending = None
        self._emit(Activity(_("Starting the node…")))
        manifest = pending.opened.manifest
        tor = session.tor_settings(manifest, self.config.socks_port)
        session.start(self._client_now(), manifest, self.manifest_path, tor, wait=self._wait)
        self._unlocked(manifest, generation)

    def join(self, new_passphrase: str) -> bool:
        """Make the pending invitation hers under ``new_passphrase`` (slow: creates backups)."""
        pending = self._pending
        generation = self._generation

        def work() -> None:
            if pending is None or self.manifest_path is None:
                raise ManifestInvalidError("no invitation to join: unlock it first")
            pw.check(new_passphrase)
            self._emit(Activity(_("Creating your backups on the grid…")))
            tor = session.tor_settings(pending.opened.manifest, self.config.socks_port)
            full = session.join(
                self._client_now(),
                pending.opened,
                new_passphrase,
                self.manifest_path,
                tor,
                kdf=self._kdf,
                wait=self._wait,
            )
            if not self._current(generation):
                self._stop_started()
                return
            self._pending = None
            self._passphrase = new_passphrase
            self._unlocked(full, generation)

        return self._exclusive("join", work)

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation

    def _stop_started(self) -> None:
        """A node this ended session started: stopped again, its directory deleted."""
        if self._client is not None:
            session.stop(self._client)

    def _unlocked(self, manifest: Manifest, generation: int) -> None:
        if not self._current(generation):  # locked or closed meanwhile
            self._stop_started()
            return
        self.manifest = manifest
        rows = tuple(BackupRow(e.local, e.target, _("unknown")) for e in manifest.backups)
        self._emit(Unlocked(rows))
        self._emit(Activity(_("Unlocked")))
        self._refresh()
        self._poll()

    # --- status and the list of backups ------------------------------------------------
    def poll_status(self) -> None:
        """Read the node's status in a worker (the view calls this every few seconds)."""
        with self._lock:
            if self._polling or self.manifest is None:
                return
            self._polling = True
        self._spawn(self._poll)

    def _poll(self) -> None:
        try:
            client = self._client
            if client is None:
                return
            status = client.status()
            if status.running:
                text = status_text(status)
            else:
                text = _("The node is not running: lock and unlock again")
            self._emit(StatusLine(text, status.can_upload))
        except Exception as exc:  # a poll failing is shown, not raised
            self._emit(StatusLine(Failure.of(exc).line, False))
        finally:
            with self._lock:
                self._polling = False

    def refresh_backups(self) -> None:
        self._spawn(self._refresh)

    def _refresh(self) -> None:
        manifest, client = self.manifest, self._client
        if manifest is None or client is None:
            return
        rows = []
        latest: list[str] = []
        for entry in manifest.backups:
            try:
                names = ops.snapshots(client, entry, wait=self._wait)
            except Exception:  # shown as unknown; the status line says why
                rows.append(BackupRow(entry.local, entry.target, _("unknown")))
                continue
            last = names[-1] if names else None
            latest.extend(n for n in [last] if n is not None)
            rows.append(BackupRow(entry.local, entry.target, describe_time(last)))
        newest = max(latest, key=lambda n: session.snapshot_time(n) or n, default=None)
        self._emit(BackupsChanged(tuple(rows), describe_time(newest)))

    # --- backup ---------------------------------------------------------------------
    def backup(self) -> bool:
        """Back up every entry of the manifest, with progress; :meth:`cancel` stops it."""
        manifest, client = self.manifest, self._client
        if manifest is None or client is None:
            return False

        def work() -> None:
            self._emit(Activity(_("Backing up…")))
            entries = manifest.backups
            tracker = ProgressTracker.walk(entries)
            self._emit(tracker.snapshot)

            def say(line: str) -> None:
                self._say(line)
                tracker.said(line)

            def progress(line: str) -> None:
                if self._cancel.is_set():
                    raise Cancelled()
                if tracker.feed(line):
                    self._emit(tracker.snapshot)

            session.backup(
                client,
                manifest,
                self.manifest_path,
                entries,
                say=say,
                progress=progress,
                wait=self._wait,
            )
            final = tracker.snapshot
            self._emit(replace(final, files_done=final.files_total, bytes_done=final.bytes_total))
            self._refresh()  # the new snapshot in the list before the line says done
            self._emit(
                Activity(
                    ngettext(
                        "Backup done: {n} file", "Backup done: {n} files", final.files_total
                    ).format(n=final.files_total)
                )
            )

        return self._exclusive("backup", work)

    def cancel(self) -> None:
        """Stop the running backup (or restore) at its next line of progress."""
        self._cancel.set()
        if self._busy is not None:
            self._emit(Activity(_("Cancelling…")))

    # --- restore ---------------------------------------------------------------------
    def list_snapshots(self, entry: int) -> None:
        manifest, client = self.manifest, self._client
        if manifest is None or client is None:
            return

        def work() -> None:
            try:
                names = ops.snapshots(client, manifest.backups[entry], wait=self._wait)
            except Exception as exc:  # shown like any failure
                self._fail("snapshots", exc)
                return
            self._emit(SnapshotList(entry, tuple(reversed(names))))

        self._spawn(work)

    def restore(
        self, entry: int, snapshot: str | None, folder: Path, *, overwrite: bool = False
    ) -> bool:
        """Restore one backup into ``folder``, verified, as ``htb restore`` does.

        ``folder`` takes the place of the entry's own local folder; with
        ``overwrite``, what is there is kept aside (ops.restore), never deleted.
        """
        manifest, client = self.manifest, self._client
        if manifest is None or client is None:
            return False

        def work() -> None:
            self._emit(Activity(_("Restoring…")))
            target = replace(manifest.backups[entry], local=str(folder))
            items = 0

            def progress(_line: str) -> None:
                nonlocal items
                if self._cancel.is_set():
                    raise Cancelled("cancelled: nothing was restored")
                items += 1
                self._emit(RestoreProgress(items))

            done = restore.restore(
                client,
                [target],
                snapshot=snapshot,
                overwrite=overwrite,
                say=self._say,
                progress=progress,
                wait=self._wait,
            )
            self._emit(RestoreFinished(len(done)))
            self._emit(
                Activity(
                    ngettext(
                        "Restored and verified {n} folder",
                        "Restored and verified {n} folders",
                        len(done),
                    ).format(n=len(done))
                )
            )

        return self._exclusive("restore", work)

    # --- copies for friends ------------------------------------------------------------
    def make_copy(self) -> None:
        manifest, secret = self.manifest, self._passphrase
        if manifest is None or secret is None:
            return

        def work() -> None:
            try:
                copy = session.export(manifest, secret, kdf=self._kdf)
                try:
                    png: bytes | None = session.qr_png(
                        copy.armored,
                        hint=_("give the text or a file instead"),
                        max_pixels=QR_MAX_PIXELS,
                    )
                    note = ""
                except ManifestInvalidError as exc:
                    png, note = None, session.one_line(str(exc))
            except Exception as exc:  # shown like any failure
                self._fail("copy", exc)
                return
            self._copy = copy.armored
            self._emit(CopyReady(copy.armored, png, note))

        self._spawn(work)

    def save_copy(self, path: Path) -> None:
        """Write the armored copy to ``path`` (a USB stick), mode 0600."""
        text = self._copy

        def work() -> None:
            try:
                if text is None:
                    raise ManifestInvalidError("no copy to save yet")
                write_atomic(path, text.encode(), 0o600)
            except Exception as exc:  # shown like any failure
                self._fail("save", exc)
                return
            self._emit(Saved(path))
            self._emit(Activity(_("Saved a copy to {path}").format(path=path)))

        self._spawn(work)

    # --- locking ---------------------------------------------------------------------
    def lock(self) -> None:
        """Stop any operation and the node (its directory is deleted); forget the manifest."""
        self._end_session()

        def work() -> None:
            running = [t for t in self._threads if t is not threading.current_thread()]
            for thread in running:
                thread.join(self.lock_wait)
            try:
                self._stop_node()
            except Exception as exc:  # shown like any failure
                self._fail("lock", exc)
            self._emit(Locked())
            self._emit(Activity(_("Locked")))

        self._spawn(work)

    def _end_session(self) -> None:
        with self._lock:
            self._generation += 1
        self._cancel.set()

    def _stop_node(self) -> None:
        client = self._client
        self.manifest = None
        self.manifest_path = None
        self._pending = None
        self._passphrase = None
        self._copy = None
        if client is not None:
            session.stop(client)

    def shutdown(self, timeout: float = 60.0) -> None:
        """At exit: cancel, wait for the workers, stop the node (blocks the caller)."""
        self._end_session()
        self.wait_idle(timeout)
        self._stop_node()


def _same_file(a: Path | None, b: Path) -> bool:
    if a is None:
        return False
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False
