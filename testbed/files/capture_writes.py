#!/usr/bin/python3
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST ONLY: keep everything written under some directories, for a search afterwards.

    capture_writes.py [--detach] [--lifetime SECONDS] CAPTURE_DIR ROOT [ROOT ...]

Ansible deletes its temporary files at the end of each task, and keeping them
(ANSIBLE_KEEP_REMOTE_FILES) turns pipelining off, which is what is to be proven.
So this watches each ROOT and its subdirectories with inotify and, as soon as a
file appears, hard-links it into CAPTURE_DIR: the link keeps the file's content
(whatever is written to it later, and after the original is deleted or renamed
into place elsewhere). On another filesystem (a tmpfs /tmp) it copies the file
when it is closed after writing instead. Every file seen is one JSON line in
CAPTURE_DIR/index.jsonl: {"path", "kept" (the name in CAPTURE_DIR, or null if the
file was gone before it could be kept), "how"}, and {"moved", "to"} for a file
renamed within the roots (kept under its new name); an inotify queue overflow is
a line {"overflow": true}: the capture is then incomplete. Python's standard
library only (the test bed's containers and the controller run it as it is).
CAPTURE_DIR/ready holds its PID once every ROOT is watched; SIGTERM ends it, and so
does --lifetime's end (a run that never reaches its search leaves none behind).
--detach runs it in the background, its output to /dev/null.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import signal
import stat
import struct
import sys
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
IN_CLOEXEC = 0o2000000
MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
EVENT = struct.Struct("iIII")


class Capture:
    def __init__(self, capture_dir: Path, roots: list[Path]) -> None:
        self.dir = capture_dir
        self.roots = roots
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.fd = libc.inotify_init1(IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.watches: dict[int, Path] = {}
        self.kept: dict[tuple[int, int], str] = {}  # (dev, inode) -> name in the capture
        self.copies: dict[Path, str] = {}  # copied files, recopied at each close
        self.moving: dict[int, Path] = {}  # rename cookie -> the name it left
        self.count = 0
        self.index = (capture_dir / "index.jsonl").open("a", encoding="utf-8")
        self.device = capture_dir.stat().st_dev

    def log(self, entry: dict[str, object]) -> None:
        self.index.write(json.dumps(entry) + "\n")
        self.index.flush()

    def watch_tree(self, top: Path) -> None:
        """Watch top and every directory under it, keeping the files already there
        (created between the directory's creation and its watch)."""
        if top == self.dir or self.dir in top.parents:
            return
        wd = self._add(self.fd, os.fsencode(top), MASK)
        if wd < 0:
            if ctypes.get_errno() in (errno.ENOENT, errno.ENOTDIR):
                return  # gone already
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {top}")
        self.watches[wd] = top
        try:
            entries = list(os.scandir(top))
        except FileNotFoundError:
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                self.watch_tree(path)
            elif entry.is_file(follow_symlinks=False):
                self.keep(path, closed=False)

    def keep(self, path: Path, closed: bool) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not closed:
                self.log({"path": str(path), "kept": None, "how": "gone"})
            return
        if not stat.S_ISREG(st.st_mode):
            return
        key = (st.st_dev, st.st_ino)
        if st.st_dev == self.device:
            if key in self.kept:
                return
            self.count += 1
            name = f"{self.count:06d}-{path.name}"
            try:
                os.link(path, self.dir / name, follow_symlinks=False)
            except FileNotFoundError:
                self.log({"path": str(path), "kept": None, "how": "gone"})
                return
            self.kept[key] = name
            self.log({"path": str(path), "kept": name, "how": "link"})
            return
        # Another filesystem: copy now, and again each time it is closed after writing.
        name = self.copies.get(path)
        if name is None:
            self.count += 1
            name = self.copies[path] = f"{self.count:06d}-{path.name}"
            self.log({"path": str(path), "kept": name, "how": "copy"})
        try:
            shutil.copyfile(path, self.dir / name, follow_symlinks=False)
        except FileNotFoundError:
            if not closed:
                self.log({"path": str(path), "kept": None, "how": "gone"})

    def run(self) -> None:
        for root in self.roots:
            self.watch_tree(root)
        (self.dir / "ready").write_text(f"{os.getpid()}\n")
        while True:
            data = os.read(self.fd, 64 * 1024)
            offset = 0
            while offset < len(data):
                wd, mask, cookie, length = EVENT.unpack_from(data, offset)
                raw = data[offset + EVENT.size : offset + EVENT.size + length]
                offset += EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    self.log({"overflow": True})
                    continue
                if mask & IN_IGNORED:
                    self.watches.pop(wd, None)
                    continue
                parent = self.watches.get(wd)
                if parent is None:
                    continue
                path = parent / os.fsdecode(raw.rstrip(b"\0"))
                if mask & IN_ISDIR:
                    if mask & (IN_CREATE | IN_MOVED_TO):
                        self.watch_tree(path)
                    continue
                if mask & IN_MOVED_FROM:
                    self.moving[cookie] = path
                    continue
                self.keep(path, closed=bool(mask & IN_CLOSE_WRITE))
                if mask & IN_MOVED_TO and cookie in self.moving:
                    # Renamed within the roots (a file gone before it was linked
                    # under its first name is kept under this one).
                    self.log({"moved": str(self.moving.pop(cookie)), "to": str(path)})


def detach() -> None:
    """A daemon: the caller (an Ansible task) returns at once and waits for no pipe."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--lifetime", type=int, default=0)
    parser.add_argument("capture_dir", type=Path)
    parser.add_argument("roots", type=Path, nargs="+")
    args = parser.parse_args()
    args.capture_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for root in args.roots:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if args.detach:
        detach()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
    signal.alarm(args.lifetime)
    Capture(args.capture_dir.resolve(), [r.resolve() for r in args.roots]).run()


if __name__ == "__main__":
    main()
