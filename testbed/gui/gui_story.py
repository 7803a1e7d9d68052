#!/usr/bin/python3
"""TEST AND DEMO ONLY: drives htb's desktop app through its accessibility tree, as
Tails' own test suite drives Tails' apps (dogtail, AT-SPI), on an X server without
a screen (the client scenario's gui_story.yml, scripts/demo).

Runs as the Tails user inside a session bus (gui-session starts Xvfb and the
accessibility bus). Usage: gui_story.py PHASE CONFIG.json
  first   First use: unlock the invitation, choose a passphrase, back up, save a
          copy for a friend to the USB stick, close.
  return  After the wipe and the reinstall: a wrong passphrase (the error dialog),
          then the friend's copy and his passphrase, replace the reinstalled
          invitation (asked), restore to a new folder, close.
CONFIG names the passphrase files (read here, never on a command line), the paths,
the screenshot directory and the JSON file the timings are written to. Every wait
is on something the app shows, bounded, with the last thing seen in the failure.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gi

gi.require_version("Gdk", "3.0")
from dogtail.config import config as dogtail_config  # noqa: E402
from dogtail.tree import Node, SearchError, root  # noqa: E402
from gi.repository import Gdk  # noqa: E402

dogtail_config.searchCutoffCount = 60  # a second apart: the app may be busy starting
dogtail_config.logDebugToFile = False
dogtail_config.logDebugToStdOut = False
APP = "htb-gui"


def launcher_command(desktop: Path) -> list[str]:
    """What the menu runs: the Exec line of the installed desktop file."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(desktop)
    return shlex.split(entry["Desktop Entry"]["Exec"])


def wait_until(what: str, probe: Callable[[], object], timeout: float) -> object:
    """Poll ``probe`` until it returns something true; fail with what was last seen."""
    end = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < end:
        try:
            last = probe()
        except (SearchError, LookupError, RuntimeError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.5)
    raise SystemExit(f"gui-story: gave up after {timeout:.0f} s waiting for {what} (saw: {last!r})")


class Story:
    def __init__(self, conf: dict[str, str]) -> None:
        self.conf = conf
        self.shots = Path(conf["screenshots"])
        self.shots.mkdir(parents=True, exist_ok=True)
        self.times: dict[str, float] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.app: Node | None = None

    def secret(self, key: str) -> str:
        return Path(self.conf[key]).read_text().strip()

    # --- the app --------------------------------------------------------------
    def launch(self) -> None:
        start = time.monotonic()
        cmd = launcher_command(Path(self.conf["desktop_file"]))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        self.app = wait_until("the app on the accessibility bus", lambda: root.application(APP), 60)
        wait_until("the unlock window", lambda: self.window("Unlock your backups"), 60)
        self.times["first_window"] = round(time.monotonic() - start, 2)

    def window(self, title: str) -> Node | None:
        for child in self.app.children:
            if child.name == title and child.showing:
                return child
        return None

    def until(self, what: str, probe: Callable[[], object], timeout: float) -> object:
        """wait_until, failing at once on an error dialog nobody expected."""

        def checked() -> object:
            alert = self.alert() if self.app is not None else None
            if alert is not None:
                raise SystemExit(f"gui-story: an error dialog: {self.alert_text(alert)}")
            return probe()

        return wait_until(what, checked, timeout)

    def find(self, name: str, role: str | None = None, within: Node | None = None) -> Node:
        where = within or self.app
        return where.child(name=name, roleName=role, showingOnly=True)

    def click(self, name: str, within: Node | None = None) -> None:
        # A button of a question (an alert) is what the story expects there.
        wait = wait_until if within is not None and within.roleName == "alert" else self.until
        node = wait(
            f"a sensitive button '{name}'",
            lambda: (b := self.find(name, "button", within)) and b.sensitive and b,
            120,
        )
        node.doActionNamed("click")

    def type_into(self, name: str, text: str, within: Node | None = None) -> None:
        self.find(name, within=within).text = text

    def activity(self) -> str:
        return self.find("Activity").text or ""

    def wait_activity(self, starts: str, timeout: float) -> str:
        """Wait for the Activity line; an error dialog instead fails at once."""

        def probe() -> str | None:
            alert = self.alert()
            if alert is not None:
                raise SystemExit(f"gui-story: an error dialog: {self.alert_text(alert)}")
            line = self.activity()
            return line if line.startswith(starts) else None

        return str(wait_until(f"'{starts}…' in Activity", probe, timeout))

    def alert(self) -> Node | None:
        for child in self.app.children:
            if child.roleName == "alert" and child.showing:
                return child
        return None

    def alert_text(self, alert: Node) -> str:
        return " / ".join(
            n.name or n.text or ""
            for n in alert.findChildren(lambda n: n.roleName == "label", showingOnly=True)
        )

    def shot(self, name: str, title: str | None = None) -> None:
        """A PNG of one window (its extents on the root window), else of the screen."""
        time.sleep(0.3)  # let GTK draw what the last event changed
        screen = Gdk.get_default_root_window()
        x, y, w, h = 0, 0, screen.get_width(), screen.get_height()
        node = self.window(title) if title else None
        if node is None and title:
            node = self.alert() if title == "alert" else None
        if node is not None:
            # Its own extents only: without a window manager there is no frame, and
            # a dialog lies over its parent.
            (x, y), (w, h) = node.position, node.size
        pixbuf = Gdk.pixbuf_get_from_window(screen, x, y, w, h)
        pixbuf.savev(str(self.shots / f"{name}.png"), "png", [], [])

    def close(self) -> None:
        """Close the main window (the app stops the node) and wait for the app to exit."""
        main = self.window("Backups (htb)")
        if main is not None:
            self.click("Lock", main)
            self.until(
                "the unlock window after Lock", lambda: self.window("Unlock your backups"), 60
            )
        # Locked: the node is stopped and its directory deleted; the app may go.
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise SystemExit("gui-story: the app did not exit within 30 s of SIGTERM") from None

    # --- the phases -----------------------------------------------------------
    def first(self) -> None:
        self.launch()
        unlock = self.window("Unlock your backups")
        manifest = self.find("Manifest file", within=unlock).text
        if manifest != self.conf["manifest"]:
            raise SystemExit(f"gui-story: the unlock window proposes {manifest!r}")
        self.type_into("Passphrase", self.secret("invitation_passphrase_file"), unlock)
        self.shot("01-unlock", "Unlock your backups")
        self.click("Unlock", unlock)
        dialog = self.until(
            "the passphrase dialog", lambda: self.window("Choose your own passphrase"), 120
        )
        mine = self.secret("passphrase_file")
        self.type_into("New passphrase", mine, dialog)
        self.type_into("Repeat the new passphrase", mine, dialog)
        self.shot("02-choose-passphrase", "Choose your own passphrase")
        start = time.monotonic()
        self.click("Make it mine", dialog)
        main = self.until("the main window", lambda: self.window("Backups (htb)"), 600)
        self.wait_activity("Unlocked", 600)
        self.times["join"] = round(time.monotonic() - start, 2)
        self.until(
            "enough storage servers to back up",
            lambda: self.find("Back up now", "button", main).sensitive,
            300,
        )
        start = time.monotonic()
        self.click("Back up now", main)
        self.wait_activity("Backup done", 900)
        self.times["backup"] = round(time.monotonic() - start, 2)
        self.until(
            "the app idle again", lambda: self.find("Back up now", "button", main).sensitive, 60
        )
        self.shot("03-backed-up", "Backups (htb)")
        self.click("Copy for a friend…", main)
        copy = self.until("the copy dialog", lambda: self.window("Copy for a friend"), 60)
        self.shot("04-copy-for-a-friend", "Copy for a friend")
        self.type_into("Save to", self.conf["friend_copy"], copy)
        self.click("Save", copy)
        self.wait_activity("Saved a copy", 60)
        self.click("Close", copy)
        self.close()

    def back(self) -> None:
        self.launch()
        unlock = self.window("Unlock your backups")
        self.type_into("Manifest file", self.conf["friend_copy"], unlock)
        self.type_into("Passphrase", "not my passphrase at all, sorry", unlock)
        self.click("Unlock", unlock)
        alert = wait_until("the error dialog", self.alert, 120)
        (Path(self.conf["timings"]).parent / "gui-error.txt").write_text(self.alert_text(alert))
        self.shot("05-wrong-passphrase", "alert")
        alert.child(roleName="button").doActionNamed("click")
        wait_until("the error dialog to close", lambda: self.alert() is None, 30)
        self.type_into("Passphrase", self.secret("passphrase_file"), unlock)
        self.click("Unlock", unlock)
        replace = wait_until("the question before replacing the manifest", self.alert, 120)
        (Path(self.conf["timings"]).parent / "gui-replace.txt").write_text(self.alert_text(replace))
        self.shot("06-replace-the-manifest", "alert")
        self.click("Replace", replace)
        main = self.until("the main window", lambda: self.window("Backups (htb)"), 300)
        self.wait_activity("Unlocked", 300)
        self.click("Restore…", main)
        dialog = self.until("the restore dialog", lambda: self.window("Restore"), 60)
        self.until(
            "a snapshot to choose",
            lambda: self.find("Restore", "button", dialog).sensitive,
            300,
        )
        self.type_into("Restore to folder", self.conf["restore_to"], dialog)
        self.shot("07-restore", "Restore")
        start = time.monotonic()
        self.click("Restore", dialog)
        self.wait_activity("Restored and verified", 900)
        self.times["restore"] = round(time.monotonic() - start, 2)
        self.shot("08-restored", "Restore")
        self.click("Close", dialog)
        self.shot("09-main", "Backups (htb)")
        self.close()


def main() -> None:
    phase, conf_path = sys.argv[1], Path(sys.argv[2])
    story = Story(json.loads(conf_path.read_text()))
    try:
        {"first": story.first, "return": story.back}[phase]()
    finally:
        if story.proc is not None and story.proc.poll() is None:
            story.proc.kill()
        timings = Path(story.conf["timings"])
        old = json.loads(timings.read_text()) if timings.exists() else {}
        timings.write_text(json.dumps({**old, phase: story.times}, indent=1))
    os.sync()


if __name__ == "__main__":
    main()
