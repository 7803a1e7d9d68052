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

Passphrases are typed as a person types them, key by key (XTest through the
accessibility registry), never handed over as text through the accessibility bus.

With "session_end" in CONFIG (the client scenario; issue 21): that the secrets end
with the session. In each phase, while unlocked (the control), then after Lock
(first) or a SIGKILL of the app (return; after its copy left the clipboard by
itself within a minute): memsearch.py searches /proc/PID/mem of every process of
the user for the passphrases and the running node's secrets (rootcaps in both
forms, convergence secret, node keys, swissnums, API token), except this driver,
which plays the person and so knows the passphrases; and this driver checks that
no `tahoe run` of the user remains, the node directory is gone and the clipboard
holds nothing. The results go to session-end.json beside the timings.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gi

gi.require_version("Gdk", "3.0")
gi.require_version("Gtk", "3.0")
from dogtail import rawinput  # noqa: E402
from dogtail.config import config as dogtail_config  # noqa: E402
from dogtail.tree import Node, SearchError, root  # noqa: E402
from gi.repository import Gdk, Gtk  # noqa: E402

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
        self.end: dict[str, object] = {}  # session-end.json: this phase's checks
        self.phase = ""
        self.node_dir: str | None = None  # the app's node, seen while unlocked

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

    def type_secret(self, name: str, secret: str, within: Node | None = None) -> None:
        """Click into the entry and type, key by key: the text never crosses a bus whole."""
        field = self.find(name, within=within)
        field.click()  # without a window manager the keys go to the window under the pointer
        wait_until(f"the focus in '{name}'", lambda: field.focused, 30)
        rawinput.typeText(secret)
        # A hidden entry shows one bullet a character.
        wait_until(
            f"{len(secret)} characters in '{name}'",
            lambda: len(field.text or "") == len(secret),
            30,
        )

    def activity(self) -> str:
        return self.find("Activity").text or ""

    def wait_activity(self, starts: str, timeout: float) -> str:
        """Wait for the Activity line; an error dialog instead fails at once."""

        seen = [""]

        def probe() -> str | None:
            alert = self.alert()
            if alert is not None:
                raise SystemExit(f"gui-story: an error dialog: {self.alert_text(alert)}")
            seen[0] = self.activity()
            return seen[0] if seen[0].startswith(starts) else None

        try:
            return str(wait_until(f"'{starts}…' in Activity", probe, timeout))
        except SystemExit as exc:  # say what the app said instead
            raise SystemExit(f"{exc} - the Activity line: {seen[0]!r}") from None

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

    def lock(self) -> None:
        """Lock: the app stops the node and replaces itself, locked (same pid, new image)."""
        main = self.window("Backups (htb)")
        if main is None:
            raise SystemExit("gui-story: no main window to Lock (the app is not unlocked)")
        pid = self.proc.pid if self.proc is not None else None
        self.click("Lock", main)

        def relaunched() -> Node | None:
            app = root.application(APP)  # the new image's, on the bus anew
            for child in app.children:
                if child.name == "Unlock your backups" and child.showing:
                    activity = child.child(name="Activity", retry=False).text
                    if activity == "Locked":
                        self.app = app
                        return child
            return None

        wait_until("the Unlock window of the relaunched app, saying Locked", relaunched, 60)
        if self.proc is not None and self.proc.poll() is not None:
            raise SystemExit(f"gui-story: the app exited at Lock ({self.proc.returncode})")
        self.end["relaunched_same_pid"] = pid is not None and self.proc.pid == pid

    def close(self) -> None:
        """Lock, then end the app (SIGTERM) and wait for it to exit."""
        self.lock()
        if "session_end" in self.conf:
            self.session_end("locked")
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise SystemExit("gui-story: the app did not exit within 30 s of SIGTERM") from None

    # --- the secrets end with the session (issue 21) ------------------------------
    def clipboard(self) -> str | None:
        text: str | None = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD).wait_for_text()
        return text

    def memsearch(self, *args: str) -> str:
        here = Path(__file__).resolve().parent
        return subprocess.run(
            [sys.executable, str(here / "memsearch.py"), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def search(self, when: str) -> dict[str, object]:
        """Every process of the user but this driver, for every secret known so far."""
        out = self.shots / f"memsearch-{self.phase}-{when}.json"
        targets = Path(self.conf["session_end"]) / self.phase
        kinds = {
            "invitation": self.conf["invitation_passphrase_file"],
            "mine": self.conf["passphrase_file"],
            **{p.name: str(p) for p in sorted(targets.iterdir())},
        }
        # The driver plays the person: it read the passphrases, so it is left out.
        args = ["search", str(out), "--exclude", str(os.getpid())]
        self.memsearch(*args, *[f"--target={k}={f}" for k, f in kinds.items() if Path(f).is_file()])
        result: dict[str, object] = json.loads(out.read_text())
        return result

    def unlocked_control(self) -> None:
        """While unlocked: the node's secrets captured, and the same search finding them."""
        self.node_dir = self.app_node_dir()
        targets = Path(self.conf["session_end"]) / self.phase
        self.memsearch("capture", self.node_dir, str(targets))
        self.end["unlocked"] = self.summary(self.search("unlocked"))

    @staticmethod
    def tahoe_nodes() -> dict[int, str]:
        """pid -> node directory of each `tahoe run` of the user."""
        import memsearch  # beside this file; only this check needs it

        nodes: dict[int, str] = memsearch.tahoe_nodes(os.getuid())
        return nodes

    def session_end(self, when: str) -> None:
        """After Lock or a kill: no node, no node directory, an empty clipboard, no secret."""
        start = time.monotonic()
        # The node and its directory end at once at Lock; after a kill, within seconds.
        wait_until("no tahoe node of the user", lambda: self.tahoe_nodes() == {}, 60)
        node = Path(self.node_dir or "/nonexistent")
        wait_until(f"{node} gone", lambda: not node.exists(), 60)
        self.end[f"{when}_gone_after"] = round(time.monotonic() - start, 2)
        self.end[f"{when}_clipboard"] = self.clipboard()
        self.end[when] = self.summary(self.search(when))

    @staticmethod
    def summary(result: dict[str, object]) -> dict[str, object]:
        searched = result["searched"]
        assert isinstance(searched, list)  # noqa: S101 - memsearch's own JSON
        return {
            "hits": result["hits"],
            "targets": result["targets"],
            "unreadable": result["unreadable"],
            "processes": sorted({str(p["comm"]) for p in searched}),
            "bytes": sum(int(p["bytes"]) for p in searched),
            "failed_regions": [r for p in searched for r in p["failed_regions"]],
        }

    def copy_to_clipboard(self, copy: Node) -> str:
        """Copy to clipboard; the clipboard then holds the dialog's armored text (a control)."""
        self.click("Copy to clipboard", copy)
        armored = str(self.find("Armored copy", within=copy).text or "")
        wait_until("the copy on the clipboard", lambda: self.clipboard() == armored, 30)
        return armored

    # --- a hostile snapshot (issue 21) -----------------------------------------
    def app_node_dir(self) -> str:
        """The node directory of the app's own `tahoe run` (a child of the app)."""
        assert self.proc is not None  # noqa: S101 - launched
        app = str(self.proc.pid)
        nodes = [
            node
            for pid, node in self.tahoe_nodes().items()
            if re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)[1] == app
        ]
        if len(nodes) != 1:
            raise SystemExit(f"gui-story: expected the app's one tahoe node, saw {nodes}")
        return nodes[0]

    @staticmethod
    def tree_digests() -> dict[str, str]:
        """Every path of Persistent Storage and the home: its mode and content digest."""
        out: dict[str, str] = {}
        for top in ("/live/persistence/TailsData_unlocked", str(Path.home())):
            for dirpath, dirnames, filenames in os.walk(top):
                for name in [*dirnames, *filenames]:
                    path = os.path.join(dirpath, name)
                    info = os.lstat(path)
                    digest = ""
                    if stat.S_ISLNK(info.st_mode):
                        digest = os.readlink(path)
                    elif stat.S_ISREG(info.st_mode):
                        try:
                            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                        except OSError as exc:
                            digest = f"unreadable: {exc.errno}"
                    out[path] = f"{info.st_mode:o} {digest}"
        return out

    def hostile_restores(self, main: Node) -> None:
        """Someone with his write cap links hostile trees as snapshots (the client scenario's
        tests/hostile_snapshot.py, through the app's own node); Restore… refuses each in
        its error dialog, and nothing of his home or Persistent Storage changes."""
        conf = self.conf["hostile"]
        node = self.app_node_dir()
        # The app restores a snapshot it lists (newest first): the hostile tree is linked
        # as the newest one under Archives.
        where = [node, conf["alias"], conf["path"], "--archive", conf["archive"]]
        before = self.tree_digests()
        refusals = []
        planter = [sys.executable, conf["planter"]]
        for shape in conf["shapes"]:
            home = str(Path.home())
            subprocess.run([*planter, "plant", *where, shape, "--home", home], check=True)
            self.click("Restore…", main)
            dialog = self.until("the restore dialog", lambda: self.window("Restore"), 60)
            button = self.find("Restore", "button", dialog)
            self.until("a snapshot to choose", lambda b=button: b.sensitive, 300)
            self.type_into("Restore to folder", conf["restore_to"], dialog)
            self.click("Restore", dialog)
            alert = wait_until("the refusal", self.alert, 600)
            refusals.append({"shape": shape, "alert": self.alert_text(alert)})
            if len(refusals) == 1:
                self.shot("10-hostile-snapshot-refused", "alert")
            alert.child(roleName="button").doActionNamed("click")
            wait_until("the refusal to close", lambda: self.alert() is None, 30)
            self.click("Close", dialog)
        subprocess.run([*planter, "relink", *where], check=True)
        after = self.tree_digests()
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        record = {
            "refusals": refusals,
            "paths": len(before),
            "changed": changed[:20],
            "target_exists": Path(conf["restore_to"]).exists(),
        }
        out = Path(self.conf["timings"]).parent / "hostile.json"
        out.write_text(json.dumps(record, indent=1))

    # --- the phases -----------------------------------------------------------
    def first(self) -> None:
        self.phase = "first"
        self.launch()
        unlock = self.window("Unlock your backups")
        manifest = self.find("Manifest file", within=unlock).text
        if "invitation" in self.conf:
            # Issue 25: the release's bundle installs no manifest; his invitation is a
            # file on the stick, which the first screen takes (and installs).
            if manifest:
                raise SystemExit(f"gui-story: a manifest is installed already: {manifest!r}")
            self.type_into("Manifest file", self.conf["invitation"], unlock)
        elif manifest != self.conf["manifest"]:
            raise SystemExit(f"gui-story: the unlock window proposes {manifest!r}")
        self.type_secret("Passphrase", self.secret("invitation_passphrase_file"), unlock)
        self.shot("01-unlock", "Unlock your backups")
        self.click("Unlock", unlock)
        dialog = self.until(
            "the passphrase dialog", lambda: self.window("Choose your own passphrase"), 120
        )
        mine = self.secret("passphrase_file")
        self.type_secret("New passphrase", mine, dialog)
        self.type_secret("Repeat the new passphrase", mine, dialog)
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
        if "session_end" in self.conf:
            self.copy_to_clipboard(copy)
        self.type_into("Save to", self.conf["friend_copy"], copy)
        self.click("Save", copy)
        self.wait_activity("Saved a copy", 60)
        self.click("Close", copy)
        if "session_end" in self.conf:
            self.unlocked_control()
        self.close()

    def back(self) -> None:
        self.phase = "return"
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
        self.type_secret("Passphrase", self.secret("passphrase_file"), unlock)
        self.click("Unlock", unlock)
        if self.conf.get("replace_expected", True):
            replace = wait_until("the question before replacing the manifest", self.alert, 120)
            text = self.alert_text(replace)
            (Path(self.conf["timings"]).parent / "gui-replace.txt").write_text(text)
            self.shot("06-replace-the-manifest", "alert")
            self.click("Replace", replace)
        main = self.until("the main window", lambda: self.window("Backups (htb)"), 300)
        self.wait_activity("Unlocked", 300)
        # Unlocking goes on (the backups' list) after the window opens: one long
        # operation at a time, so Restore would be refused until it ends.
        self.until("the app idle", lambda: self.find("Back up now", "button", main).sensitive, 300)
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
        if "hostile" in self.conf:
            self.hostile_restores(main)
        if "session_end" not in self.conf:
            self.close()
            return
        # The copy leaves the clipboard by itself after a minute ...
        self.click("Copy for a friend…", main)
        copy = self.until("the copy dialog", lambda: self.window("Copy for a friend"), 60)
        self.copy_to_clipboard(copy)
        start = time.monotonic()
        wait_until("the copy off the clipboard", lambda: not self.clipboard(), 150)
        self.end["clipboard_cleared_after"] = round(time.monotonic() - start, 2)
        # ... and with the app, killed while unlocked, the copy just made again.
        self.copy_to_clipboard(copy)
        self.click("Close", copy)
        self.unlocked_control()
        assert self.proc is not None  # noqa: S101 - launched above
        self.proc.kill()
        self.proc.wait(30)
        self.session_end("killed")


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
        if story.end:
            ended = timings.with_name("session-end.json")
            old = json.loads(ended.read_text()) if ended.exists() else {}
            ended.write_text(json.dumps({**old, phase: story.end}, indent=1))
    os.sync()


if __name__ == "__main__":
    main()
