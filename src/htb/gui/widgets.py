"""GTK 3 helpers: every interactive widget gets an accessible name (the tests find it by it).

Importing this module loads GTK: only :func:`htb.gui.app.main` does, never ``import htb``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import Gdk, GdkPixbuf, GLib, Gtk  # noqa: E402

from htb.gui.events import Failure  # noqa: E402
from htb.gui.i18n import _  # noqa: E402

__all__ = ["GLib", "Gdk", "GdkPixbuf", "Gtk"]


def named(widget: Any, name: str) -> Any:
    """Give ``widget`` its accessible name (what Orca says, what dogtail finds)."""
    widget.get_accessible().set_name(name)
    return widget


def button(label: str, name: str, on_click: Callable[[], None] | None = None) -> Any:
    """A button with a mnemonic (``_Unlock``) and the accessible name ``name``."""
    widget = named(Gtk.Button.new_with_mnemonic(label), name)
    if on_click is not None:
        widget.connect("clicked", lambda _w: on_click())
    return widget


def label(text: str = "", *, name: str | None = None, wrap: bool = True) -> Any:
    widget = Gtk.Label(label=text, xalign=0.0)
    widget.set_line_wrap(wrap)
    widget.set_selectable(False)
    return named(widget, name) if name else widget


def entry(name: str, *, secret: bool = False, text: str = "") -> Any:
    widget = named(Gtk.Entry(), name)
    widget.set_text(text)
    if secret:
        widget.set_visibility(False)
        widget.set_input_purpose(Gtk.InputPurpose.PASSWORD)
    return widget


def mnemonic_label(text: str, target: Any) -> Any:
    """A label whose mnemonic (``_Passphrase``) moves the focus to ``target``."""
    widget = Gtk.Label.new_with_mnemonic(text)
    widget.set_xalign(0.0)
    widget.set_mnemonic_widget(target)
    return widget


def grid() -> Any:
    widget = Gtk.Grid(column_spacing=8, row_spacing=8)
    widget.set_border_width(12)
    return widget


def show_error(parent: Any, failure: Failure) -> None:
    """One error: the CLI's line, and what its exit code means (e.g. exit 3: sealed-file ...)."""
    dialog = Gtk.MessageDialog(
        transient_for=parent,
        modal=True,
        message_type=Gtk.MessageType.ERROR,
        buttons=Gtk.ButtonsType.NONE,
        text=failure.line,
    )
    dialog.format_secondary_text(failure.secondary)
    close = dialog.add_button(_("_Close"), Gtk.ResponseType.CLOSE)
    named(close, _("Close"))
    dialog.set_default_response(Gtk.ResponseType.CLOSE)
    dialog.connect("response", lambda d, _r: d.destroy())
    dialog.show_all()


def ask(parent: Any, question: str, detail: str, yes: str, yes_name: str, no: str) -> bool:
    """A yes/no question (modal, run to its answer); Escape or closing it is no."""
    dialog = Gtk.MessageDialog(
        transient_for=parent,
        modal=True,
        message_type=Gtk.MessageType.QUESTION,
        buttons=Gtk.ButtonsType.NONE,
        text=question,
    )
    dialog.format_secondary_text(detail)
    named(dialog.add_button(no, Gtk.ResponseType.NO), no.replace("_", ""))
    named(dialog.add_button(yes, Gtk.ResponseType.YES), yes_name)
    dialog.set_default_response(Gtk.ResponseType.NO)
    answer = dialog.run()
    dialog.destroy()
    return bool(answer == Gtk.ResponseType.YES)


def choose_path(parent: Any, title: str, action: Any, current: str = "") -> str | None:
    """A file or folder chooser (``action``: Gtk.FileChooserAction); the path, or None."""
    dialog = Gtk.FileChooserDialog(title=title, transient_for=parent, modal=True, action=action)
    dialog.add_button(_("_Cancel"), Gtk.ResponseType.CANCEL)
    ok = _("_Save") if action == Gtk.FileChooserAction.SAVE else _("_Open")
    dialog.add_button(ok, Gtk.ResponseType.ACCEPT)
    dialog.set_default_response(Gtk.ResponseType.ACCEPT)
    if action == Gtk.FileChooserAction.SAVE:
        dialog.set_do_overwrite_confirmation(True)
        if current:
            dialog.set_current_name(current.rsplit("/", 1)[-1])
    elif current:
        dialog.set_filename(current)
    path = dialog.get_filename() if dialog.run() == Gtk.ResponseType.ACCEPT else None
    dialog.destroy()
    return str(path) if path else None


def png_image(png: bytes, name: str) -> Any:
    loader = GdkPixbuf.PixbufLoader.new_with_type("png")
    loader.write(png)
    loader.close()
    return named(Gtk.Image.new_from_pixbuf(loader.get_pixbuf()), name)
