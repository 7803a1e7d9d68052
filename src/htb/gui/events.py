"""What the core tells the view: one small frozen dataclass per kind of news."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from htb import session
from htb.errors import EXIT_MEANINGS
from htb.gui.i18n import _


# --- events --------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """A failure as a person sees it: the CLI's one line, and what its exit code means."""

    line: str
    code: int

    @property
    def meaning(self) -> str:
        meaning = EXIT_MEANINGS.get(self.code)
        return _(meaning) if meaning is not None else _("error")

    @property
    def secondary(self) -> str:
        return _("exit {code}: {meaning}").format(code=self.code, meaning=self.meaning)

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(*session.describe_error(exc))


@dataclass(frozen=True)
class BackupRow:
    local: str
    target: str  # alias:path
    last: str  # the last snapshot's time, or "never"/"unknown"


@dataclass(frozen=True)
class Activity:
    """The current operation's one-line state."""

    text: str


@dataclass(frozen=True)
class Failed:
    failure: Failure
    operation: str


@dataclass(frozen=True)
class Busy:
    """Which long operation runs now ("unlock", "backup", ...), or None."""

    operation: str | None


@dataclass(frozen=True)
class AskReplace:
    """Something else is installed at ``path``: answer with :meth:`Core.answer_replace`."""

    path: Path


@dataclass(frozen=True)
class AskNewPassphrase:
    """The manifest is an invitation: answer with :meth:`Core.join` (or :meth:`Core.lock`)."""


@dataclass(frozen=True)
class Unlocked:
    rows: tuple[BackupRow, ...]


@dataclass(frozen=True)
class StatusLine:
    text: str
    can_backup: bool


@dataclass(frozen=True)
class BackupsChanged:
    rows: tuple[BackupRow, ...]
    last_backup: str


@dataclass(frozen=True)
class BackupProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return min(1.0, self.files_done / self.files_total) if self.files_total else 1.0

    @property
    def text(self) -> str:
        return _("{done} of {total} files, {x} of {y} MB").format(
            done=self.files_done,
            total=self.files_total,
            x=f"{self.bytes_done / 1e6:.1f}",
            y=f"{self.bytes_total / 1e6:.1f}",
        )


@dataclass(frozen=True)
class RestoreProgress:
    items: int  # files and folders copied so far


@dataclass(frozen=True)
class SnapshotList:
    entry: int
    names: tuple[str, ...]  # latest first


@dataclass(frozen=True)
class RestoreFinished:
    folders: int


@dataclass(frozen=True)
class CopyReady:
    armored: str
    png: bytes | None  # None: too large for one QR code (``qr_note`` says so)
    qr_note: str


@dataclass(frozen=True)
class Saved:
    path: Path


@dataclass(frozen=True)
class Locked:
    pass


Event = (
    Activity
    | Failed
    | Busy
    | AskReplace
    | AskNewPassphrase
    | Unlocked
    | StatusLine
    | BackupsChanged
    | BackupProgress
    | RestoreProgress
    | SnapshotList
    | RestoreFinished
    | CopyReady
    | Saved
    | Locked
)
Listener = Callable[[Event], None]
