"""One signed bundle per release: ``htb-<version>.run``, installed on Tails without root.

A bundle is a POSIX sh header followed by an uncompressed tar payload, with a
detached OpenPGP signature ``htb-<version>.run.sig`` by the operator's key and that key
beside them as a keyring file, ``operator.gpg``. The person runs nothing of it before
Tails' own gpg has checked the signer against the fingerprint she got in person
(:func:`htb.bundle_installer.check_command`: ``--assert-signer``, operator.gpg as the
only keyring, then ``sh``): a substitute's header would be the substitute's. The
genuine header (``HEADER``) checks again - a ``VALIDSIG`` of the operator's
fingerprint, written into it at build time, on private copies - writes nothing but
a private temporary directory in RAM, unpacks the payload there and runs its
``install.py`` (:mod:`htb.bundle_installer`) with the options it was given.

The payload: ``install.py``, ``bundle.json`` (version, Python, fingerprint),
``requirements.txt`` (each wheel pinned with its sha256, for pip's
``--require-hashes``), ``wheels/*.whl`` (the wheelhouse that
``scripts/build-tails-wheelhouse`` makes) and ``SHA256SUMS`` of all of them. Tooling
only: no invitation, no secret, so one bundle serves every activist and can be
published openly. Her sealed invitation (``<name>.htbm.asc``) travels beside it; the
app's first screen or ``htb join FILE`` takes it. The version is htb's
(``htb.__version__``, the one number of pyproject.toml and galaxy.yml): the installer
upgrades an older installation and refuses to go back unless forced.

The same inputs give the same bytes (sorted entries, mtime 0, owner 0): a rebuild
changes nothing, and only a changed bundle is signed again (an OpenPGP signature is
not deterministic).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from htb import __version__, bundle_installer
from htb.errors import HtbError
from htb.files import write_atomic

FORMAT = 2  # 2: versioned, tooling only (1: one per activist, her invitation inside)
VERSION_RE = re.compile(r"\d+(\.\d+){0,3}([a-z]+\d*)?(\.(post|dev)\d+)?")
# htb's own wheel in the wheelhouse: the version it installs is the bundle's.
HTB_PROJECT = "hidden-tahoe-backup"
FINGERPRINT_RE = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
# name-version(-build)?-python-abi-platform.whl
WHEEL_RE = re.compile(
    r"(?P<name>[A-Za-z0-9._]+)-(?P<version>[A-Za-z0-9.!+_]+)(-\d[^-]*)?"
    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl"
)


class BundleError(HtbError):
    """A bundle could not be built, signed or checked."""


HEADER = r"""#!/bin/sh
# htb @VERSION@: htb and tahoe-lafs for Tails, installed as you (never root) into
# Persistent Storage. No invitation and no secret is in it: your sealed invitation
# travels beside it, and the app's first screen (or `htb join FILE`) takes it.
#
# Do not run it before Tails' own gpg has checked it. In the folder of this file,
# htb-@VERSION@.run.sig and operator.gpg, type this one command, with the 40 zeros
# replaced by the fingerprint the operator gave you in person: 40 characters, no
# spaces, no quotes. Never take it from a file (this one included) or from gpg's
# lines: any key's name can hold it.
#
@CHECK@
#
# sh runs only if gpg found a good signature by that key (gpg exits 1 for another
# key's or a bad one; 2 without operator.gpg or a 40-character fingerprint).
# Then this file checks its own signature again (with operator.gpg, nothing
# imported into your keyring) and writes nothing but a private temporary directory
# in RAM until the signature and every file's digest are good.
# Options: sh htb-@VERSION@.run --help
#
# Exit codes: 0 installed or already installed (--check: reported); 1 a local
# error; 2 bad options; 3 the signature: no .sig or no operator.gpg beside this
# file, no gpg, a bad signature or another key's; 4 the content does not match its
# digests; 5 this system: root, no Persistent Storage, another Python; 6 a
# different manifest is installed; 7 the virtualenv or pip failed; 8 a newer htb
# is installed (--force-downgrade goes back).
#
# Below this header: a tar archive (install.py, the wheels).
set -u
set -f
umask 077
HTB_FPR=@FPR@
HTB_SKIP=@SKIP@
die() { printf 'htb-bundle: error: %s\n' "$2" >&2; exit "$1"; }
case "${1:-}" in
  -h | --help)
    cat <<'HTB_HELP_END'
@HELP@HTB_HELP_END
    exit 0 ;;
esac
self=$0
[ -f "$self" ] || die 2 "run this file by its name: sh htb-@VERSION@.run"
[ -f "$self.sig" ] ||
  die 3 "no signature $self.sig: put the .sig file the operator gave you beside this file"
key=$(dirname -- "$self")/operator.gpg
[ -f "$key" ] ||
  die 3 "no $key: put the operator's key file (operator.gpg) the operator gave you beside this file"
command -v gpg >/dev/null 2>&1 ||
  die 3 "gpg is not installed: it is needed to check the operator's signature"
command -v python3 >/dev/null 2>&1 || die 5 "python3 is not installed"
if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ] && [ -w "$XDG_RUNTIME_DIR" ]; then
  base=$XDG_RUNTIME_DIR
else
  base=/tmp
fi
tmp=$(mktemp -d "$base/htb-bundle.XXXXXXXX") || die 1 "cannot make a private directory in $base"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' HUP INT TERM
chmod 700 "$tmp" || die 1 "cannot make $tmp private"
# The copies are checked and unpacked: the files cannot change in between. gpg gets
# a home of its own there: the person's keyring and gpg's settings play no part.
cp "$self" "$tmp/bundle.run" && cp "$self.sig" "$tmp/bundle.run.sig" &&
  cp "$key" "$tmp/operator.gpg" && mkdir -m 700 "$tmp/gnupg" ||
  die 1 "cannot copy the bundle into $tmp"
status=$(LC_ALL=C gpg --homedir "$tmp/gnupg" --batch --no-tty --no-autostart \
  --no-default-keyring --keyring "$tmp/operator.gpg" --trust-model always --status-fd 1 \
  --verify "$tmp/bundle.run.sig" "$tmp/bundle.run" 2>/dev/null)
good=no bad=no other=no nokey=no
while read -r tag kind rest; do
  [ "$tag" = "[GNUPG:]" ] || continue
  case "$kind" in
    # gpg's own fingerprints of the signing key and its primary key, never a user ID.
    VALIDSIG)
      case " $rest " in
        *" $HTB_FPR "*) good=yes ;;
        *) other=yes ;;
      esac ;;
    # PLAINTEXT: a signed message, not a detached signature of this file.
    BADSIG | REVKEYSIG | PLAINTEXT) bad=yes ;;
    NO_PUBKEY) nokey=yes ;;
  esac
done <<HTB_STATUS_END
$status
HTB_STATUS_END
if [ "$bad" = yes ]; then
  die 3 "BAD signature: not what the operator signed (altered or damaged); do not use it"
elif [ "$good" = yes ]; then
  :
elif [ "$other" = yes ]; then
  die 3 "signed by another key, not the operator's; do not use it"
elif [ "$nokey" = yes ]; then
  die 3 "no key in $key made this signature: not the operator's bundle; do not use it"
else
  die 3 "$self.sig is not a valid signature of this file; do not use it"
fi
mkdir "$tmp/payload" || die 1 "cannot make $tmp/payload"
tail -c "+$((HTB_SKIP + 1))" "$tmp/bundle.run" | tar -xf - -C "$tmp/payload" 2>/dev/null ||
  die 4 "the bundle's content could not be unpacked"
rm -rf "$tmp/bundle.run" "$tmp/bundle.run.sig" "$tmp/operator.gpg" "$tmp/gnupg"
python3 "$tmp/payload/install.py" --bundle-dir "$tmp/payload" "$@"
exit $?
"""


@dataclass(frozen=True)
class Wheel:
    filename: str
    project: str
    version: str
    sha256: str
    python: str | None  # "3.13" for a cp313-cp313 wheel; None for pure or abi3 wheels


def parse_wheel(filename: str, data: bytes) -> Wheel:
    m = WHEEL_RE.fullmatch(filename)
    if not m:
        raise BundleError(f"not a wheel's file name: {filename}")
    python = None
    abi = re.fullmatch(r"cp(\d)(\d+)", m.group("abi"))
    if abi:
        python = f"{abi.group(1)}.{abi.group(2)}"
    return Wheel(
        filename=filename,
        project=re.sub(r"[-_.]+", "-", m.group("name")).lower(),
        version=m.group("version"),
        sha256=hashlib.sha256(data).hexdigest(),
        python=python,
    )


def read_wheelhouse(archive: Path) -> dict[str, bytes]:
    """The wheels of a wheelhouse tar (``scripts/build-tails-wheelhouse``), by file name."""
    wheels: dict[str, bytes] = {}
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if not member.isfile() or not name.endswith(".whl"):
                    continue
                if name in wheels:
                    raise BundleError(f"the wheelhouse {archive} holds {name} twice")
                f = tar.extractfile(member)
                if f is not None:  # always, for a regular file
                    wheels[name] = f.read()
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"cannot read the wheelhouse {archive}: {exc}") from None
    if not wheels:
        raise BundleError(f"the wheelhouse {archive} holds no wheel")
    return wheels


def requirements(wheels: list[Wheel]) -> str:
    projects: dict[str, str] = {}
    for w in wheels:
        if w.project in projects:
            raise BundleError(f"two wheels of {w.project}: {projects[w.project]}, {w.filename}")
        projects[w.project] = w.filename
    if "pip" not in projects:
        raise BundleError("the wheelhouse has no pip wheel (the installer runs pip from it)")
    return "".join(
        f"{w.project}=={w.version} --hash=sha256:{w.sha256}\n"
        for w in sorted(wheels, key=lambda w: w.project)
    )


def python_of(wheels: list[Wheel], python_version: str | None) -> str:
    found = sorted({w.python for w in wheels if w.python})
    if len(found) > 1:
        raise BundleError(f"the wheels are for several Pythons: {', '.join(found)}")
    if python_version is not None:
        if not re.fullmatch(r"3\.\d+", python_version):
            raise BundleError(f"not a Python version (major.minor): {python_version}")
        if found and found[0] != python_version:
            raise BundleError(f"the wheels are for Python {found[0]}, not {python_version}")
        return python_version
    if not found:
        raise BundleError("the wheels do not say their Python: give its version (e.g. 3.13)")
    return found[0]


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise BundleError(f"not a release version (such as 0.2.0): {version!r}")
    return version


def version_of(wheels: list[Wheel], version: str | None) -> str:
    """The bundle's version: htb's, which its own wheel (if the wheelhouse has it) must be."""
    want = check_version(version if version is not None else __version__)
    carried = [w.version for w in wheels if w.project == HTB_PROJECT]
    if carried and carried[0] != want:
        raise BundleError(
            f"the wheelhouse holds htb {carried[0]}, not {want}: rebuild it "
            "(scripts/build-tails-wheelhouse) or give its version"
        )
    return want


def file_name(version: str) -> str:
    """``htb-<version>.run``: what the operator publishes, and what the activist types."""
    return f"htb-{check_version(version)}.run"


def check_fingerprint(fingerprint: str) -> str:
    fpr = fingerprint.replace(" ", "").upper()
    if not FINGERPRINT_RE.fullmatch(fpr):
        raise BundleError("the operator's fingerprint must be the key's full fingerprint (40 hex)")
    return fpr


def installer_source() -> bytes:
    return resources.files("htb").joinpath("bundle_installer.py").read_bytes()


def header(version: str, fingerprint: str, skip: int) -> bytes:
    run = file_name(version)
    help_text = bundle_installer.parser(home="$HOME", prog=f"sh {run}", run=run).format_help()
    check = "\n".join(f"#   {line}" for line in bundle_installer.check_command(run).splitlines())
    text = (
        HEADER.replace("@CHECK@", check)
        .replace("@VERSION@", version)
        .replace("@FPR@", fingerprint)
        .replace("@HELP@", help_text)
        .replace("@SKIP@", str(skip))
    )
    return text.encode("utf-8")


def payload(
    wheelhouse: Path, fingerprint: str, version: str | None, python_version: str | None
) -> tuple[bytes, str, str]:
    """The tar payload, the Python it is for and its version."""
    raw = read_wheelhouse(wheelhouse)
    wheels = [parse_wheel(n, d) for n, d in sorted(raw.items())]
    python = python_of(wheels, python_version)
    release = version_of(wheels, version)
    meta = {
        "format": FORMAT,
        "version": release,
        "python": python,
        "fingerprint": fingerprint,
    }
    files: dict[str, bytes] = {
        "install.py": installer_source(),
        "bundle.json": (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
        "requirements.txt": requirements(wheels).encode(),
        **{f"wheels/{n}": d for n, d in raw.items()},
    }
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items())
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        entries = sorted({*files, "wheels/"})
        for entry in entries:
            info = tarfile.TarInfo(entry.rstrip("/"))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o700
                tar.addfile(info)
            else:
                info.mode = 0o600
                info.size = len(files[entry])
                tar.addfile(info, io.BytesIO(files[entry]))
    return out.getvalue(), python, release


def build_run(
    wheelhouse: Path,
    fingerprint: str,
    version: str | None = None,
    python_version: str | None = None,
) -> tuple[bytes, str, str]:
    """The bytes of ``htb-<version>.run`` (the same for the same inputs), its Python and version."""
    fpr = check_fingerprint(fingerprint)
    body, python, release = payload(wheelhouse, fpr, version, python_version)
    skip = 0
    while True:  # the header's length is written into the header
        head = header(release, fpr, skip)
        if len(head) == skip:
            return head + body, python, release
        skip = len(head)


def _gpg(gnupg_home: Path | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    home = ["--homedir", str(gnupg_home)] if gnupg_home else []
    try:
        return subprocess.run(
            ["gpg", "--batch", "--no-tty", *home, *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except OSError as exc:
        raise BundleError(f"cannot run gpg: {exc.strerror}") from None


def signature_valid(path: Path, signature: Path, fingerprint: str, gnupg_home: Path | None) -> bool:
    """Whether ``signature`` is a good signature of ``path`` by that key (its VALIDSIG)."""
    if not signature.is_file() or not path.is_file():
        return False
    fpr = check_fingerprint(fingerprint)
    done = _gpg(
        gnupg_home, "--trust-model", "always", "--status-fd", "1", "--verify",
        str(signature), str(path),
    )  # fmt: skip
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if any(line.split()[1:2] in (["BADSIG"], ["REVKEYSIG"], ["PLAINTEXT"]) for line in lines):
        return False
    return any(line.startswith("[GNUPG:] VALIDSIG ") and fpr in line.split()[2:] for line in lines)


def sign(path: Path, fingerprint: str, gnupg_home: Path | None) -> Path:
    """Write ``<path>.sig``, a detached signature by that key (atomically)."""
    fpr = check_fingerprint(fingerprint)
    signature = path.with_name(path.name + ".sig")
    # To standard output, then htb's one atomic writer: never half a signature.
    done = _gpg(gnupg_home, "--local-user", fpr, "--output", "-", "--detach-sign", str(path))
    if done.returncode != 0 or not done.stdout:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BundleError(
            f"gpg could not sign with {fpr}: {last[-1] if last else 'exit ' + str(done.returncode)}"
        )
    write_atomic(signature, done.stdout, mode=0o644)
    return signature


def public_key(fingerprint: str, gnupg_home: Path | None) -> bytes:
    """The operator's public key, binary (a keyring file gpg reads with ``--keyring``)."""
    fpr = check_fingerprint(fingerprint)
    done = _gpg(gnupg_home, "--export-options", "export-minimal", "--export", fpr)
    if done.returncode != 0 or not done.stdout:
        where = f"in {gnupg_home}" if gnupg_home else "in gpg's default home"
        raise BundleError(f"no public key {fpr} {where}")
    return done.stdout


@dataclass(frozen=True)
class Result:
    path: Path
    signature: Path
    sha256: str
    python: str
    version: str
    changed: bool  # the .run's bytes changed (or would)
    signed: bool  # the .sig was (or would be) made anew
    key: Path  # operator.gpg beside it
    key_changed: bool  # operator.gpg was (or would be) written


def build(
    dest: Path,
    wheelhouse: Path,
    fingerprint: str,
    *,
    version: str | None = None,
    gnupg_home: Path | None = None,
    python_version: str | None = None,
    check: bool = False,
) -> Result:
    """``dest/htb-<version>.run``, its ``.sig`` and ``operator.gpg``: written only when needed."""
    data, python, release = build_run(wheelhouse, fingerprint, version, python_version)
    path = dest / file_name(release)
    signature = path.with_name(path.name + ".sig")
    key = dest / bundle_installer.OPERATOR_KEY
    key_data = public_key(fingerprint, gnupg_home)
    changed = not path.is_file() or path.read_bytes() != data
    signed = changed or not signature_valid(path, signature, fingerprint, gnupg_home)
    key_changed = key.is_symlink() or not key.is_file() or key.read_bytes() != key_data
    if not check:
        if changed or key_changed:
            dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        if changed:
            # Public: tooling only, published beside its signature and the key.
            write_atomic(path, data, mode=0o644)
        if signed:
            sign(path, fingerprint, gnupg_home)
        if key_changed:
            write_atomic(key, key_data, mode=0o644)
    return Result(
        path=path,
        signature=signature,
        sha256=hashlib.sha256(data).hexdigest(),
        python=python,
        version=release,
        changed=changed,
        signed=signed,
        key=key,
        key_changed=key_changed,
    )
