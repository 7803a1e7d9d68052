"""The ``htb`` command: the verbs of the original hidden-tahoe-backup, as subcommands.

Passphrases come from ``--passphrase-file``, ``$HTB_PASSPHRASE`` or a prompt;
there is deliberately no option that takes one on the command line. No process
htb starts inherits ``$HTB_PASSPHRASE`` or ``$HTB_NEW_PASSPHRASE``.

The client node lives in RAM for one session (:mod:`htb.nodedir`): ``htb start``
builds it from the sealed manifest, ``htb stop`` deletes it. An operator's
invitation becomes the person's own manifest at first use (``htb join``, or
``htb start``), and ``htb export`` copies it for trusted friends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from htb import __version__, nodedir, ops, placing, restore, session, settings
from htb import passphrase as pw
from htb.client import CheckReport, Client, Progress, Status, TorSettings
from htb.errors import EXIT_MEANINGS, ManifestInvalidError, NotSealedError
from htb.manifest import (
    DEFAULT_KDF,
    KdfParams,
    Manifest,
    Opened,
    loads,
    read_limited,
    read_sealed,
    seal,
    write_atomic,
)
from htb.manifest.legacy import restore_version_warnings
from htb.tahoe import TahoeClient

ClientFactory = Callable[[argparse.Namespace], Client]
_BOM = b"\xef\xbb\xbf"

# Details beside each code's meaning (htb.errors.EXIT_MEANINGS) in `htb --help`.
_EXIT_DETAILS = {
    1: " (a file cannot be read/written, not enough free memory\n       to derive the key)",
    2: " (argparse: bad/unknown option, bad option value)",
    3: " (not a manifest, too large, unsupported version/KDF/cost,\n"
    "       truncated, damaged armor, wrong passphrase, tampered)",
    4: " (schema, JSON, 2014 fields)",
    9: " (`htb check --repair` rebuilds it)",
    11: " ('..' or a path as a name, a control character, a link,\n"
    "       a mutable folder: linked by someone with write access; nothing written)",
}
EXIT_CODES = (
    "exit codes:\n"
    + "".join(
        f"  {code:<5}{meaning}{_EXIT_DETAILS.get(code, '')}\n"
        for code, meaning in EXIT_MEANINGS.items()
    )
    + """
With --json (status, snapshots, check) stdout holds one JSON object, also on
an error: {"error": "<the error line>", "exit": N}; usage errors (2) print none.
"""
)

one_line = session.one_line


def _say(message: str) -> None:
    print(f"htb: {one_line(message)}", file=sys.stderr, flush=True)


def _progress(verbose: bool) -> Progress:
    """Tahoe's per-file lines when verbose; else a one-line counter on a terminal."""
    count = 0
    tty = sys.stderr.isatty()

    def show(line: str) -> None:
        nonlocal count
        count += 1
        if verbose:
            print(f"    {line}", file=sys.stderr, flush=True)
        elif tty:
            print(f"\r    {count} items processed", end="", file=sys.stderr, flush=True)

    return show


def default_client(args: argparse.Namespace) -> Client:
    return TahoeClient(Path(args.node_directory), web_port=args.web_port)


# --- argument plumbing -----------------------------------------------------------
def _passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    file = Path(args.passphrase_file) if args.passphrase_file else None
    return pw.read(file=file, confirm=confirm)


def _open_with(args: argparse.Namespace) -> tuple[Opened, str]:
    """The opened manifest of ``--manifest``, and the passphrase that opened it."""
    if not args.manifest:
        raise ManifestInvalidError("no manifest: pass --manifest FILE or set HTB_MANIFEST")
    secret = _passphrase(args)
    return session.open_file(Path(args.manifest), secret, say=_say), secret


def _open(args: argparse.Namespace) -> Manifest:
    return _open_with(args)[0].manifest


INVITATION_REFUSED = session.INVITATION_REFUSED


def _open_full(args: argparse.Namespace) -> Manifest:
    """The manifest, refused (exit 4) if it is still an operator's invitation."""
    manifest = _open(args)
    if manifest.is_invitation:
        raise ManifestInvalidError(INVITATION_REFUSED)
    return manifest


def _new_passphrase(args: argparse.Namespace) -> str:
    """A new passphrase: --new-passphrase-file, else $HTB_NEW_PASSPHRASE, else asked twice.

    Never $HTB_PASSPHRASE. Strength-checked.
    """
    file = Path(args.new_passphrase_file) if args.new_passphrase_file else None
    secret = pw.read(
        file=file,
        confirm=True,
        prompt="New passphrase: ",
        env_var=pw.NEW_ENV_VAR,
        file_option="--new-passphrase-file",
    )
    strength = pw.check(secret, allow_weak=args.allow_weak_passphrase)
    _say(f"new passphrase strength: about {strength.bits:.0f} bits")
    return secret


def _kdf(args: argparse.Namespace) -> KdfParams:
    return KdfParams(opslimit=args.kdf_opslimit, memlimit=args.kdf_memlimit * 1024 * 1024)


def _write_output(path: str | None, data: bytes, what: str) -> None:
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_atomic(Path(path), data)
        _say(f"wrote {what} to {path} (mode 0600)")


def _tor(args: argparse.Namespace, manifest: Manifest) -> TorSettings | None:
    return session.tor_settings(
        manifest, args.tor_socks_port, args.tor_control_port, unsafe_no_tor=args.unsafe_no_tor
    )


# --- verbs -------------------------------------------------------------------------
def cmd_passphrase(args: argparse.Namespace, _: ClientFactory) -> int:
    print(pw.generate(args.words))
    bits = pw.generated_bits(args.words)
    _say(f"{args.words} words from the EFF long list: {bits:.0f} bits")
    if bits < pw.MIN_BITS:
        enough = math.ceil(pw.MIN_BITS / pw.generated_bits(1))
        _say(
            f"warning: under {pw.MIN_BITS:.0f} bits: `htb seal` will refuse this passphrase "
            f"(use {enough} words or more)"
        )
    return 0


def _read_plaintext(source: str, *, template: bool = False) -> Manifest:
    """Manifest JSON from a file or ``-`` (standard input): bounded, a leading BOM dropped."""
    data = read_limited(None if source == "-" else Path(source), error=ManifestInvalidError)
    return loads(data.removeprefix(_BOM), template=template)


def _legacy_warnings(opened: Opened) -> None:
    """One line per 2014 task that restored a version other than Latest."""
    if opened.form == "legacy-2014":
        for line in restore_version_warnings(opened.manifest):
            _say(f"warning: {line}")


def cmd_seal(args: argparse.Namespace, _: ClientFactory) -> int:
    manifest = _read_plaintext(args.plaintext)
    secret = _passphrase(args, confirm=True)
    strength = pw.check(secret, allow_weak=args.allow_weak_passphrase)
    _say(f"passphrase strength: about {strength.bits:.0f} bits")
    _write_output(
        args.output, seal(manifest, secret, armored=args.armor, kdf=_kdf(args)), "sealed manifest"
    )
    return 0


def cmd_unseal(args: argparse.Namespace, _: ClientFactory) -> int:
    opened = read_sealed(Path(args.sealed), _passphrase(args))
    if opened.form == "legacy-2014":
        _say("this is a 2014 hidden-tahoe-backup manifest; `htb convert` rewrites it")
        _legacy_warnings(opened)
    text = json.dumps(opened.manifest.data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        _say("the plaintext holds your rootcaps: anyone who sees it can read your backups")
    _write_output(args.output, text.encode(), "plaintext manifest")
    return 0


def cmd_convert(args: argparse.Namespace, _: ClientFactory) -> int:
    _say("opening the old manifest (its scrypt key takes about 10 s)")
    opened = read_sealed(Path(args.sealed), _passphrase(args))
    _legacy_warnings(opened)
    # Never $HTB_PASSPHRASE: that would reseal under the old passphrase unasked.
    secret = _new_passphrase(args)
    _write_output(
        args.output,
        seal(opened.manifest, secret, armored=args.armor, kdf=_kdf(args)),
        "converted manifest",
    )
    return 0


def cmd_init(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open_full(args)
    make_client(args).configure(manifest, _tor(args, manifest))
    _say(
        f"node directory {args.node_directory} is built (`htb start` builds it afresh and "
        "runs it; `htb stop` deletes it)"
    )
    return 0


def _join(
    args: argparse.Namespace, make_client: ClientFactory, opened: Opened, secret: str
) -> None:
    """Make an invitation the person's own: her directories, her passphrase, over the file."""
    invitation = opened.manifest
    tor = _tor(args, invitation)
    if args.keep_passphrase:
        _say(
            "warning: --keep-passphrase: the operator knows this passphrase; anyone who has "
            "it and a copy of your manifest can read your backups"
        )
        new_secret = secret
    else:
        new_secret = _new_passphrase(args)
    session.join(
        make_client(args),
        opened,
        new_secret,
        Path(args.manifest),
        tor,
        kdf=_kdf(args),
        say=_say,
        wait=args.timeout,
    )
    _say(
        f"your backups are created on the grid and {args.manifest} is now your own manifest, "
        "sealed under your passphrase (the invitation is gone); the node is running. "
        "Run `htb export` to make copies for trusted friends"
    )


def _place(args: argparse.Namespace) -> tuple[Opened, str]:
    """``htb join FILE``: FILE opened (a wrong passphrase installs nothing), then put at
    ``--manifest`` where no other manifest is - the app's first screen does the same."""
    if not args.manifest:
        raise ManifestInvalidError(
            "no place for the invitation: pass --manifest FILE or set HTB_MANIFEST"
        )
    source, target = Path(args.invitation), Path(args.manifest)
    data = read_limited(source, error=NotSealedError)
    placing.check(data, target, replace=args.replace)  # before a passphrase is asked for
    secret = _passphrase(args)
    opened = session.open_file(source, secret, say=_say)
    if placing.install(data, target, replace=args.replace):
        _say(f"installed {source} at {target} (mode 0600)")
    return opened, secret


def cmd_join(args: argparse.Namespace, make_client: ClientFactory) -> int:
    if args.invitation is not None:
        opened, secret = _place(args)
    else:
        opened, secret = _open_with(args)
    if not opened.manifest.is_invitation:
        _say(f"{args.manifest} already holds your own backups: nothing to join")
        return 0
    _join(args, make_client, opened, secret)
    return 0


def cmd_start(args: argparse.Namespace, make_client: ClientFactory) -> int:
    opened, secret = _open_with(args)
    if opened.manifest.is_invitation:
        _say("this is an invitation: making it yours first (`htb join`)")
        _join(args, make_client, opened, secret)
        return 0
    manifest = opened.manifest
    session.start(
        make_client(args),
        manifest,
        Path(args.manifest),
        _tor(args, manifest),
        say=_say,
        wait=args.timeout,
    )
    _say(
        f"the Tahoe client node is running from {args.node_directory}, built afresh from the "
        "manifest; `htb status` shows its servers, `htb stop` deletes it"
    )
    return 0


def cmd_stop(args: argparse.Namespace, make_client: ClientFactory) -> int:
    session.stop(make_client(args))
    _say("the Tahoe client node is stopped and its directory deleted")
    return 0


def cmd_export(args: argparse.Namespace, _: ClientFactory) -> int:
    opened, secret = _open_with(args)
    if opened.manifest.is_invitation:
        raise ManifestInvalidError(INVITATION_REFUSED)
    if args.new_passphrase or args.new_passphrase_file:
        secret = _new_passphrase(args)
    # Sealed once: a fresh salt and nonce; the file and the QR code hold the same bytes.
    copy = session.export(opened.manifest, secret, kdf=_kdf(args))
    png = session.qr_png(copy.armored) if args.qr else None
    _write_output(args.output, copy.armored.encode() if args.armor else copy.blob, "the copy")
    if png is not None:
        write_atomic(Path(args.qr), png)
        _say(f"wrote a QR code of the armored copy to {args.qr} (mode 0600)")
    return 0


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False))


def _status_json(status: Status) -> dict[str, object]:
    return {
        "running": status.running,
        "connected": status.connected,
        # Connected servers backups may use: with Grid Managers, those they certify.
        "certified": status.certified,
        "needed": status.needed,
        "happy": status.happy,
        "can_backup": status.can_upload,
        "can_restore": status.can_download,
        "servers": [
            {"nickname": s.nickname, "connected": s.connected, "certified": s.certified}
            for s in status.servers
        ],
    }


def _status_code(status: Status) -> int:
    return 0 if status.can_upload else 6 if status.running else 1


def cmd_status(args: argparse.Namespace, make_client: ClientFactory) -> int:
    status = make_client(args).status()
    if args.json:
        _print_json(_status_json(status))
        return _status_code(status)
    if not status.running:
        print("node: stopped")
        return 1
    print(f"node: running; storage servers connected: {status.connected} of {len(status.servers)}")
    if status.grid_managers:
        print(f"certified storage servers connected: {status.certified} (only these take backups)")
    print(f"shares: needed {status.needed}, happy {status.happy}")
    for server in status.servers:
        uncertified = "  (not certified: takes no backup)" if not server.certified else ""
        state = "connected " if server.connected else "not connected"
        print(f"  {state}  {server.nickname}{uncertified}")
    if status.can_upload:
        print("ready: backup and restore")
        return 0
    print("ready: restore only" if status.can_download else "ready: no (too few servers)")
    return 6


def cmd_backup(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open_full(args)
    entries = ops.select(manifest, args.entries)
    session.backup(
        make_client(args),
        manifest,
        Path(args.manifest),
        entries,
        say=_say,
        progress=_progress(args.verbose),
        wait=args.timeout,
    )
    _say(f"backed up {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


snapshot_time = session.snapshot_time


def cmd_snapshots(args: argparse.Namespace, make_client: ClientFactory) -> int:
    client = make_client(args)
    backups = []
    for entry in ops.select(_open_full(args), args.entries):
        names = ops.snapshots(client, entry, say=_say, wait=args.timeout)
        if not args.json:
            for name in names:
                print(f"{entry.alias}:{entry.path}\t{name}")
            continue
        snaps = [{"name": n, "time": snapshot_time(n)} for n in names]
        backups.append(
            {
                "alias": entry.alias,
                "path": entry.path,
                "local": entry.local,
                "snapshots": snaps,
                "last_backup": snaps[-1]["time"] if snaps else None,
            }
        )
    if args.json:
        _print_json({"backups": backups})
    return 0


CHECK_CODES = {"healthy": 0, "needs-repair": 9, "unrecoverable": 10}


def _check_json(report: CheckReport) -> dict[str, object]:
    return {
        "result": report.verdict,
        "files": report.files,
        "directories": report.directories,
        "healthy": report.healthy,
        "needs_repair": report.needs_repair,
        "unrecoverable": report.unrecoverable,
        "repaired": report.repaired,
        "complete": report.complete,
    }


def _check_line(name: str, report: CheckReport, repair: bool) -> str:
    line = (
        f"{name}: {report.files} files, {report.directories} directories: "
        f"{report.healthy} healthy, {report.needs_repair} need repair, "
        f"{report.unrecoverable} unrecoverable"
    )
    if repair:
        line += f"; {report.repaired} repaired"
    if not report.complete:
        line += "; the walk stopped at a directory it could not read"
    return line


_CHECK_VERDICTS = {
    "healthy": "all healthy",
    "needs-repair": "some data needs repair: run `htb check --repair` (with every server up)",
    "unrecoverable": "some data cannot be rebuilt now (are enough servers up? see `htb status`)",
}


def cmd_check(args: argparse.Namespace, make_client: ClientFactory) -> int:
    entries = ops.select(_open_full(args), args.aliases)
    aliases = list(dict.fromkeys(e.alias for e in entries))
    reports = ops.check(make_client(args), aliases, repair=args.repair, say=_say, wait=args.timeout)
    total = sum(reports.values(), CheckReport())
    if args.json:
        _print_json(
            {
                "repair": args.repair,
                **_check_json(total),
                "aliases": [{"alias": a, **_check_json(r)} for a, r in reports.items()],
            }
        )
    else:
        for alias, report in reports.items():
            print(_check_line(f"alias {alias}", report, args.repair))
        if len(reports) > 1:
            print(_check_line("total", total, args.repair))
        print(f"result: {_CHECK_VERDICTS[total.verdict]}")
    return CHECK_CODES[total.verdict]


def cmd_restore(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open_full(args)
    entries = ops.select(manifest, args.entries)
    done = restore.restore(
        make_client(args),
        entries,
        snapshot=args.snapshot,
        root=Path(args.to) if args.to else None,
        overwrite=args.overwrite,
        say=_say,
        progress=_progress(args.verbose),
        wait=args.timeout,
    )
    _say(f"restored and verified {len(done)} director{'y' if len(done) == 1 else 'ies'}")
    return 0


def cmd_new_manifest(args: argparse.Namespace, make_client: ClientFactory) -> int:
    template = _read_plaintext(args.template, template=True)
    secret = _passphrase(args, confirm=True)
    pw.check(secret, allow_weak=args.allow_weak_passphrase)
    tor = _tor(args, template)
    manifest = ops.create_backups(make_client(args), template, tor, say=_say, wait=args.timeout)
    _write_output(
        args.output, seal(manifest, secret, armored=args.armor, kdf=_kdf(args)), "sealed manifest"
    )
    return 0


# --- parser ------------------------------------------------------------------------
_WORDS_RANGE = f"must be a whole number from {pw.MIN_WORDS} to {pw.MAX_WORDS}"
_SECONDS = "must be a number of seconds, 0 or more"
# Details of argparse messages that are shown as they are (they hold no value).
_OWN_DETAILS = frozenset({_WORDS_RANGE, _SECONDS})
_KEPT_DETAIL = re.compile(
    r"expected (one|at most one|at least one|\d+) arguments?"
    r"|not allowed with argument [\w/-]+"
)
_ARGUMENT = re.compile(r"argument ([\w/-]+): (.*)", re.DOTALL)
_NAMES_ONLY = re.compile(
    r"(the following arguments are required: |one of the arguments )[\w/, -]+( is required)?"
)
_OPTION_NAME = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _option_name(token: str) -> str | None:
    """The option name a command-line token gives (never its value); None for a positional."""
    if token.startswith("--") and len(token) > 2:
        name = token.split("=", 1)[0]
    elif token.startswith("-") and len(token) > 1:
        name = token[:2]  # -xVALUE: a short option with its value attached
    else:
        return None
    return name if _OPTION_NAME.fullmatch(name) else None


def _unrecognized(tokens: Sequence[str]) -> str:
    """Say which options were not understood, naming no value and no positional token."""
    names = list(dict.fromkeys(n for t in tokens if (n := _option_name(t)) is not None))
    others = len(tokens) - sum(1 for t in tokens if _option_name(t) is not None)
    parts = []
    if names:
        parts.append(f"unrecognized option{'s' if len(names) > 1 else ''} {', '.join(names)}")
    if others:
        parts.append(f"{others} unexpected argument{'s' if others > 1 else ''}")
    return " and ".join(parts) or "unrecognized arguments"


def _safe_usage(message: str) -> str:
    """An argparse message with every value the user typed left out.

    argparse quotes values ("invalid int value: 'SECRET'", "unrecognized
    arguments: --passphrase SECRET"): only known shapes are kept, the rest is
    replaced by what kind of problem it is.
    """
    if _NAMES_ONLY.fullmatch(message):
        return message
    if message.startswith("ambiguous option"):
        return "ambiguous option"
    if message.startswith("unrecognized arguments"):
        return "unrecognized arguments"
    match = _ARGUMENT.fullmatch(message)
    if match is None:
        return "invalid command line"
    name, detail = match.groups()
    if detail in _OWN_DETAILS or _KEPT_DETAIL.fullmatch(detail):
        safe = detail
    elif detail.startswith("invalid choice"):
        safe = "invalid choice"
    elif type_ := re.match(r"invalid (\w+) value", detail):
        safe = f"invalid {type_.group(1)} value"
    elif detail.startswith("ignored explicit argument"):
        safe = "takes no value"
    else:
        safe = "invalid value"
    return f"argument {name}: {safe}"


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors are one line that never shows a value (exit 2).

    Subparsers are made of this class too (add_subparsers uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.fail(_safe_usage(message))

    def fail(self, safe_message: str, *, prog: str | None = None) -> NoReturn:
        """Exit 2 with ``safe_message``, which must hold no value the user typed."""
        see = prog or self.prog
        self.exit(2, f"htb: error: {one_line(safe_message)} (see `{see} --help`)\n")


def _word_count(text: str) -> int:
    try:
        words = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_WORDS_RANGE) from None
    if not pw.MIN_WORDS <= words <= pw.MAX_WORDS:
        raise argparse.ArgumentTypeError(_WORDS_RANGE)
    return words


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_SECONDS) from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(_SECONDS)
    return seconds


def _parser() -> _Parser:
    # No abbreviations: `--passphrase SECRET` must not be taken for --passphrase-file.
    p = _Parser(
        allow_abbrev=False,
        prog="htb",
        description="Back up to, and restore from, a Tahoe-LAFS onion grid with a sealed manifest.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"htb {__version__}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    secret = _Parser(allow_abbrev=False, add_help=False)
    secret.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=f"read the passphrase from FILE's first line (else ${pw.ENV_VAR}, else a prompt)",
    )
    # Sealing without --armor (join, start: the form of the invitation is kept).
    sealing = _Parser(allow_abbrev=False, add_help=False)
    sealing.add_argument("--allow-weak-passphrase", action="store_true", help=argparse.SUPPRESS)
    sealing.add_argument(
        "--kdf-opslimit", type=int, default=DEFAULT_KDF.opslimit, help=argparse.SUPPRESS
    )
    sealing.add_argument(
        "--kdf-memlimit", type=int, default=DEFAULT_KDF.memlimit // 2**20, help=argparse.SUPPRESS
    )
    kdf = _Parser(allow_abbrev=False, add_help=False, parents=[sealing])
    kdf.add_argument("--armor", action="store_true", help="write the ASCII-armored text form")
    new_file_help = (
        f"read the new passphrase from FILE's first line (else ${pw.NEW_ENV_VAR}, else a "
        f"prompt, asked twice; never ${pw.ENV_VAR})"
    )
    new_secret = _Parser(allow_abbrev=False, add_help=False)
    new_secret.add_argument("--new-passphrase-file", metavar="FILE", help=new_file_help)
    node = _Parser(allow_abbrev=False, add_help=False)
    node.add_argument(
        "--node-directory",
        "-d",
        default=str(nodedir.default_node_dir()),
        help="the client node's directory, in RAM for one session (default: $HTB_NODE_DIR, "
        "else $XDG_RUNTIME_DIR/htb-node, else /tmp/htb-<uid>/node)",
    )
    node.add_argument("--web-port", default=settings.WEB_PORT, help=argparse.SUPPRESS)
    node.add_argument(
        "--timeout", type=_seconds, default=settings.GRID_WAIT, help="seconds to wait for the grid"
    )
    manifest = _Parser(allow_abbrev=False, add_help=False, parents=[secret])
    manifest.add_argument(
        "--manifest",
        "-m",
        default=os.environ.get("HTB_MANIFEST"),
        help="the sealed manifest (default: $HTB_MANIFEST)",
    )
    tor = _Parser(allow_abbrev=False, add_help=False)
    tor.add_argument(
        "--tor-socks-port",
        default=os.environ.get(settings.SOCKS_PORT_ENV, settings.SOCKS_PORT),
        help=f"tor's SOCKS endpoint (default: ${settings.SOCKS_PORT_ENV} or {settings.SOCKS_PORT})",
    )
    tor.add_argument(
        "--tor-control-port",
        default=None,
        help="tor's control endpoint (enables Tahoe's HTTPS storage protocol)",
    )
    tor.add_argument(
        "--unsafe-no-tor",
        action="store_true",
        help="plain TCP, for test grids on 127.0.0.1 only",
    )
    entries = _Parser(allow_abbrev=False, add_help=False)
    entries.add_argument("entries", nargs="*", metavar="ENTRY", help="alias or path (default: all)")
    entries.add_argument("--verbose", "-v", action="store_true", help="show tahoe's per-file lines")

    def verb(
        name: str, func: Callable[..., int], help_: str, *parents: _Parser
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name, help=help_, description=help_, parents=list(parents), allow_abbrev=False
        )
        sp.set_defaults(func=func)
        return sp

    sp = verb("passphrase", cmd_passphrase, "print a new high-entropy word passphrase")
    sp.add_argument(
        "--words",
        type=_word_count,
        default=pw.DEFAULT_WORDS,
        help=f"how many words, {pw.MIN_WORDS} to {pw.MAX_WORDS} (default: {pw.DEFAULT_WORDS}; "
        "`htb seal` refuses fewer than 5)",
    )

    sp = verb("seal", cmd_seal, "seal a plaintext manifest (JSON) with a passphrase", secret, kdf)
    sp.add_argument("plaintext", help="the manifest JSON, or - for standard input")
    sp.add_argument("--output", "-o", help="where to write (default: standard output)")

    sp = verb("unseal", cmd_unseal, "print the plaintext of a sealed manifest", secret)
    sp.add_argument("sealed")
    sp.add_argument("--output", "-o", help="where to write (default: standard output)")

    sp = verb(
        "convert",
        cmd_convert,
        "reseal a 2014 hidden-tahoe-backup manifest",
        secret,
        kdf,
        new_secret,
    )
    sp.add_argument("sealed")
    sp.add_argument("--output", "-o", required=True)

    verb(
        "init",
        cmd_init,
        "build the client node directory from the manifest, without starting it",
        manifest,
        node,
        tor,
    )
    joining = _Parser(allow_abbrev=False, add_help=False, parents=[sealing])
    choice = joining.add_mutually_exclusive_group()
    choice.add_argument("--new-passphrase-file", metavar="FILE", help=new_file_help)
    choice.add_argument(
        "--keep-passphrase",
        action="store_true",
        help="keep the operator's passphrase for your manifest (discouraged: the operator "
        "knows it)",
    )
    verb(
        "start",
        cmd_start,
        "build the client node afresh from the manifest, in RAM, and start it (an "
        "invitation is made yours first, as `htb join` does)",
        manifest,
        node,
        tor,
        joining,
    )
    verb("stop", cmd_stop, "stop the client node and delete its directory", node)
    sp = verb(
        "join",
        cmd_join,
        "make an operator's invitation yours: create your directories on the grid and seal "
        "your own manifest over it, under your own passphrase; the node keeps running",
        manifest,
        node,
        tor,
        joining,
    )
    sp.add_argument(
        "invitation",
        nargs="?",
        metavar="FILE",
        help="your sealed invitation (the .htbm.asc file beside the bundle): installed at "
        "--manifest first, where no other manifest is (default: the one installed)",
    )
    sp.add_argument(
        "--replace-manifest",
        dest="replace",
        action="store_true",
        help="with FILE: replace a different manifest installed at --manifest",
    )
    sp = verb(
        "export",
        cmd_export,
        "a copy of your manifest for trusted friends: resealed (fresh salt and nonce) under "
        "the same passphrase, or a new one",
        manifest,
        kdf,
        new_secret,
    )
    sp.add_argument("--output", "-o", required=True, help="where to write the copy")
    sp.add_argument(
        "--qr", metavar="PNG", help="also write a QR code (PNG) of the armored copy to PNG"
    )
    sp.add_argument(
        "--new-passphrase",
        action="store_true",
        help=f"seal the copy under a new passphrase (--new-passphrase-file, ${pw.NEW_ENV_VAR}, "
        "or asked twice)",
    )
    as_json = _Parser(allow_abbrev=False, add_help=False)
    as_json.add_argument(
        "--json",
        action="store_true",
        help="one JSON object on standard output (see docs/activist-guide.md)",
    )
    verb("status", cmd_status, "connected storage servers against shares.happy", node, as_json)
    verb(
        "backup",
        cmd_backup,
        "back up each manifest entry: a new snapshot, Latest updated",
        manifest,
        node,
        entries,
    )
    verb(
        "snapshots",
        cmd_snapshots,
        "list the snapshots of each entry",
        manifest,
        node,
        entries,
        as_json,
    )
    sp = verb(
        "check",
        cmd_check,
        "deep-check your backups on the grid, renewing their leases: how many files and "
        "directories are healthy, need repair, or are unrecoverable (exit 0, 9 or 10)",
        manifest,
        node,
        as_json,
    )
    sp.add_argument(
        "aliases",
        nargs="*",
        metavar="ALIAS",
        help="an alias of your backups, or an entry's path (default: every alias)",
    )
    sp.add_argument(
        "--repair",
        action="store_true",
        help="also repair what is recoverable (needs shares.happy servers)",
    )
    sp = verb(
        "restore",
        cmd_restore,
        "restore each entry, verified, never overwriting unasked",
        manifest,
        node,
        entries,
    )
    sp.add_argument("--snapshot", help="a name from `htb snapshots` (default: Latest)")
    sp.add_argument("--to", metavar="ROOT", help="restore under ROOT instead of in place")
    sp.add_argument(
        "--overwrite", action="store_true", help="replace non-empty targets (old copy kept aside)"
    )

    sp = verb(
        "new-manifest",
        cmd_new_manifest,
        "create the template's aliases on the grid, add a convergence secret, seal the result",
        secret,
        kdf,
        node,
        tor,
    )
    sp.add_argument("template", help="manifest JSON; backup aliases it does not define are created")
    sp.add_argument("--output", "-o", required=True)
    return p


def _stdout_gone() -> None:
    """After a broken pipe: send what is left to /dev/null, so exiting adds no second line."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _error(message: str) -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end a progress line
    _say(f"error: {message}")


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    """Report a failure: one line on stderr; with --json, also its object on stdout."""
    _error(message)
    if getattr(args, "json", False):
        with contextlib.suppress(OSError):
            _print_json({"error": one_line(message), "exit": code})
    return code


def main(argv: Sequence[str] | None = None, client_factory: ClientFactory = default_client) -> int:
    # First: every file htb or a tahoe it starts writes is the user's alone.
    os.umask(0o077)
    parser = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.fail(
            _unrecognized(extras), prog=f"{parser.prog} {getattr(args, 'verb', '')}".strip()
        )
    try:
        code: int = args.func(args, client_factory)
    except KeyboardInterrupt:
        _say("interrupted")
        if getattr(args, "json", False):
            _print_json({"error": "interrupted", "exit": 130})
        return 130
    except BrokenPipeError:
        _stdout_gone()
        _error("the output was closed before everything was written")
        return 1
    except Exception as exc:
        # htb's errors, OSError, and last, a bug: reported without its message (it
        # could quote a value). MemoryError and RecursionError are Exceptions too.
        message, code = session.describe_error(exc)
        return _failed(args, message, code)
    return code
