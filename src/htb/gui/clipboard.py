"""The copy for a friend on the clipboard: taken off at Lock, at Quit, and after a minute.

On Tails the clipboard is shared with every app, the Tor Browser's pages
included. So the app remembers the text it put there and, at Lock, at Quit and
:data:`CLEAR_AFTER_SECONDS` after putting it, replaces it with nothing if (and only
if) the clipboard still holds that text: what the person copied since is hers.

Clearing is writing an empty text, not releasing the clipboard: GNOME (mutter's
clipboard manager, src/core/meta-clipboard-manager.c) keeps a copy of the text an
app offers and offers it again when that app releases the clipboard or exits.
GTK-free: the view gives it GTK's clipboard and GLib's timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

CLEAR_AFTER_SECONDS = 60


class Board(Protocol):
    """The system clipboard, as the view reaches it."""

    def read(self) -> str | None:
        """The text it holds now, if this app put it there (None: none, or another's)."""

    def write(self, text: str) -> None:
        """Put ``text`` there (this app becomes its owner)."""


Schedule = Callable[[float, Callable[[], None]], object]


class ClipboardGuard:
    """Puts text on the clipboard, and takes it off again while it is still there."""

    def __init__(self, board: Board, schedule: Schedule) -> None:
        self._board = board
        self._schedule = schedule
        self._ours: str | None = None
        self._serial = 0  # each put's own timer: an older one never clears a newer copy

    @property
    def holds_ours(self) -> bool:
        """Whether text this app put there may still be on the clipboard."""
        return self._ours is not None

    def put(self, text: str) -> None:
        self._board.write(text)
        self._ours = text
        self._serial += 1
        serial = self._serial
        self._schedule(CLEAR_AFTER_SECONDS, lambda: self._expire(serial))

    def _expire(self, serial: int) -> None:
        if serial == self._serial:
            self.clear()

    def clear(self) -> bool:
        """Empty the clipboard if it still holds what this app put there; True if it did."""
        ours, self._ours = self._ours, None
        if ours is None or self._board.read() != ours:
            return False  # nothing of ours, or someone else's text since: never touched
        self._board.write("")
        return True
