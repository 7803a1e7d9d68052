"""The app's dialogs: her own passphrase, Restore, Copy for a friend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from htb.gui import core
from htb.gui.clipboard import CLEAR_AFTER_SECONDS, ClipboardGuard
from htb.gui.core import Core
from htb.gui.events import CopyReady, RestoreFinished, RestoreProgress, Saved, SnapshotList
from htb.gui.i18n import _, ngettext
from htb.gui.widgets import (
    Gtk,
    ask,
    button,
    choose_path,
    entry,
    grid,
    label,
    mnemonic_label,
    named,
    png_image,
)


def _dialog(parent: Any, title: str) -> Any:
    """A modal dialog whose Escape (and its window's close button) closes it."""
    dialog = Gtk.Dialog(title=title, transient_for=parent, modal=True)
    dialog.set_default_size(520, -1)
    return dialog


class PassphraseDialog:
    """'Choose your own passphrase': an invitation's passphrase is the operator's."""

    def __init__(self, parent: Any, app_core: Core) -> None:
        self.core = app_core
        self.dialog = _dialog(parent, _("Choose your own passphrase"))
        body = grid()
        intro = label(
            _(
                "This is an invitation from the person who runs your grid: they know its "
                "passphrase. Choose your own; your backups will be sealed under it. Write it "
                "down and keep it safe: without it nobody can restore them."
            )
        )
        body.attach(intro, 0, 0, 2, 1)
        self.new = entry(_("New passphrase"), secret=True)
        self.repeat = entry(_("Repeat the new passphrase"), secret=True)
        self.repeat.set_activates_default(True)
        body.attach(mnemonic_label(_("_New passphrase"), self.new), 0, 1, 1, 1)
        body.attach(self.new, 1, 1, 1, 1)
        body.attach(mnemonic_label(_("_Repeat the new passphrase"), self.repeat), 0, 2, 1, 1)
        body.attach(self.repeat, 1, 2, 1, 1)
        self.new.set_hexpand(True)
        body.attach(button(_("_Suggest one"), _("Suggest one"), self.suggest), 1, 3, 1, 1)
        self.problem = label(name=_("Passphrase problem"))
        body.attach(self.problem, 0, 4, 2, 1)
        self.dialog.get_content_area().add(body)
        cancel = self.dialog.add_button(_("_Cancel"), Gtk.ResponseType.CANCEL)
        named(cancel, _("Cancel"))
        ok = self.dialog.add_button(_("Make it _mine"), Gtk.ResponseType.OK)
        named(ok, _("Make it mine"))
        self.dialog.set_default_response(Gtk.ResponseType.OK)
        self.dialog.connect("response", self._response)
        self.dialog.show_all()

    def suggest(self) -> None:
        suggested = core.suggest_passphrase()
        for widget in (self.new, self.repeat):
            widget.set_text(suggested)
            widget.set_visibility(True)  # shown, so that she can write it down
        self.problem.set_text(_("Write this passphrase down now, and keep it safe."))

    def _response(self, _dialog: Any, response: int) -> None:
        if response != Gtk.ResponseType.OK:
            self.dialog.destroy()
            self.core.lock()  # nothing joined: forget the invitation and its passphrase
            return
        new, repeat = self.new.get_text(), self.repeat.get_text()
        problem = core.check_new_passphrase(new, repeat)
        if problem is not None:
            self.problem.set_text(problem)
            return
        self.new.set_text("")
        self.repeat.set_text("")
        self.dialog.destroy()
        self.core.join(new)


class RestoreDialog:
    """'Restore': a backup, one of its snapshots (latest first), a folder to restore into."""

    def __init__(self, parent: Any, app_core: Core) -> None:
        self.core = app_core
        self.parent = parent
        self.snapshots: tuple[str, ...] = ()
        self.dialog = _dialog(parent, _("Restore"))
        body = grid()
        self.backup = named(Gtk.ComboBoxText(), _("Backup"))
        manifest = app_core.manifest
        self.entries = manifest.backups if manifest is not None else []
        for e in self.entries:
            self.backup.append_text(f"{e.local} ({e.target})")
        self.snapshot = named(Gtk.ComboBoxText(), _("Snapshot"))
        self.folder = entry(_("Restore to folder"))
        self.folder.set_hexpand(True)
        self.folder.set_activates_default(True)
        choose = button(_("_Choose…"), _("Choose…"), self.choose)
        rows = [
            (mnemonic_label(_("_Backup"), self.backup), self.backup),
            (mnemonic_label(_("_Snapshot"), self.snapshot), self.snapshot),
            (mnemonic_label(_("Restore to _folder"), self.folder), self.folder),
        ]
        for row, (caption, widget) in enumerate(rows):
            body.attach(caption, 0, row, 1, 1)
            body.attach(widget, 1, row, 1, 1)
        body.attach(choose, 2, 2, 1, 1)
        self.progress = named(Gtk.ProgressBar(show_text=True), _("Restore progress"))
        body.attach(self.progress, 0, 3, 3, 1)
        self.result = label(name=_("Restore result"))
        body.attach(self.result, 0, 4, 3, 1)
        self.dialog.get_content_area().add(body)
        named(self.dialog.add_button(_("_Close"), Gtk.ResponseType.CLOSE), _("Close"))
        self.restore_button = named(
            self.dialog.add_button(_("_Restore"), Gtk.ResponseType.OK), _("Restore")
        )
        self.dialog.set_default_response(Gtk.ResponseType.OK)
        self.dialog.connect("response", self._response)
        self.backup.connect("changed", lambda _w: self._backup_changed())
        if self.entries:
            self.backup.set_active(0)
        self.dialog.show_all()

    def _backup_changed(self) -> None:
        index = self.backup.get_active()
        if index < 0:
            return
        self.folder.set_text(self.entries[index].local)
        self.snapshot.remove_all()
        self.restore_button.set_sensitive(False)
        self.result.set_text(_("Reading the snapshots…"))
        self.core.list_snapshots(index)

    def choose(self) -> None:
        path = choose_path(
            self.dialog,
            _("Restore to folder"),
            Gtk.FileChooserAction.SELECT_FOLDER,
            self.folder.get_text(),
        )
        if path:
            self.folder.set_text(path)

    def on_event(self, event: object) -> None:
        if isinstance(event, SnapshotList) and event.entry == self.backup.get_active():
            self.snapshots = event.names
            for name in event.names:
                self.snapshot.append_text(core.describe_time(name))
            if event.names:
                self.snapshot.set_active(0)
                self.result.set_text("")
            else:
                self.result.set_text(_("No snapshot of this backup yet: back it up first."))
            self.restore_button.set_sensitive(bool(event.names))
        elif isinstance(event, RestoreProgress):
            self.progress.pulse()
            self.progress.set_text(_("{n} files restored").format(n=event.items))
        elif isinstance(event, RestoreFinished):
            self.progress.set_fraction(1.0)
            self.result.set_text(
                ngettext(
                    "Restored and verified {n} folder",
                    "Restored and verified {n} folders",
                    event.folders,
                ).format(n=event.folders)
            )

    def _response(self, _dialog: Any, response: int) -> None:
        if response != Gtk.ResponseType.OK:
            self.dialog.destroy()
            return
        index, chosen = self.backup.get_active(), self.snapshot.get_active()
        text = self.folder.get_text().strip()
        if index < 0 or chosen < 0 or not text:
            self.result.set_text(_("Choose a backup, a snapshot and a folder."))
            return
        folder = Path(text).expanduser()
        overwrite = False
        if core.needs_overwrite(folder):
            overwrite = ask(
                self.dialog,
                _("Overwrite {folder}?").format(folder=folder),
                _(
                    "It is not empty. What is there now is kept aside, beside it "
                    "(…htb-previous-<time>), not deleted."
                ),
                _("_Overwrite"),
                _("Overwrite"),
                _("_Cancel"),
            )
            if not overwrite:
                return
        self.result.set_text(_("Restoring…"))
        self.progress.set_fraction(0.0)
        self.core.restore(index, self.snapshots[chosen], folder, overwrite=overwrite)


class CopyDialog:
    """'Copy for a friend': the armored copy, its QR code, and saving it (a USB stick)."""

    def __init__(self, parent: Any, app_core: Core, clipboard: ClipboardGuard) -> None:
        self.core = app_core
        self.clipboard = clipboard
        self.dialog = _dialog(parent, _("Copy for a friend"))
        self.dialog.set_default_size(980, 520)
        body = grid()
        intro = label(
            _(
                "A copy of your manifest, sealed under your passphrase, for a friend you "
                "trust: with it and the passphrase your backups can be restored if this "
                "computer is lost. Give the passphrase separately."
            )
        )
        body.attach(intro, 0, 0, 3, 1)
        self.text = named(Gtk.TextView(), _("Armored copy"))
        self.text.set_editable(False)
        self.text.set_monospace(True)
        self.text.set_accepts_tab(False)
        self.text.get_buffer().set_text(_("Preparing…"))
        scroller = Gtk.ScrolledWindow(hexpand=True, vexpand=True)
        scroller.set_min_content_height(160)
        scroller.add(self.text)
        body.attach(scroller, 0, 1, 3, 1)
        self.clipboard_button = button(
            _("Copy to _clipboard"), _("Copy to clipboard"), self.to_clipboard
        )
        body.attach(self.clipboard_button, 0, 2, 1, 1)
        self.path = entry(_("Save to"))
        self.path.set_hexpand(True)
        body.attach(mnemonic_label(_("Save _to"), self.path), 0, 3, 1, 1)
        body.attach(self.path, 1, 3, 1, 1)
        body.attach(button(_("C_hoose…"), _("Choose…"), self.choose), 2, 3, 1, 1)
        self.save_button = button(_("_Save"), _("Save"), self.save)
        body.attach(self.save_button, 1, 4, 1, 1)
        self.result = label(name=_("Copy result"))
        body.attach(self.result, 0, 5, 3, 1)
        # Beside the text, not below it: the dialog must fit a laptop's screen.
        self.qr_box = Gtk.Box(valign=Gtk.Align.START)
        body.attach(self.qr_box, 3, 0, 1, 6)
        self.dialog.get_content_area().add(body)
        named(self.dialog.add_button(_("_Close"), Gtk.ResponseType.CLOSE), _("Close"))
        self.dialog.connect("response", lambda d, _r: d.destroy())
        for widget in (self.clipboard_button, self.save_button):
            widget.set_sensitive(False)
        self.dialog.show_all()
        app_core.make_copy()

    def on_event(self, event: object) -> None:
        if isinstance(event, CopyReady):
            self.text.get_buffer().set_text(event.armored)
            if event.png is not None:
                self.qr_box.add(png_image(event.png, _("QR code")))
            else:
                self.qr_box.add(label(event.qr_note, name=_("QR code")))
            self.qr_box.show_all()
            for widget in (self.clipboard_button, self.save_button):
                widget.set_sensitive(True)
        elif isinstance(event, Saved):
            self.result.set_text(
                _("Saved to {path} (only you can read the file)").format(path=event.path)
            )

    def to_clipboard(self) -> None:
        buffer = self.text.get_buffer()
        text = buffer.get_text(buffer.get_start_iter(), buffer.get_end_iter(), False)
        self.clipboard.put(text)
        self.result.set_text(
            _(
                "Copied: paste it where your friend will find it. It leaves the clipboard "
                "in {n} seconds, or when you lock or close the app."
            ).format(n=CLEAR_AFTER_SECONDS)
        )

    def choose(self) -> None:
        path = choose_path(
            self.dialog, _("Save to"), Gtk.FileChooserAction.SAVE, "manifest-copy.htbm"
        )
        if path:
            self.path.set_text(path)

    def save(self) -> None:
        text = self.path.get_text().strip()
        if not text:
            self.result.set_text(_("Choose where to save it (a USB stick)."))
            return
        self.core.save_copy(Path(text).expanduser())
