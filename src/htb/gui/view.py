"""The GTK 3 windows: Unlock, and the main window of an unlocked manifest.

Everything slow runs in :class:`htb.gui.core.Core`'s workers; its events come
back here on the UI thread (``GLib.idle_add``) and only change widgets.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from htb.gui import app as entry_point
from htb.gui import dialogs
from htb.gui.clipboard import ClipboardGuard
from htb.gui.core import Config, Core
from htb.gui.events import (
    Activity,
    AskNewPassphrase,
    AskReplace,
    BackupProgress,
    BackupRow,
    BackupsChanged,
    Busy,
    Event,
    Failed,
    Failure,
    Locked,
    StatusLine,
    Unlocked,
)
from htb.gui.i18n import _
from htb.gui.widgets import (
    Gdk,
    GLib,
    Gtk,
    ask,
    button,
    choose_path,
    entry,
    grid,
    label,
    mnemonic_label,
    named,
    show_error,
)

STATUS_POLL_SECONDS = 5


def _idle_post(callback: Any) -> None:
    """Run ``callback`` on the UI thread, once."""

    def once() -> bool:
        callback()
        return False

    GLib.idle_add(once)


class _Clipboard:
    """GTK's CLIPBOARD selection (the one Ctrl+V pastes), as :class:`htb.gui.clipboard.Board`."""

    def __init__(self) -> None:
        self._clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)

    def read(self) -> str | None:
        # Another app's text is not asked for (it could keep Lock waiting): not ours.
        if Gdk.selection_owner_get(Gdk.SELECTION_CLIPBOARD) is None:
            return None
        text: str | None = self._clipboard.wait_for_text()
        return text

    def write(self, text: str) -> None:
        self._clipboard.set_text(text, -1)


def _after(seconds: float, callback: Any) -> None:
    """Run ``callback`` once on the UI thread after ``seconds``."""

    def once() -> bool:
        callback()
        return False

    GLib.timeout_add_seconds(int(seconds), once)


class UnlockWindow:
    """'Unlock your backups': a manifest file or pasted armored text, and its passphrase."""

    def __init__(self, app: App, *, locked: bool = False) -> None:
        self.app = app
        self.window = Gtk.Window(title=_("Unlock your backups"))
        self.window.set_default_size(560, -1)
        self.window.connect("delete-event", app.on_delete)
        body = grid()
        installed = app.config.manifest_path
        self.path = entry(
            _("Manifest file"),
            text=str(installed) if installed is not None and installed.is_file() else "",
        )
        self.path.set_hexpand(True)
        body.attach(mnemonic_label(_("_Manifest file"), self.path), 0, 0, 1, 1)
        body.attach(self.path, 1, 0, 1, 1)
        body.attach(button(_("_Choose…"), _("Choose…"), self.choose), 2, 0, 1, 1)
        self.text = named(Gtk.TextView(), _("Armored manifest"))
        self.text.set_accepts_tab(False)  # Tab moves on
        self.text.set_monospace(True)
        scroller = Gtk.ScrolledWindow(hexpand=True)
        scroller.set_min_content_height(120)
        scroller.add(self.text)
        body.attach(
            mnemonic_label(_("Or _paste the armored text of a manifest:"), self.text), 0, 1, 3, 1
        )
        body.attach(scroller, 0, 2, 3, 1)
        self.passphrase = entry(_("Passphrase"), secret=True)
        self.passphrase.set_activates_default(True)
        body.attach(mnemonic_label(_("Pass_phrase"), self.passphrase), 0, 3, 1, 1)
        body.attach(self.passphrase, 1, 3, 2, 1)
        self.unlock_button = button(_("_Unlock"), _("Unlock"), self.unlock)
        self.unlock_button.set_can_default(True)
        body.attach(self.unlock_button, 2, 4, 1, 1)
        self.activity = label(_("Locked") if locked else "", name=_("Activity"))
        body.attach(self.activity, 0, 5, 3, 1)
        self.window.add(body)
        self.window.set_default(self.unlock_button)
        self.window.show_all()
        (self.passphrase if self.path.get_text() else self.path).grab_focus()

    def choose(self) -> None:
        path = choose_path(
            self.window, _("Manifest file"), Gtk.FileChooserAction.OPEN, self.path.get_text()
        )
        if path:
            self.path.set_text(path)

    def unlock(self) -> None:
        buffer = self.text.get_buffer()
        text = buffer.get_text(buffer.get_start_iter(), buffer.get_end_iter(), False)
        path = self.path.get_text().strip()
        secret = self.passphrase.get_text()
        self.passphrase.set_text("")  # used once; the core keeps it while unlocked
        if not secret:
            self.activity.set_text(_("Enter the passphrase"))
            return
        self.app.core.unlock(
            passphrase=secret,
            path=Path(path).expanduser() if path else None,
            text=text if text.strip() else None,
        )

    def on_event(self, event: Event) -> None:
        if isinstance(event, Activity):
            self.activity.set_text(event.text)
        elif isinstance(event, Busy):
            self.unlock_button.set_sensitive(event.operation is None)


class MainWindow:
    """'Backups (htb)': status, the manifest's backups, back up, restore, copy, lock."""

    def __init__(self, app: App, rows: tuple[BackupRow, ...]) -> None:
        self.app = app
        self.dialog: Any = None  # the open Restore or Copy dialog, if any
        self.window = Gtk.Window(title=_("Backups (htb)"))
        self.window.set_default_size(720, 420)
        self.window.connect("delete-event", app.on_delete)
        body = grid()
        self.status = label(_("Storage servers: asking the node…"), name=_("Status"))
        self.last = label(_("Last backup: …"), name=_("Last backup"))
        body.attach(self.status, 0, 0, 4, 1)
        body.attach(self.last, 0, 1, 4, 1)
        self.store = Gtk.ListStore(str, str, str)
        self.tree = named(Gtk.TreeView(model=self.store), _("Backups"))
        for i, title in enumerate((_("Folder"), _("Backed up to"), _("Last snapshot"))):
            self.tree.append_column(Gtk.TreeViewColumn(title, Gtk.CellRendererText(), text=i))
        scroller = Gtk.ScrolledWindow(hexpand=True, vexpand=True)
        scroller.add(self.tree)
        body.attach(scroller, 0, 2, 4, 1)
        self.backup_button = button(_("_Back up now"), _("Back up now"), self.backup)
        self.cancel_button = button(_("_Cancel"), _("Cancel"), app.core.cancel)
        self.cancel_button.set_sensitive(False)
        body.attach(self.backup_button, 0, 3, 1, 1)
        body.attach(self.cancel_button, 1, 3, 1, 1)
        self.progress = named(Gtk.ProgressBar(show_text=True), _("Backup progress"))
        self.progress.set_text(" ")
        self.progress.set_hexpand(True)
        body.attach(self.progress, 2, 3, 2, 1)
        body.attach(button(_("_Restore…"), _("Restore…"), self.restore), 0, 4, 1, 1)
        body.attach(
            button(_("Copy for a _friend…"), _("Copy for a friend…"), self.copy), 1, 4, 1, 1
        )
        body.attach(button(_("_Lock"), _("Lock"), app.lock), 3, 4, 1, 1)
        self.activity = label(name=_("Activity"))
        body.attach(self.activity, 0, 5, 4, 1)
        self.window.add(body)
        self._show_rows(rows)
        self.window.show_all()
        # The window may open while the operation that unlocked runs on (its Busy(None)
        # comes after): until then a click would only be refused.
        self.backup_button.set_sensitive(app.core.busy is None)
        self.backup_button.grab_focus()
        self.timer = GLib.timeout_add_seconds(STATUS_POLL_SECONDS, self._poll)

    def backup(self) -> None:
        self.app.core.backup()

    def _poll(self) -> bool:
        self.app.core.poll_status()
        return True

    def _show_rows(self, rows: tuple[BackupRow, ...]) -> None:
        self.store.clear()
        for row in rows:
            self.store.append([row.local, row.target, row.last])

    def restore(self) -> None:
        self.dialog = dialogs.RestoreDialog(self.window, self.app.core)

    def copy(self) -> None:
        self.dialog = dialogs.CopyDialog(self.window, self.app.core, self.app.clipboard)

    def close(self) -> None:
        GLib.source_remove(self.timer)
        if self.dialog is not None:
            self.dialog.dialog.destroy()
        self.window.destroy()

    def on_event(self, event: Event) -> None:
        if self.dialog is not None:
            self.dialog.on_event(event)
        if isinstance(event, Activity):
            self.activity.set_text(event.text)
        elif isinstance(event, Busy):
            idle = event.operation is None
            self.backup_button.set_sensitive(idle)
            self.cancel_button.set_sensitive(event.operation == "backup")
        elif isinstance(event, StatusLine):
            self.status.set_text(event.text)
        elif isinstance(event, BackupsChanged):
            self._show_rows(event.rows)
            self.last.set_text(_("Last backup: {time}").format(time=event.last_backup))
        elif isinstance(event, BackupProgress):
            self.progress.set_fraction(event.fraction)
            self.progress.set_text(event.text)


class App:
    """Which window is shown, and the core's events to it."""

    def __init__(self, config: Config, *, locked: bool = False) -> None:
        self.config = config
        self.core = Core(config, _idle_post, self.on_event)
        self.clipboard = ClipboardGuard(_Clipboard(), _after)
        # The failure that ends a session (an unlock, a join, Lock itself), shown again
        # by the process that replaces this one.
        self.ending: Failure | None = None
        self.main: MainWindow | None = None
        self.unlock: UnlockWindow | None = UnlockWindow(self, locked=locked)

    def _parent(self) -> Any:
        if self.main is not None:
            return self.main.window
        return self.unlock.window if self.unlock is not None else None

    def on_event(self, event: Event) -> None:
        for window in (self.unlock, self.main):
            if window is not None:
                window.on_event(event)
        if isinstance(event, (AskReplace, AskNewPassphrase, Unlocked)):
            self.ending = None  # opened since: an earlier failure (a typo) is over
        if isinstance(event, Failed):
            show_error(self._parent(), event.failure)
            if event.operation in ("unlock", "join", "lock"):
                self.ending = event.failure
        elif isinstance(event, AskReplace):
            replace_it = ask(
                self._parent(),
                _("Replace the manifest at {path}?").format(path=event.path),
                _(
                    "Another manifest is installed there. If you replace it, the one you "
                    "just opened is used from now on; if not, it is used from where it is, "
                    "for this session only."
                ),
                _("_Replace"),
                _("Replace"),
                _("_Keep it"),
            )
            self.core.answer_replace(replace_it)
        elif isinstance(event, AskNewPassphrase):
            dialogs.PassphraseDialog(self._parent(), self.core)
        elif isinstance(event, Unlocked):
            if self.unlock is not None:
                self.unlock.window.destroy()
                self.unlock = None
            if self.main is None:
                self.main = MainWindow(self, event.rows)
        elif isinstance(event, Locked):
            self.relaunch()

    def lock(self) -> None:
        self.core.lock()

    def relaunch(self) -> None:
        """After Lock (the node stopped): our copy off the clipboard, then a fresh process.

        The Unlock window the new process opens takes this one's place.
        """
        self.clipboard.clear()
        try:
            entry_point.relaunch(self.ending)
        except OSError as exc:  # the app's files gone (an upgrade): lock in this process
            print(f"htb-gui: could not start afresh ({exc.strerror})", file=sys.stderr)
        if self.main is not None:
            self.main.close()
            self.main = None
        if self.unlock is None:
            self.unlock = UnlockWindow(self, locked=True)

    def on_delete(self, *_args: object) -> bool:
        self.quit()
        return True  # the windows are destroyed by quitting

    def quit(self) -> None:
        """Closing a window stops the node (its directory is deleted), then the app."""
        for window in (self.main, self.unlock):
            if window is not None:
                window.window.hide()
        self.core.shutdown()
        self.clipboard.clear()
        Gtk.main_quit()


def run(config: Config, *, locked: bool = False, failure: Failure | None = None) -> int:
    # The name Orca, the window list and AT-SPI tests know the app by.
    GLib.set_prgname("htb-gui")
    GLib.set_application_name(_("Backups"))
    app = App(config, locked=locked)
    if failure is not None and app.unlock is not None:
        show_error(app.unlock.window, failure)
    Gtk.main()
    return 0
