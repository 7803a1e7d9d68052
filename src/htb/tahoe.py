"""The real :class:`htb.client.Client`: a Tahoe-LAFS client node driven by the ``tahoe`` CLI.

Capabilities never appear in a process argument: the CLI is given alias names,
and the rootcaps live in ``NODE/private/aliases`` (0600). The web API, bound to
127.0.0.1, is read only for status and listings.

The node directory is rebuilt from the manifest by every :meth:`TahoeClient.configure`
(fresh node keys; the manifest's grid, aliases and convergence secret) and
deleted by :meth:`TahoeClient.stop` (see :mod:`htb.nodedir`). Every ``tahoe``
process gets umask 077 and an environment without the passphrases. The desktop
app's node (``ephemeral``) also ends, and its directory goes, when the app does
(:mod:`htb.reaper`); the one ``htb start`` runs lives until ``htb stop`` or a reboot.
"""

from __future__ import annotations

import configparser
import contextlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from htb import nodedir, settings
from htb.certified import certified_servers
from htb.client import (
    CheckReport,
    Child,
    Progress,
    ServerInfo,
    SnapshotRef,
    Status,
    TorSettings,
    no_progress,
)
from htb.errors import (
    GridError,
    MissingAliasError,
    NodeNotRunningError,
    NotEnoughServersError,
    SnapshotNotFoundError,
    UnrecoverableError,
)
from htb.files import write_atomic
from htb.manifest import BackupEntry, Manifest
from htb.nodeconfig import Sections, grid_files, grid_manager_sections, tor_client_config

TAHOE_ENV = "HTB_TAHOE"
# Any capability in tahoe's output: read caps are secrets, and LIT caps hold the
# file's bytes themselves.
_ANY_CAP = re.compile(r"URI:[A-Z0-9-]+:[^\s'\"]+")


def redact(text: str) -> str:
    """``text`` with every Tahoe capability replaced by ``URI:(redacted)``."""
    return _ANY_CAP.sub("URI:(redacted)", text)


# Never inherited by a child: `tahoe run` lives for the whole session, and
# /proc/PID/environ shows its environment to the user's other processes.
SECRET_ENV = ("HTB_PASSPHRASE", "HTB_NEW_PASSPHRASE")
CHILD_UMASK = 0o077


def child_env() -> dict[str, str]:
    """The environment of every process htb starts: htb's own, without the passphrases."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


def tahoe_executable() -> str:
    """``$HTB_TAHOE``, else ``tahoe`` on PATH."""
    exe = os.environ.get(TAHOE_ENV) or shutil.which("tahoe")
    if not exe:
        raise GridError(f"tahoe not found: install tahoe-lafs or set {TAHOE_ENV}")
    return exe


def _private_write(path: Path, content: str | bytes) -> None:
    """Write a file of the node, 0600, by a temporary file and a rename."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, content.encode() if isinstance(content, str) else content, mode=0o600)


def _error_for(output: str) -> GridError:
    """Map tahoe's failure output onto the error a person can act on."""
    text = redact(output.strip())
    last = text.splitlines()[-1] if text else "tahoe failed without a message"
    if "UnrecoverableFileError" in text or "NotEnoughSharesError" in text or "410 Gone" in text:
        return UnrecoverableError(
            "too few storage servers hold shares of this data: it cannot be rebuilt now "
            "(are enough servers connected? see `htb status`)"
        )
    if (
        "UploadUnhappinessError" in text
        or "shares could be placed" in text
        or "NotEnoughServersError" in text
    ):
        return NotEnoughServersError(
            "not enough storage servers connected to place shares safely (shares.happy)"
        )
    if "Unknown alias" in text:
        return MissingAliasError(last.removeprefix("error: "))
    if "No such file or directory" in text or "No such child" in text or "404 Not Found" in text:
        return SnapshotNotFoundError("no such snapshot or path on the grid")
    if "Connection refused" in text or "node.url" in text:
        return NodeNotRunningError("the Tahoe client node is not running: run `htb start`")
    return GridError(f"tahoe: {last}")


def _urlopen(url: str, timeout: float, data: bytes | None = None) -> Any:
    """Open a URL of the node's own web API, which Tahoe binds to loopback (POST if ``data``)."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise GridError(f"refusing a node web API that is not on loopback: {url}")
    request = urllib.request.Request(url, data=data)  # noqa: S310 - scheme checked above
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above


def _cap_path(cap: str, path: str = "") -> str:
    """The web API path of ``cap`` (and of ``path`` below it)."""
    below = "/" + urllib.parse.quote(path) if path else ""
    return "uri/" + urllib.parse.quote(cap, safe="") + below


def _link_mode(info: dict[str, Any]) -> int | None:
    """The ``st_mode`` `tahoe backup` keeps in a link's metadata (type bits included)."""
    metadata = info.get("metadata")
    st_mode = metadata.get("st_mode") if isinstance(metadata, dict) else None
    return st_mode if isinstance(st_mode, int) and not isinstance(st_mode, bool) else None


def _archived_mode(archives: dict[str, Any], name: str) -> int | None:
    """The top mode of archived snapshot ``name``, whose link carries none: htb records
    it only when it changes, so the last one recorded on an earlier snapshot (names are
    times: they sort). None if none was (snapshots of an htb before 2026-11-27)."""
    for earlier in sorted((n for n in archives if n < name), reverse=True):
        link = archives[earlier]
        if isinstance(link, list) and len(link) == 2 and isinstance(link[1], dict):
            mode = _link_mode(link[1])
            if mode is not None:
                return mode
    return None


def _read_cap(info: dict[str, Any]) -> str | None:
    """A link's read-only capability (an immutable object's links carry only that)."""
    cap = info.get("ro_uri")
    return cap if isinstance(cap, str) else None


# Tahoe's names for the kinds of a link; anything else is kept as Tahoe says it.
_KINDS = {"filenode": "file", "dirnode": "dir"}
# Seconds a file's download may be silent (each block is a round trip over Tor).
_READ_TIMEOUT = 300.0
_CHUNK = 1 << 16


# Seconds to wait for the next line of a deep-check: each object is a round trip over Tor.
_CHECK_LINE_TIMEOUT = 600.0


def _checked(line: dict[str, Any], repair: bool) -> CheckReport:
    """One object of a ``t=stream-deep-check`` stream (a LIT object has no shares: healthy)."""
    if repair:
        both = line.get("check-and-repair-results", {})
        before = both.get("pre-repair-results", {}).get("results", {"healthy": True})
        after = both.get("post-repair-results", {}).get("results", {})
        repaired = bool(both.get("repair-successful")) and bool(after.get("healthy"))
    else:
        before = line.get("check-results", {}).get("results", {})
        repaired = False
    healthy = bool(before.get("healthy"))
    recoverable = healthy or bool(before.get("recoverable"))
    return CheckReport(
        files=int(line.get("type") == "file"),
        directories=int(line.get("type") == "directory"),
        healthy=int(healthy),
        needs_repair=int(recoverable and not healthy),
        unrecoverable=int(not recoverable),
        repaired=int(repaired and not healthy),
    )


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class _Tie:
    """What ties an ephemeral node to this process: its reaper, and its stdin's write end."""

    reaper: subprocess.Popen[bytes]
    lifeline: int | None = None
    node: subprocess.Popen[bytes] | None = None  # reaped once it has stopped: no zombie


@dataclass
class TahoeClient:
    """A client node directory and the ``tahoe`` executable that runs it.

    ``ephemeral``: the node lives only as long as this process, however it ends
    (quit, replaced by ``exec``, crashed, killed): the desktop app's. Without it
    (``htb start``), the node outlives the command until ``htb stop`` or a reboot.
    """

    node_dir: Path
    tahoe: str = ""
    web_port: str = settings.WEB_PORT
    nickname: str = "htb-client"
    ephemeral: bool = False
    _tie: _Tie | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.tahoe = self.tahoe or tahoe_executable()
        self.node_dir = self.node_dir.absolute()

    # --- running tahoe ---------------------------------------------------------
    def _cli(self, *args: str, progress: Progress = no_progress) -> str:
        """Run ``tahoe -d NODE ARGS``; stream its output to ``progress``; raise on failure."""
        proc = subprocess.Popen(
            [self.tahoe, "-d", str(self.node_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Unbuffered: each per-file line reaches ``progress`` as it is printed.
            env={**child_env(), "PYTHONUNBUFFERED": "1"},
            umask=CHILD_UMASK,
        )
        lines = []
        try:
            for line in proc.stdout or ():
                lines.append(line)
                progress(redact(line.rstrip("\n")))
        except BaseException:
            # ``progress`` raised (Cancelled, an interrupt): the child must not go on
            # alone. A killed `tahoe backup` has not linked its snapshot (it does last).
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        if proc.wait() != 0:
            raise _error_for("".join(lines))
        return "".join(lines)

    @property
    def _private(self) -> Path:
        return self.node_dir / "private"

    # --- configuration ---------------------------------------------------------
    def configure(self, manifest: Manifest, tor: TorSettings | None) -> None:
        """Build the node directory afresh (a node running there is stopped first)."""
        self.stop()
        nodedir.create(self.node_dir)
        needed, happy, total = manifest.shares
        args = [
            "create-client",
            f"--nickname={self.nickname}",
            f"--webport={self.web_port}",
            f"--shares-needed={needed}",
            f"--shares-happy={happy}",
            f"--shares-total={total}",
        ]
        if tor is not None:
            args.append("--hide-ip")
        try:
            subprocess.run(
                [self.tahoe, *args, str(self.node_dir)],
                check=True,
                capture_output=True,
                env=child_env(),
                umask=CHILD_UMASK,
            )
            nodedir.mark(self.node_dir)
        except BaseException:
            shutil.rmtree(self.node_dir, ignore_errors=True)  # ours: created just above
            raise
        self.write_manifest(manifest, tor)

    def write_manifest(self, manifest: Manifest, tor: TorSettings | None) -> None:
        """Write what the node takes from the manifest into its (existing) directory."""
        self._write_cfg(manifest, tor)
        # introducers.yaml and servers.yaml as the tahoe_node role writes them.
        for name, text in grid_files(manifest.introducers, manifest.servers).items():
            if text is None:
                (self._private / name).unlink(missing_ok=True)
            else:
                _private_write(self._private / name, text)
        self._write_aliases(manifest.aliases)
        if manifest.convergence is not None:
            # Read by the node at start; without it, the node makes a random one.
            _private_write(self._private / "convergence", manifest.convergence + "\n")

    def _write_cfg(self, manifest: Manifest, tor: TorSettings | None) -> None:
        cfg_path = self.node_dir / "tahoe.cfg"
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(cfg_path, encoding="utf-8")
        if tor is None:
            # Tests only: plain TCP on 127.0.0.1.
            needed, happy, total = manifest.shares
            sections: Sections = {
                "node": {
                    "reveal-IP-address": "true",
                    "tub.port": "disabled",
                    "tub.location": "disabled",
                },
                "connections": {"tcp": "tcp"},
                "client": {
                    "shares.needed": str(needed),
                    "shares.happy": str(happy),
                    "shares.total": str(total),
                },
                **grid_manager_sections(manifest.grid_managers),
            }
        else:
            # The same settings as the grid_client role's (htb.nodeconfig).
            sections = tor_client_config(
                tor.socks_port,
                tor.control_port,
                manifest.shares,
                grid_managers=manifest.grid_managers,
            )
        # [tor] and [grid_managers] are replaced whole (or dropped): nothing
        # create-client or an older manifest wrote there survives.
        cfg.remove_section("tor")
        cfg.remove_section("grid_managers")
        for section, options in sections.items():
            if not cfg.has_section(section):
                cfg.add_section(section)
            cfg[section].update(options)
        text = io.StringIO()
        text.write("# Written by htb from the sealed manifest; `htb stop` deletes it.\n")
        cfg.write(text)
        _private_write(cfg_path, text.getvalue())

    @property
    def _backupdb(self) -> Path:
        # Where `tahoe backup` keeps it (allmydata/scripts/tahoe_backup.py).
        return self._private / "backupdb.sqlite"

    def load_backupdb(self, data: bytes) -> None:
        _private_write(self._backupdb, data)

    def read_backupdb(self) -> bytes | None:
        try:
            return self._backupdb.read_bytes()
        except FileNotFoundError:
            return None

    def _read_aliases(self) -> dict[str, str]:
        path = self._private / "aliases"
        if not path.exists():
            return {}
        out = {}
        for line in path.read_text("utf-8").splitlines():
            name, sep, cap = line.partition(":")
            if sep and cap.strip():
                out[name.strip()] = cap.strip()
        return out

    def _write_aliases(self, aliases: dict[str, str]) -> None:
        text = "".join(f"{name}: {cap}\n" for name, cap in sorted(aliases.items()))
        _private_write(self._private / "aliases", text)

    # --- lifecycle -------------------------------------------------------------
    def _pid(self) -> int | None:
        try:
            pid = int((self.node_dir / "running.process").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def start(self, timeout: float = 60.0) -> None:
        if not (self.node_dir / "tahoe.cfg").exists():
            raise NodeNotRunningError(
                f"no client node in {self.node_dir}: `htb start -m MANIFEST` builds it"
            )
        if self._pid() is not None and self._web_url() is not None:
            return
        # node.url outlives the node; a fresh one means the new process is up.
        (self.node_dir / "node.url").unlink(missing_ok=True)
        logs = self.node_dir / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        # The reaper first: from here on, however this process ends, the directory goes.
        tie = self._tied() if self.ephemeral else None
        stdin = subprocess.DEVNULL
        if tie is not None:
            # `tahoe run` stops when its stdin closes (allmydata/scripts/tahoe_run.py):
            # a pipe whose only writer is this process (os.pipe's ends are not inherited).
            stdin, lifeline = os.pipe()
            if tie.lifeline is not None:
                os.close(tie.lifeline)
            tie.lifeline = lifeline
        try:
            with (logs / "htb-run.log").open("ab") as log:
                proc = subprocess.Popen(
                    [self.tahoe, "run", *self._run_options(), str(self.node_dir)],
                    stdin=stdin,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # `htb start`'s outlives the command
                    env=child_env(),
                    umask=CHILD_UMASK,
                )
        finally:
            if tie is not None:
                os.close(stdin)
        if tie is not None:
            self._tell(tie, proc)
        deadline = time.monotonic() + timeout
        while self._web_url() is None:
            if proc.poll() is not None:
                raise GridError(
                    f"the Tahoe node exited at start (code {proc.returncode}); "
                    f"see {logs / 'htb-run.log'}"
                )
            if time.monotonic() > deadline:
                raise GridError(f"the Tahoe node did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def _run_options(self) -> list[str]:
        # Without the option `tahoe run` exits when its stdin closes.
        return [] if self.ephemeral else ["--allow-stdin-close"]

    def _tied(self) -> _Tie:
        """This process's reaper (:mod:`htb.reaper`), started if it does not run."""
        tie = self._tie
        if tie is None or tie.reaper.poll() is not None:
            reaper = subprocess.Popen(
                [sys.executable, "-m", "htb.reaper", str(self.node_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                # Its own session: a signal to the app's process group leaves it to clean up.
                start_new_session=True,
                env=child_env(),
                umask=CHILD_UMASK,
            )
            tie = self._tie = _Tie(reaper)
        return tie

    def _tell(self, tie: _Tie, proc: subprocess.Popen[bytes]) -> None:
        """Name the new node to the reaper; without a reaper the node is not started."""
        try:
            assert tie.reaper.stdin is not None  # noqa: S101 - opened as a pipe above
            tie.reaper.stdin.write(f"pid {proc.pid}\n".encode())
            tie.reaper.stdin.flush()
            tie.node = proc
        except OSError:
            proc.kill()
            proc.wait()
            raise GridError(
                "the node could not be tied to the app (its reaper is gone): not started"
            ) from None

    def _untie(self) -> None:
        """Close the node's stdin and the reaper's: the reaper ends what is left, and exits."""
        tie, self._tie = self._tie, None
        if tie is None:
            return
        if tie.lifeline is not None:
            os.close(tie.lifeline)
        with contextlib.suppress(OSError):
            if tie.reaper.stdin is not None:
                tie.reaper.stdin.close()
        try:
            tie.reaper.wait(60)
        except subprocess.TimeoutExpired:
            tie.reaper.kill()
            tie.reaper.wait()
        if tie.node is not None:
            tie.node.poll()

    def stop(self) -> None:
        """Stop the node, then delete its directory and every secret in it."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 30):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        self._untie()
        nodedir.remove(self.node_dir)

    def _web_url(self) -> str | None:
        """The node's web API base URL if it answers, else None."""
        try:
            url = (self.node_dir / "node.url").read_text().strip()
            with _urlopen(url + "?t=json", timeout=5):
                return url
        except (OSError, urllib.error.URLError):
            return None

    def _node_url(self) -> str:
        url = self._web_url()
        if url is None:
            raise NodeNotRunningError("the Tahoe client node is not running: run `htb start`")
        return url

    @contextlib.contextmanager
    def _api(self, path: str, timeout: float = 120, data: bytes | None = None) -> Iterator[Any]:
        """The node's web API at ``path``; its HTTP errors become htb's grid errors."""
        try:
            with _urlopen(self._node_url() + path, timeout, data) as resp:
                yield resp
        except urllib.error.HTTPError as exc:
            raise _error_for(
                f"{exc.code} {exc.reason} {exc.read().decode(errors='replace')}"
            ) from None

    def _get_json(self, path: str) -> Any:
        with self._api(path) as resp:
            return json.load(resp)

    def status(self) -> Status:
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(self.node_dir / "tahoe.cfg", encoding="utf-8")
        needed = cfg.getint("client", "shares.needed", fallback=3)
        happy = cfg.getint("client", "shares.happy", fallback=7)
        if self._web_url() is None:
            return Status(running=False, servers=(), needed=needed, happy=happy)
        welcome = self._get_json("?t=json")
        # None: no Grid Manager, every server may take shares (htb.certified).
        certified = certified_servers(self.node_dir)
        servers = tuple(
            ServerInfo(
                nickname=s.get("nickname") or s.get("nodeid", "?"),
                connected=str(s.get("connection_status", "")).lower().startswith("connected"),
                certified=certified is None or s.get("nodeid") in certified,
            )
            for s in welcome.get("servers", [])
        )
        # Tahoe's summaries: "unstarted", "Trying to connect" (no answer yet),
        # "Connected to ...", "Reconnecting in N seconds" (the attempt failed).
        intros = welcome.get("introducers", {}).get("statuses", [])
        pending = sum(1 for s in intros if str(s).lower().startswith(("unstarted", "trying")))
        return Status(
            True,
            servers,
            needed,
            happy,
            introducers_pending=pending,
            grid_managers=certified is not None,
        )

    # --- grid operations -------------------------------------------------------
    def create_alias(self, alias: str) -> str:
        if alias in self._read_aliases():
            raise GridError(f"alias '{alias}' already exists on this node")
        self._cli("create-alias", alias)
        return self._read_aliases()[alias]

    def backup(self, entry: BackupEntry, progress: Progress = no_progress) -> None:
        self._require_alias(entry.alias)
        top_mode = os.stat(entry.local).st_mode & 0o7777
        args = ["backup", "-v", *[f"--exclude={pattern}" for pattern in entry.excludes]]
        # The mode Latest carries, read while `tahoe backup` walks the tree: the mode is
        # recorded only when it changes (issue 25, item 4; see snapshot()), so an
        # incremental backup adds no round trip through Tor after the child.
        pool = ThreadPoolExecutor(1)
        try:
            recorded = pool.submit(self._latest_mode, entry)
            self._cli(*args, entry.local, entry.target, progress=progress)
        finally:
            pool.shutdown(wait=False)
        if recorded.result() != top_mode:
            self._record_top_mode(entry, top_mode)

    def _latest_mode(self, entry: BackupEntry) -> int | None:
        """The mode on ``Latest``'s link (None: none recorded, no Latest yet, unreadable)."""
        try:
            listing = self._get_json(self._entry_url(entry) + "?t=json")
            link = listing[1]["children"]["Latest"]
            return _link_mode(link[1])
        except (GridError, OSError, ValueError, LookupError, TypeError, AttributeError):
            return None  # then it is recorded again: only a round trip lost

    def _entry_url(self, entry: BackupEntry, below: str = "") -> str:
        """The web API path of ``entry.target`` (and ``below`` it), by the alias's cap."""
        path = f"{entry.path}/{below}" if below else entry.path
        return _cap_path(self._require_alias(entry.alias), path)

    def _record_top_mode(self, entry: BackupEntry, mode: int) -> None:
        """Put ``st_mode`` on the new snapshot's two links, as on every link below them.

        `tahoe backup` links its top directory without metadata
        (allmydata/scripts/tahoe_backup.py, put_child), so its mode is added here,
        when it differs from the one on ``Latest``: `tahoe backup` relinks ``Latest``
        keeping the link's metadata (allmydata/dirnode.py, update_metadata), and an
        archived snapshot without a mode has the last one recorded before it
        (:func:`_archived_mode`). Each read or change of a directory costs round trips
        through Tor (issue 25, item 4): both listings are read at once, the changes
        made at once.
        """
        base = self._entry_url(entry)
        with ThreadPoolExecutor(2) as pool:
            top, archives = pool.map(self._get_json, [base + "?t=json", base + "/Archives?t=json"])
        latest_info = top[1]["children"]["Latest"][1]
        latest = latest_info["ro_uri"]
        newest = max(
            (n for n, (_, info) in archives[1]["children"].items() if info.get("ro_uri") == latest),
            default=None,
        )
        link = ["dirnode", {"ro_uri": latest, "metadata": {"st_mode": mode}}]
        changes: list[tuple[str, dict[str, Any]]] = []
        if newest is not None:
            changes.append((base + "/Archives?t=set_children", {newest: link}))
        if _link_mode(latest_info) != mode:
            changes.append((base + "?t=set_children", {"Latest": link}))
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda change: self._post(*change), changes))

    def _post(self, path: str, body: Any) -> None:
        with self._api(path, data=json.dumps(body).encode()):
            pass

    def _require_alias(self, alias: str) -> str:
        cap = self._read_aliases().get(alias)
        if cap is None:
            raise MissingAliasError(f"alias '{alias}' is not known to this node")
        return cap

    def snapshots(self, entry: BackupEntry) -> list[str]:
        self._require_alias(entry.alias)
        try:
            out = self._cli("ls", f"{entry.target}/Archives")
        except SnapshotNotFoundError:
            return []
        return sorted(line.strip() for line in out.splitlines() if line.strip())

    def snapshot(self, entry: BackupEntry, snapshot: str | None) -> SnapshotRef:
        parent = self._entry_url(entry, "" if snapshot is None else "Archives")
        children = self._get_json(parent + "?t=json")[1].get("children", {})
        link = children.get("Latest" if snapshot is None else snapshot)
        if not isinstance(link, list) or len(link) != 2 or not isinstance(link[1], dict):
            raise SnapshotNotFoundError("no such snapshot or path on the grid")
        mode = _link_mode(link[1])
        if mode is None and snapshot is not None:
            mode = _archived_mode(children, snapshot)
        return SnapshotRef(_read_cap(link[1]) or "", mode)

    def children(self, cap: str) -> dict[str, Child]:
        node = self._get_json(_cap_path(cap) + "?t=json")
        out = {}
        for name, (kind, info) in node[1].get("children", {}).items():
            size = info.get("size")
            out[name] = Child(
                _KINDS.get(kind, str(kind)),
                _read_cap(info),
                size if isinstance(size, int) else None,
                _link_mode(info),
            )
        return out

    def read(self, cap: str, write: Callable[[bytes], object]) -> None:
        try:
            with self._api(_cap_path(cap), _READ_TIMEOUT) as resp:
                while chunk := resp.read(_CHUNK):
                    write(chunk)
        except (http.client.IncompleteRead, ConnectionError, TimeoutError):
            # Tahoe streams a file as it decodes it: shares lost on the way cut it short.
            raise UnrecoverableError(
                "too few storage servers hold shares of this data: it cannot be rebuilt now "
                "(are enough servers connected? see `htb status`)"
            ) from None

    def check(self, alias: str, repair: bool = False) -> CheckReport:
        query = "?t=stream-deep-check&add-lease=true" + ("&repair=true" if repair else "")
        report = CheckReport()
        with self._api(
            _cap_path(self._require_alias(alias)) + query, _CHECK_LINE_TIMEOUT, b""
        ) as resp:
            for raw in resp:
                if raw.startswith(b"ERROR:"):
                    # The walk stopped (a directory it cannot read, a failed repair).
                    error = _error_for((raw + resp.read()).decode(errors="replace"))
                    if isinstance(error, NotEnoughServersError):
                        raise error
                    return report + CheckReport(complete=False)
                line = json.loads(raw)
                if line.get("type") != "stats":
                    report += _checked(line, repair)
        return report
