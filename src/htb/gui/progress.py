"""Backup progress: files and bytes done of the total.

The total comes from walking each entry's local folder with its excludes
(:func:`htb.session.local_totals`); what is done, from the client's per-file lines.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from htb import session
from htb.gui.events import BackupProgress
from htb.manifest import BackupEntry

# `tahoe backup -v` (allmydata/scripts/tahoe_backup.py) prints "uploading '<abs path>'.."
# or "skipping '<abs path>'.." once per file; the in-memory grid "uploading <rel path>".
_FILE_LINE = re.compile(r"(?:uploading|skipping) (.+?)(?:\.\.)?")
# ops.backup says this before each entry.
_ENTRY_LINE = re.compile(r"\[(\d+)/\d+\] backing up ")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    return text


@dataclass
class ProgressTracker:
    """Files and bytes done of the total, from the local walk and tahoe's per-file lines."""

    entries: Sequence[BackupEntry]
    totals: list[dict[str, int]]  # per entry: relative path -> size
    current: int = 0
    done: set[tuple[int, str]] = field(default_factory=set)
    bytes_done: int = 0

    @classmethod
    def walk(cls, entries: Sequence[BackupEntry]) -> ProgressTracker:
        totals = [session.local_totals(e) if Path(e.local).is_dir() else {} for e in entries]
        return cls(entries, totals)

    def said(self, line: str) -> None:
        match = _ENTRY_LINE.match(line)
        if match:
            self.current = int(match[1]) - 1

    def feed(self, line: str) -> bool:
        """Count a per-file line; True if it counted a file."""
        match = _FILE_LINE.fullmatch(line.strip())
        if not match or not 0 <= self.current < len(self.entries):
            return False
        path = _unquote(match[1])
        root = self.entries[self.current].local
        if os.path.isabs(path):
            rel = os.path.relpath(path, root)
            if rel.startswith(".."):
                return False
            path = rel
        sizes = self.totals[self.current]
        key = (self.current, path)
        if path not in sizes or key in self.done:
            return False
        self.done.add(key)
        self.bytes_done += sizes[path]
        return True

    @property
    def snapshot(self) -> BackupProgress:
        return BackupProgress(
            len(self.done),
            sum(len(t) for t in self.totals),
            self.bytes_done,
            sum(sum(t.values()) for t in self.totals),
        )
