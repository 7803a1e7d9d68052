"""install.py of an htb bundle: htb and tahoe-lafs into Persistent Storage, as the user.

This file is copied, unchanged, into every bundle (``htb-<version>.run``, built by
:mod:`htb.bundle`) as ``install.py``. The bundle's shell header runs it with
``python3`` after it checked the bundle's OpenPGP signature and unpacked the payload
into a private directory in RAM. It uses the standard library only and runs on
Tails 7's Python 3.13 (and 3.11).

What it does, in this order, and nothing else:

1. checks the payload: every file listed in ``SHA256SUMS`` with its digest, no file
   missing, none extra, and every wheel's digest in ``requirements.txt`` - before it
   writes anything;
2. refuses root (unless ``--allow-root``), a missing Persistent Folder, a Python other
   than the one the wheels were built for, an older htb than the one installed
   (unless ``--force-downgrade``), and a manifest it must not replace;
3. compares what is installed with what the bundle installs and, unless ``--check``,
   changes only what differs: a virtualenv per bundle (``venv-<id>``, with
   ``venv`` a link to it, switched only once the new one is complete), the commands
   ``bin/htb`` and ``bin/htb-gui``, the desktop launcher and the ``htb`` command in
   Tails' Dotfiles (and linked into the home directory now), and, only when given
   one (``--manifest FILE``), a sealed manifest where none is (never replaced
   unasked).

The bundle holds no manifest: an upgrade never reads, writes or moves the one
installed. Her invitation travels beside the bundle; the app's first screen or
``htb join FILE`` installs it.

Files 0600, directories 0700 (the virtualenv's programs 0700), all the running
user's. Exit codes: see ``EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROG = "htb-install"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SIGNATURE = 3
EXIT_PAYLOAD = 4
EXIT_SYSTEM = 5
EXIT_MANIFEST = 6
EXIT_INSTALL = 7
EXIT_DOWNGRADE = 8

EXIT_CODES = {
    EXIT_OK: "installed, or already installed (with --check: the report was made)",
    EXIT_ERROR: "an unexpected local error (a file could not be read or written)",
    EXIT_USAGE: "bad options",
    EXIT_SIGNATURE: "the signature, checked again by the bundle's header: no .sig or no "
    "operator.gpg beside the bundle, no gpg, a bad signature or another key's",
    EXIT_PAYLOAD: "the bundle's content does not match its SHA256SUMS or its wheels' hashes",
    EXIT_SYSTEM: "this system: run as root, no Persistent Storage, another Python",
    EXIT_MANIFEST: "a different manifest is installed (--replace-manifest replaces it)",
    EXIT_INSTALL: "creating the virtualenv or installing the wheels failed",
    EXIT_DOWNGRADE: "a newer htb is installed than this bundle's (--force-downgrade goes back)",
}

PERSISTENCE = "/live/persistence/TailsData_unlocked"
# The operator's public key beside the bundle: a keyring file, which gpg reads without
# importing anything into the person's own keyring.
OPERATOR_KEY = "operator.gpg"
SUMS = "SHA256SUMS"
BUNDLE_JSON = "bundle.json"
REQUIREMENTS = "requirements.txt"
DESKTOP = "htb-backup.desktop"
STATE = "installed.json"
# Left in Persistent Storage by the Ansible role that installed htb before bundles.
LEGACY = ("wheelhouse", "wheelhouse.tar", "bin/htb-backup-now", "node")

COMMAND = """\
#!/bin/sh
# {prog} on Tails, installed by the htb bundle {bundle}. Its tooling and the sealed
# manifest live in Persistent Storage ({dir}); the Tahoe client node does not:
# `htb start` builds it from the manifest in RAM and `htb stop` deletes it.
HTB_TAHOE="{dir}/venv/bin/tahoe"
HTB_MANIFEST="${{HTB_MANIFEST:-{dir}/manifest.htbm}}"
# The system tor's SOCKS port; Tails filters the control port, so the node
# speaks Foolscap only.
HTB_TOR_SOCKS_PORT="${{HTB_TOR_SOCKS_PORT:-tcp:127.0.0.1:{socks}}}"
export HTB_TAHOE HTB_MANIFEST HTB_TOR_SOCKS_PORT
exec "{dir}/venv/bin/{prog}" "$@"
"""

DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Name=Backups (htb)
Comment=Back up the folders named in your sealed manifest, through Tor
Exec={exec}
Terminal=false
Icon=drive-harddisk
Categories=Utility;
"""


# Where the fingerprint goes in the documented command. Not a word: gpg reads an
# --assert-signer value that is not 40 (or 64) hex digits as the name of a file of
# fingerprints, in the current folder - which whoever carried the files controls.
# Left unchanged, 40 zeros match no key: the check fails closed.
PLACEHOLDER = "0" * 40


def check_command(run: str, fingerprint: str = PLACEHOLDER) -> str:
    """What a person types on Tails, in the folder of the three files, before anything runs.

    Tails' own gpg checks that the key whose fingerprint she got in person made the
    signature (``--assert-signer`` compares gpg's computed fingerprint, never a user
    ID) using operator.gpg as the only keyring, so nothing enters her own; only then
    does ``sh`` run the bundle. The bundle's header cannot be this check: a substitute's
    header is the substitute's.
    """
    return (
        f"gpg --no-default-keyring --keyring ./{OPERATOR_KEY} --trust-model always \\\n"
        f"  --assert-signer {fingerprint} \\\n"
        f"  --verify {run}.sig {run} && sh {run}"
    )


STAGES = {"dev": -4, "a": -3, "b": -2, "rc": -1, "": 0, "post": 1}


def version_key(version: str) -> tuple[tuple[int, ...], int, int]:
    """An order of release versions: 0.2.0 < 0.10.0; 1.0.dev1 < 1.0a1 < 1.0rc1 < 1.0 < 1.0.post1."""
    m = re.fullmatch(r"(\d+(?:\.\d+){0,3})(?:(a|b|rc)(\d*))?(?:\.(post|dev)(\d+))?", version)
    if not m:
        raise Refusal(EXIT_PAYLOAD, f"not a release version: {version!r}")
    release = tuple(int(n) for n in m.group(1).split("."))
    release += (0,) * (4 - len(release))
    if m.group(4):
        return release, STAGES[m.group(4)], int(m.group(5))
    return release, STAGES[m.group(2) or ""], int(m.group(3) or 0)


class Refusal(Exception):
    """One line for the person, and the exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the payload ----------------------------------------------------------------------
@dataclass(frozen=True)
class Payload:
    root: Path
    version: str
    python: str
    bundle_id: str
    pip_wheel: Path


def check_payload(root: Path) -> Payload:
    """Every file as SHA256SUMS says, and every wheel as requirements.txt says."""
    sums = root / SUMS
    try:
        lines = sums.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Refusal(EXIT_PAYLOAD, f"the bundle has no readable {SUMS}: {exc}") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        m = re.fullmatch(r"([0-9a-f]{64})  ([^/\s][^\s]*)", line)
        if not m or ".." in m.group(2).split("/") or m.group(2) in listed:
            raise Refusal(EXIT_PAYLOAD, f"{SUMS} line {number} is malformed")
        listed[m.group(2)] = m.group(1)
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not p.is_dir() and p.relative_to(root).as_posix() != SUMS
    }
    if extra := sorted(present - set(listed)):
        raise Refusal(EXIT_PAYLOAD, f"the bundle holds a file {SUMS} does not list: {extra[0]}")
    if missing := sorted(set(listed) - present):
        raise Refusal(EXIT_PAYLOAD, f"a file {SUMS} lists is missing: {missing[0]}")
    for rel, want in sorted(listed.items()):
        path = root / rel
        if path.is_symlink() or not path.is_file():
            raise Refusal(EXIT_PAYLOAD, f"{rel} in the bundle is not a plain file")
        if sha256_file(path) != want:
            raise Refusal(EXIT_PAYLOAD, f"{rel} does not match its digest in {SUMS}: altered")
    try:
        meta = json.loads((root / BUNDLE_JSON).read_text(encoding="utf-8"))
        version, python = str(meta["version"]), meta["python"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Refusal(EXIT_PAYLOAD, f"the bundle's {BUNDLE_JSON} is unreadable") from None
    wheels = {p.name: p for p in (root / "wheels").glob("*.whl")}
    required: dict[str, str] = {}
    for line in (root / REQUIREMENTS).read_text(encoding="ascii").splitlines():
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s]+) --hash=sha256:([0-9a-f]{64})", line)
        if not m:
            raise Refusal(EXIT_PAYLOAD, f"a line of {REQUIREMENTS} is malformed")
        required[m.group(3)] = m.group(1)
    digests = {sha256_file(p): n for n, p in wheels.items()}
    for digest, wheel in sorted(digests.items()):
        if digest not in required:
            raise Refusal(EXIT_PAYLOAD, f"{wheel} matches no hash in {REQUIREMENTS}")
    for digest, project in sorted(required.items()):
        if digest not in digests:
            raise Refusal(EXIT_PAYLOAD, f"no wheel matches the hash of {project} in {REQUIREMENTS}")
    pips = sorted(n for n in wheels if n.startswith("pip-"))
    if not pips:
        raise Refusal(EXIT_PAYLOAD, "the bundle has no pip wheel")
    requirements_digest = sha256_file(root / REQUIREMENTS)
    version_key(version)  # a version the installer can order, or a refusal
    return Payload(
        root=root,
        version=version,
        python=str(python),
        # The tools this bundle installs: its wheels, for its Python.
        bundle_id=hashlib.sha256(f"{requirements_digest} {python}".encode()).hexdigest(),
        pip_wheel=wheels[pips[-1]],
    )


# --- what to change -------------------------------------------------------------------
@dataclass
class Plan:
    changes: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, do: Callable[[], None]) -> None:
        self.changes.append((what, do))


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically: a temporary file beside it, renamed over it."""
    # htb.files.write_atomic's twin: this installer runs on the standard library
    # alone, before the htb it installs can be imported.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plan_dir(plan: Plan, path: Path, *, enforce_mode: bool = True) -> None:
    if not path.is_dir():  # a link to a directory will do (a file there: an error)
        plan.add(f"create {path}/", lambda: path.mkdir(mode=0o700))
    elif enforce_mode and path.stat().st_mode & 0o777 != 0o700:
        plan.add(f"make {path}/ private (0700)", lambda: path.chmod(0o700))


def plan_file(plan: Plan, path: Path, data: bytes, mode: int) -> None:
    if (
        path.is_symlink()
        or not path.is_file()
        or path.stat().st_mode & 0o777 != mode
        or path.read_bytes() != data
    ):
        plan.add(f"write {path}", lambda: write_file(path, data, mode))


def plan_link(plan: Plan, link: Path, target: Path) -> None:
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    if link.exists() and link.is_dir() and not link.is_symlink():
        raise Refusal(EXIT_ERROR, f"{link} is a directory; it should link to {target}")

    def do() -> None:
        tmp = link.with_name(f".{link.name}.htb-new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)

    plan.add(f"link {link} -> {target}", do)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def install_venv(payload: Payload, venv: Path) -> None:
    """A fresh virtualenv at its final path (its scripts name their interpreter by path)."""
    if venv.exists():
        shutil.rmtree(venv)
    try:
        run(
            [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
            "creating the virtualenv",
        )
        run(
            [
                str(venv / "bin" / "python"),
                str(payload.pip_wheel / "pip"),
                "install",
                "--no-index",
                "--require-hashes",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
                # System site packages are visible (python3-gi for the window), but the
                # hashed wheels are installed whatever Debian has.
                "--ignore-installed",
                "--quiet",
                "--find-links",
                str(payload.root / "wheels"),
                "-r",
                str(payload.root / REQUIREMENTS),
            ],
            "installing the wheels",
        )
        private(venv)
    except Refusal:
        shutil.rmtree(venv, ignore_errors=True)
        raise


def private(root: Path) -> None:
    """Nothing for group or others (pip makes its scripts 0755 whatever the umask)."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode & 0o7777
            if mode & 0o077:
                path.chmod(mode & 0o700)


def run(cmd: Sequence[str], what: str) -> None:
    done = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise Refusal(EXIT_INSTALL, f"{what} failed (exit {done.returncode}): {last}")


def installed_state(base: Path) -> dict[str, str]:
    """What installed.json says was installed (nothing: before the first install)."""
    try:
        state = json.loads((base / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in state.items() if isinstance(v, str)} if isinstance(state, dict) else {}


def check_downgrade(args: argparse.Namespace, payload: Payload, base: Path) -> None:
    """An older bundle than the installed htb is refused, unless forced (before any change)."""
    # An installation by a bundle of format 1 recorded no version: any version is newer.
    installed = installed_state(base).get("version")
    if installed is None or args.force_downgrade:
        return
    try:
        newer = version_key(installed) > version_key(payload.version)
    except Refusal:  # an installed.json this installer cannot order: not a reason to stop
        return
    if newer:
        raise Refusal(
            EXIT_DOWNGRADE,
            f"htb {installed} is installed, newer than this bundle's {payload.version}: "
            "nothing changed (--force-downgrade installs the older one)",
        )


def plan_tools(plan: Plan, payload: Payload, base: Path) -> None:
    venv = base / f"venv-{payload.bundle_id[:16]}"
    link = base / "venv"
    state = base / STATE
    installed = installed_state(base).get("bundle_id")
    complete = (venv / "bin" / "python").exists() and (venv / "bin" / "htb").exists()
    if installed != payload.bundle_id or not complete:
        plan.add(f"install htb and tahoe-lafs into {venv}", lambda: install_venv(payload, venv))
    # `venv` is a link, switched once the new virtualenv is complete; a virtualenv
    # directory there (installed before bundles) goes first.
    if link.is_symlink() or not link.exists():
        plan_link(plan, link, Path(venv.name))
    else:
        plan.add(f"remove the old virtualenv {link}", lambda: remove(link))
        plan.add(f"link {link} -> {venv.name}", lambda: link.symlink_to(venv.name))
    record = json.dumps(
        {"bundle_id": payload.bundle_id, "version": payload.version, "python": payload.python},
        indent=2,
        sort_keys=True,
    ).encode()
    plan_file(plan, state, record + b"\n", 0o600)
    for old in sorted(base.glob("venv-*")):
        if old.name != venv.name:
            plan.add(f"remove the previous virtualenv {old}", functools.partial(remove, old))
    for rel in LEGACY:
        old = base / rel
        if old.exists() or old.is_symlink():
            plan.add(f"remove {old} (left by an earlier install)", functools.partial(remove, old))


def plan_manifest(plan: Plan, args: argparse.Namespace, target: Path) -> None:
    """A given sealed manifest (--manifest) where none is; without one, nothing at all."""
    if args.manifest is None:
        if not target.exists() and not target.is_symlink():
            plan.notes.append(
                f"no manifest at {target} yet: open your invitation (the .htbm.asc file "
                "beside the bundle) in the Backups app, or run: htb join FILE"
            )
        return
    source = Path(args.manifest)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise Refusal(EXIT_ERROR, f"cannot read the manifest {source}: {exc.strerror}") from None
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise Refusal(EXIT_MANIFEST, f"{target} is not a plain file; move it away first")
    if target.exists():
        if target.read_bytes() == data:
            if target.stat().st_mode & 0o777 != 0o600:
                plan.add(f"make {target} private (0600)", lambda: target.chmod(0o600))
            return
        if not args.replace_manifest:
            if not args.keep_manifest:
                raise Refusal(
                    EXIT_MANIFEST,
                    f"a different manifest is installed at {target} (perhaps your own, "
                    "sealed by htb): it is kept; add --replace-manifest to replace it",
                )
            plan.notes.append(f"kept the manifest installed at {target} (never replaced unasked)")
            return
    what = "replace" if target.exists() else "install"
    plan.add(f"{what} the sealed manifest {target}", lambda: write_file(target, data, 0o600))


def plan_all(args: argparse.Namespace, payload: Payload) -> Plan:
    home = Path(args.home)
    base = Path(args.dir)
    persistence = Path(args.persistence)
    plan = Plan()
    # Planned whole before anything is done, so that any refusal comes first; done in
    # this order.
    plan_dir(plan, base)
    plan_dir(plan, base / "bin")
    check_downgrade(args, payload, base)
    plan_tools(plan, payload, base)
    for prog in ("htb", "htb-gui"):
        text = COMMAND.format(
            prog=prog, bundle=payload.version, dir=base, socks=args.tor_socks_port
        )
        plan_file(plan, base / "bin" / prog, text.encode(), 0o700)
    plan_manifest(plan, args, base / "manifest.htbm")
    dotfiles = persistence / "dotfiles"
    if not dotfiles.is_dir():
        plan.notes.append(
            f"no {dotfiles}: turn on the Dotfiles feature of Persistent Storage and run "
            f"this again for the launcher; until then run {base}/bin/htb"
        )
        return plan
    linked = [".local/bin/htb", f".local/share/applications/{DESKTOP}"]
    for rel in (".local", ".local/bin", ".local/share", ".local/share/applications"):
        plan_dir(plan, dotfiles / rel, enforce_mode=False)
    plan_link(plan, dotfiles / linked[0], base / "bin" / "htb")
    gui = str(base / "bin" / "htb-gui")
    if re.search(r'[\s"\\`$]', gui):  # quoted as the Desktop Entry Specification says
        gui = '"' + re.sub(r'(["`$\\])', r"\\\1", gui) + '"'
    entry = DESKTOP_ENTRY.format(exec=gui).encode()
    plan_file(plan, dotfiles / linked[1], entry, 0o600)
    if args.link_home:
        # Tails links Dotfiles into the home directory at each start; the same now.
        for rel in (".local", ".local/bin", ".local/share", ".local/share/applications"):
            plan_dir(plan, home / rel, enforce_mode=False)
        for rel in linked:
            plan_link(plan, home / rel, dotfiles / rel)
    return plan


# --- the command ----------------------------------------------------------------------
def parser(
    home: str | None = None, prog: str = PROG, run: str = "htb-VERSION.run"
) -> argparse.ArgumentParser:
    home = home or os.environ.get("HOME") or str(Path.home())
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    check = "\n".join(f"  {line}" for line in check_command(run).splitlines())
    p = argparse.ArgumentParser(
        prog=prog,
        description="Install htb and tahoe-lafs from this bundle into Persistent Storage,\n"
        "as the current user (never root). A second run of the same bundle changes\n"
        "nothing. Run it only after Tails' gpg checked it, in one command, in the\n"
        f"folder of the bundle, its .sig and {OPERATOR_KEY}, with the 40 zeros replaced\n"
        "by the fingerprint the operator gave you in person (40 characters, no spaces,\n"
        "no quotes):\n\n"
        f"{check}\n\n"
        "sh runs only if gpg found a good signature by that key (gpg exits 1 for\n"
        f"another key's or a bad one, 2 without {OPERATOR_KEY} or a 40-character\n"
        "fingerprint). Never take the fingerprint from a file or from gpg's lines: any\n"
        "key's name can hold it.",
        epilog=f"exit codes:\n{codes}",
        # A fixed width: the help is written into every bundle's header, which must
        # not change with the builder's terminal ($COLUMNS).
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=79),
    )
    p.add_argument("--check", action="store_true", help="report what would change; write nothing")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="also install this sealed manifest where none is: your invitation (the "
        ".htbm.asc file beside the bundle) or a friend's copy of yours. Without it, the "
        "installed manifest is never touched",
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--replace-manifest",
        action="store_true",
        help="replace a different manifest already installed (after first use it is yours!)",
    )
    keep.add_argument(
        "--keep-manifest",
        action="store_true",
        help="with --manifest: keep a different manifest already installed, with a note, "
        "instead of refusing (a re-run by Ansible)",
    )
    p.add_argument("--home", default=home, help="the home directory (default: %(default)s)")
    p.add_argument(
        "--persistence",
        default=PERSISTENCE,
        help="the unlocked Persistent Storage (default: %(default)s)",
    )
    p.add_argument(
        "--persistent-folder",
        help="the Persistent Folder (default: HOME/Persistent)",
    )
    p.add_argument("--dir", help="where htb lives (default: PERSISTENT_FOLDER/.htb)")
    p.add_argument("--tor-socks-port", type=int, default=9050, help="tor's SOCKS port")
    p.add_argument(
        "--no-link-home",
        dest="link_home",
        action="store_false",
        help="do not link the command and the launcher into the home directory now",
    )
    p.add_argument(
        "--force-downgrade",
        action="store_true",
        help="install this bundle even if a newer htb is installed (the manifest is kept)",
    )
    p.add_argument("--allow-root", action="store_true", help="run as root (nothing needs it)")
    p.add_argument("--bundle-dir", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    args.persistent_folder = args.persistent_folder or str(Path(args.home) / "Persistent")
    args.dir = args.dir or str(Path(args.persistent_folder) / ".htb")
    try:
        payload = check_payload(Path(args.bundle_dir or Path(__file__).resolve().parent))
        if os.geteuid() == 0 and not args.allow_root:
            raise Refusal(
                EXIT_SYSTEM,
                "refusing to run as root: run it as the Tails user (amnesia), without sudo",
            )
        if not Path(args.persistent_folder).is_dir():
            raise Refusal(
                EXIT_SYSTEM,
                f"{args.persistent_folder} does not exist: unlock Persistent Storage (with "
                "its Persistent Folder feature) before installing htb, or everything is "
                "lost at the next reboot",
            )
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if here != payload.python:
            raise Refusal(
                EXIT_SYSTEM,
                f"this system has Python {here}, the bundle's wheels are for Python "
                f"{payload.python}: ask the operator for a bundle for this system",
            )
        plan = plan_all(args, payload)
        for note in plan.notes:
            print(f"{PROG}: {note}")
        if not plan.changes:
            would = "would change" if args.check else "changed"
            print(f"{PROG}: htb is already installed in {args.dir}; nothing {would}")
            return EXIT_OK
        for what, do in plan.changes:
            print(f"{PROG}: {'would ' if args.check else ''}{what}")
            if not args.check:
                do()
        if args.check:
            print(f"{PROG}: {len(plan.changes)} change(s) to make in {args.dir}")
        else:
            print(
                f"{PROG}: installed htb {payload.version} in {args.dir}; "
                "run: htb start (or the Backups launcher)"
            )
        return EXIT_OK
    except Refusal as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # one line for a person, not a traceback
        print(f"{PROG}: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
