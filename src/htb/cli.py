"""The ``htb`` command: the verbs of the original hidden-tahoe-backup, as subcommands.

Passphrases come from ``--passphrase-file``, ``$HTB_PASSPHRASE`` or a prompt;
there is deliberately no option that takes one on the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from htb import __version__, ops
from htb import passphrase as pw
from htb.client import Client, Progress, TorSettings
from htb.errors import GridError, HtbError, ManifestInvalidError
from htb.manifest import (
    DEFAULT_KDF,
    KdfParams,
    Manifest,
    loads,
    read_sealed,
    seal,
    write_atomic,
)
from htb.tahoe import DEFAULT_WEB_PORT, TahoeClient

ClientFactory = Callable[[argparse.Namespace], Client]
_LOOPBACK_HINTS = ("tcp:127.0.0.1:", "tcp:localhost:", "127.0.0.1:", "localhost:")


def _say(message: str) -> None:
    print(f"htb: {message}", file=sys.stderr, flush=True)


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


def _open(args: argparse.Namespace) -> Manifest:
    if not args.manifest:
        raise ManifestInvalidError("no manifest: pass --manifest FILE or set HTB_MANIFEST")
    _say("opening the manifest (deriving the key takes a second)")
    return read_sealed(Path(args.manifest), _passphrase(args)).manifest


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
    hints = manifest.non_onion_hints()
    if args.unsafe_no_tor:
        remote = [h for h in hints if not h.startswith(_LOOPBACK_HINTS)]
        if remote or not hints:
            raise GridError(
                "--unsafe-no-tor is only for test grids on 127.0.0.1; this manifest "
                "points elsewhere, so it must be used over Tor"
            )
        return None
    if hints:
        raise GridError(
            f"manifest grid has a non-onion connection hint ({hints[0]}): htb joins only "
            "onion grids, where no server's or client's address is revealed"
        )
    return TorSettings(socks_port=args.tor_socks_port, control_port=args.tor_control_port)


# --- verbs -------------------------------------------------------------------------
def cmd_passphrase(args: argparse.Namespace, _: ClientFactory) -> int:
    print(pw.generate(args.words))
    _say(f"{args.words} words from the EFF long list: {pw.generated_bits(args.words):.0f} bits")
    return 0


def cmd_seal(args: argparse.Namespace, _: ClientFactory) -> int:
    if args.plaintext == "-":
        manifest = loads(sys.stdin.buffer.read())
    else:
        manifest = loads(Path(args.plaintext).read_bytes())
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
    text = json.dumps(opened.manifest.data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        _say("the plaintext holds your rootcaps: anyone who sees it can read your backups")
    _write_output(args.output, text.encode(), "plaintext manifest")
    return 0


def cmd_convert(args: argparse.Namespace, _: ClientFactory) -> int:
    _say("opening the old manifest (its scrypt key takes about 10 s)")
    opened = read_sealed(Path(args.sealed), _passphrase(args))
    new_file = Path(args.new_passphrase_file) if args.new_passphrase_file else None
    secret = pw.read(file=new_file, confirm=True, prompt="New passphrase: ")
    pw.check(secret, allow_weak=args.allow_weak_passphrase)
    _write_output(
        args.output,
        seal(opened.manifest, secret, armored=args.armor, kdf=_kdf(args)),
        "converted manifest",
    )
    return 0


def cmd_init(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open(args)
    make_client(args).configure(manifest, _tor(args, manifest))
    _say(f"node directory {args.node_directory} is ready (`htb start` runs it)")
    return 0


def cmd_start(args: argparse.Namespace, make_client: ClientFactory) -> int:
    client = make_client(args)
    if args.manifest:
        manifest = _open(args)
        client.configure(manifest, _tor(args, manifest))
    client.start(args.timeout)
    _say("the Tahoe client node is running; `htb status` shows its servers")
    return 0


def cmd_stop(args: argparse.Namespace, make_client: ClientFactory) -> int:
    make_client(args).stop()
    _say("the Tahoe client node is stopped")
    return 0


def cmd_status(args: argparse.Namespace, make_client: ClientFactory) -> int:
    status = make_client(args).status()
    if not status.running:
        print("node: stopped")
        return 1
    print(f"node: running; storage servers connected: {status.connected} of {len(status.servers)}")
    print(f"shares: needed {status.needed}, happy {status.happy}")
    for server in status.servers:
        print(f"  {'connected ' if server.connected else 'not connected'}  {server.nickname}")
    if status.can_upload:
        print("ready: backup and restore")
        return 0
    print("ready: restore only" if status.can_download else "ready: no (too few servers)")
    return 6


def cmd_backup(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open(args)
    entries = ops.select(manifest, args.entries)
    ops.backup(
        make_client(args), entries, say=_say, progress=_progress(args.verbose), wait=args.timeout
    )
    _say(f"backed up {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def cmd_snapshots(args: argparse.Namespace, make_client: ClientFactory) -> int:
    client = make_client(args)
    for entry in ops.select(_open(args), args.entries):
        for name in client.snapshots(entry):
            print(f"{entry.alias}:{entry.path}\t{name}")
    return 0


def cmd_restore(args: argparse.Namespace, make_client: ClientFactory) -> int:
    manifest = _open(args)
    entries = ops.select(manifest, args.entries)
    done = ops.restore(
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
    template = loads(Path(args.template).read_bytes(), template=True)
    secret = _passphrase(args, confirm=True)
    pw.check(secret, allow_weak=args.allow_weak_passphrase)
    client = make_client(args)
    client.configure(template, _tor(args, template))
    client.start(args.timeout)
    ops.wait_for_servers(client, template.shares[1], args.timeout)
    manifest = ops.new_manifest(client, template, say=_say)
    client.configure(manifest, _tor(args, manifest))
    _write_output(
        args.output, seal(manifest, secret, armored=args.armor, kdf=_kdf(args)), "sealed manifest"
    )
    return 0


# --- parser ------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    # No abbreviations: `--passphrase SECRET` must not be taken for --passphrase-file.
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="htb",
        description="Back up to, and restore from, a Tahoe-LAFS onion grid with a sealed manifest.",
    )
    p.add_argument("--version", action="version", version=f"htb {__version__}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    secret = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    secret.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=f"read the passphrase from FILE's first line (else ${pw.ENV_VAR}, else a prompt)",
    )
    kdf = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    kdf.add_argument("--armor", action="store_true", help="write the ASCII-armored text form")
    kdf.add_argument("--allow-weak-passphrase", action="store_true", help=argparse.SUPPRESS)
    kdf.add_argument(
        "--kdf-opslimit", type=int, default=DEFAULT_KDF.opslimit, help=argparse.SUPPRESS
    )
    kdf.add_argument(
        "--kdf-memlimit", type=int, default=DEFAULT_KDF.memlimit // 2**20, help=argparse.SUPPRESS
    )
    node = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    node.add_argument(
        "--node-directory",
        "-d",
        default=os.environ.get("HTB_NODE_DIR", str(Path.home() / ".htb" / "node")),
        help="the Tahoe client node directory (default: $HTB_NODE_DIR or ~/.htb/node)",
    )
    node.add_argument("--web-port", default=DEFAULT_WEB_PORT, help=argparse.SUPPRESS)
    node.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the grid")
    manifest = argparse.ArgumentParser(allow_abbrev=False, add_help=False, parents=[secret])
    manifest.add_argument(
        "--manifest",
        "-m",
        default=os.environ.get("HTB_MANIFEST"),
        help="the sealed manifest (default: $HTB_MANIFEST)",
    )
    tor = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    tor.add_argument(
        "--tor-socks-port",
        default=os.environ.get("HTB_TOR_SOCKS_PORT", "tcp:127.0.0.1:9050"),
        help="tor's SOCKS endpoint (default: $HTB_TOR_SOCKS_PORT or tcp:127.0.0.1:9050)",
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
    entries = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    entries.add_argument("entries", nargs="*", metavar="ENTRY", help="alias or path (default: all)")
    entries.add_argument("--verbose", "-v", action="store_true", help="show tahoe's per-file lines")

    def verb(
        name: str, func: Callable[..., int], help_: str, *parents: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name, help=help_, description=help_, parents=list(parents), allow_abbrev=False
        )
        sp.set_defaults(func=func)
        return sp

    sp = verb("passphrase", cmd_passphrase, "print a new high-entropy word passphrase")
    sp.add_argument("--words", type=int, default=pw.DEFAULT_WORDS)

    sp = verb("seal", cmd_seal, "seal a plaintext manifest (JSON) with a passphrase", secret, kdf)
    sp.add_argument("plaintext", help="the manifest JSON, or - for standard input")
    sp.add_argument("--output", "-o", help="where to write (default: standard output)")

    sp = verb("unseal", cmd_unseal, "print the plaintext of a sealed manifest", secret)
    sp.add_argument("sealed")
    sp.add_argument("--output", "-o", help="where to write (default: standard output)")

    sp = verb("convert", cmd_convert, "reseal a 2014 hidden-tahoe-backup manifest", secret, kdf)
    sp.add_argument("sealed")
    sp.add_argument("--output", "-o", required=True)
    sp.add_argument("--new-passphrase-file", help="passphrase for the new file (default: prompt)")

    verb(
        "init",
        cmd_init,
        "create or update the client node directory from the manifest",
        manifest,
        node,
        tor,
    )
    verb(
        "start",
        cmd_start,
        "start the client node (and update it from --manifest if given)",
        manifest,
        node,
        tor,
    )
    verb("stop", cmd_stop, "stop the client node", node)
    verb("status", cmd_status, "connected storage servers against shares.happy", node)
    verb(
        "backup",
        cmd_backup,
        "back up each manifest entry: a new snapshot, Latest updated",
        manifest,
        node,
        entries,
    )
    verb("snapshots", cmd_snapshots, "list the snapshots of each entry", manifest, node, entries)
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
        "create the template's aliases on the grid and seal the result",
        secret,
        kdf,
        node,
        tor,
    )
    sp.add_argument("template", help="manifest JSON; backup aliases it does not define are created")
    sp.add_argument("--output", "-o", required=True)
    return p


def main(argv: Sequence[str] | None = None, client_factory: ClientFactory = default_client) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args, client_factory)
    except HtbError as exc:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # end a progress line
        _say(f"error: {exc}")
        return exc.exit_code
    except OSError as exc:
        _say(f"error: {exc.filename or ''}: {exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    return code
