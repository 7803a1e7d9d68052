"""The release's signed bundle (htb-<version>.run): built by htb.bundle, run with sh,
real gpg, real pip.

A throwaway operator key in a temporary GNUPGHOME signs bundles of a tiny wheelhouse
(a wheel built here with console scripts htb, htb-gui and tahoe, and pip's own wheel);
the "activist" runs them with ``sh`` into temporary directories standing in for Tails'
home, Persistent Folder and Persistent Storage, with her sealed invitation beside the
bundle (``--manifest``, as client_tails gives it). Three real installs run (the first
install, an upgrade, a forced downgrade); every refusal is checked to write nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from htb import bundle, bundle_installer

REPO = Path(__file__).resolve().parents[2]
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
ROOT = os.geteuid() == 0
SEALED = b"HTBM\x00 a sealed test invitation, never printed \x01\x02\x03"


# --- helpers, also used by tests/ansible/test_htb_bundle_module.py ------------------------
PIP_WHEEL_DIR = REPO / ".cache" / "pip-wheel"


def pip_wheel() -> Path:
    """pip's wheel: the one scripts/bootstrap downloads, else the one CPython bundles.

    Both run on the host's Python and on trixie's 3.13. Never a wheel of the Tails
    wheelhouse, which scripts/test rebuilds beside pytest (it deletes it first).
    Debian's python3 bundles none: without the bootstrap's this skips, and in CI
    (HTB_FAIL_ON_SKIP) that skip fails the run.
    """
    import ensurepip

    found = sorted(PIP_WHEEL_DIR.glob("pip-*.whl"))
    found += sorted((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    if not found:
        pytest.skip(f"no pip wheel: run scripts/bootstrap (it downloads one into {PIP_WHEEL_DIR})")
    return found[0]


def make_wheel(out: Path, version: str) -> Path:
    """A tiny pure wheel 'tiny-htb' with the console scripts htb, htb-gui and tahoe."""
    name = f"tiny_htb-{version}-py3-none-any.whl"
    info = f"tiny_htb-{version}.dist-info"
    files = {
        "tiny_htb.py": (
            "import os, sys\n"
            f"VERSION = {version!r}\n"
            "def main():\n"
            "    print('tiny htb', VERSION, os.path.basename(sys.argv[0]),\n"
            "          os.environ.get('HTB_MANIFEST'), os.environ.get('HTB_TOR_SOCKS_PORT'))\n"
        ),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tiny-htb\nVersion: {version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": (
            "[console_scripts]\nhtb = tiny_htb:main\nhtb-gui = tiny_htb:main\n"
            "tahoe = tiny_htb:main\n"
        ),
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record += f"{path},sha256={digest.decode()},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = out / name
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), text)
    return wheel


def make_wheelhouse(out: Path, version: str = "1.0") -> Path:
    """A tar as scripts/build-tails-wheelhouse makes it (./<wheel>), of tiny-htb and pip."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = [make_wheel(out, version), pip_wheel()]
    archive = out / f"wheelhouse-{version}.tar"
    with tarfile.open(archive, "w") as tar:
        for w in wheels:
            tar.add(w, arcname=f"./{w.name}")
    return archive


def gpg(home: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), *args],
        input=data,
        capture_output=True,
        check=True,
    )


def new_key(home: Path, uid: str) -> str:
    """A throwaway signing key without passphrase; its fingerprint."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = gpg(home, "--with-colons", "--list-secret-keys", uid).stdout.decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


def kill_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def tree_digest(*roots: Path) -> str:
    """Names, types, modes, link targets and contents of everything under roots."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.exists() else []:
            st = path.lstat()
            h.update(f"{path}\0{st.st_mode:o}\0".encode())
            if path.is_symlink():
                h.update(os.readlink(path).encode())
            elif path.is_file():
                h.update(path.read_bytes())
    return h.hexdigest()


# --- fixtures -----------------------------------------------------------------------------
@dataclass
class Keys:
    operator_home: Path  # the operator's keyring: both secret keys
    activist_home: Path  # the activist's: both public keys
    empty_home: Path  # a keyring without the operator's key
    fpr: str  # the operator's
    other_fpr: str  # another key's


@dataclass
class Site:
    """Tails' home, Persistent Folder and Persistent Storage, for one install."""

    home: Path

    def __post_init__(self) -> None:
        self.persistence.joinpath("Persistent").mkdir(parents=True)
        self.persistence.joinpath("dotfiles").mkdir()
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.joinpath("Persistent").symlink_to(self.persistence / "Persistent")

    @property
    def persistence(self) -> Path:
        return self.home.parent / (self.home.name + "-persistence")

    @property
    def dir(self) -> Path:
        return self.home / "Persistent" / ".htb"

    def digest(self) -> str:
        return tree_digest(self.home, self.persistence)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    base = tmp_path_factory.mktemp("gpg")
    op, act, empty = base / "op", base / "act", base / "empty"
    fpr = new_key(op, "HTB test operator <operator@example.invalid>")
    other = new_key(op, "Someone else <other@example.invalid>")
    act.mkdir(mode=0o700)
    empty.mkdir(mode=0o700)
    gpg(act, "--import", data=gpg(op, "--export", fpr, other).stdout)
    yield Keys(op, act, empty, fpr, other)
    for home in (op, act, empty):
        kill_agent(home)


@dataclass
class Built:
    run: Path
    wheelhouse: Path
    manifest: Path  # her sealed invitation, beside the bundle (never in it)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Built:
    base = tmp_path_factory.mktemp("bundle")
    manifest = base / "alice.htbm"
    manifest.write_bytes(SEALED)
    wheelhouse = make_wheelhouse(base / "wh")
    result = bundle.build(
        base / "out", wheelhouse, keys.fpr, version="1.0",
        gnupg_home=keys.operator_home, python_version=PY,
    )  # fmt: skip
    return Built(result.path, wheelhouse, manifest)


def install(
    run: Path, site: Site, *args: str, gnupg_home: Path, sig: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(site.home),
        "GNUPGHOME": str(gnupg_home),
        "LC_ALL": "C",
    }
    root = ("--allow-root",) if ROOT and "--no-allow-root" not in args else ()
    argv = [a for a in args if a != "--no-allow-root"]
    return subprocess.run(
        ["sh", str(run), "--persistence", str(site.persistence), *root, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=run.parent,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, keys: Keys, built: Built
) -> tuple[Site, subprocess.CompletedProcess[str]]:
    site = Site(tmp_path_factory.mktemp("tails") / "home")
    # With her invitation, as client_tails installs it (by hand: the app takes it).
    return site, install(
        built.run, site, "--manifest", str(built.manifest), gnupg_home=keys.activist_home
    )


def copy_of(built: Built, tmp_path: Path) -> Path:
    """The bundle, its signature and operator.gpg, in a directory of their own."""
    run = tmp_path / built.run.name
    shutil.copy(built.run, run)
    shutil.copy(built.run.with_name(run.name + ".sig"), run.with_name(run.name + ".sig"))
    shutil.copy(built.run.with_name("operator.gpg"), run.with_name("operator.gpg"))
    return run


def refused(done: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0], lines[0]
    assert SEALED.decode("latin-1") not in done.stdout + done.stderr


# --- the build ----------------------------------------------------------------------------
def test_same_inputs_same_bytes_and_no_resigning(
    tmp_path: Path, keys: Keys, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not even the builder's terminal width changes them (the header holds the help).
    monkeypatch.setenv("COLUMNS", "200")
    again, python, version = bundle.build_run(built.wheelhouse, keys.fpr, "1.0", PY)
    assert again == built.run.read_bytes() and python == PY and version == "1.0"
    assert built.run.name == "htb-1.0.run"
    sig = built.run.with_name(built.run.name + ".sig")
    before = sig.read_bytes()

    def rebuild(check: bool = False) -> bundle.Result:
        return bundle.build(
            built.run.parent, built.wheelhouse, keys.fpr, version="1.0",
            gnupg_home=keys.operator_home, python_version=PY, check=check,
        )  # fmt: skip

    result = rebuild()
    assert not result.changed and not result.signed and not result.key_changed
    assert sig.read_bytes() == before
    # operator.gpg: the operator's public key alone, a keyring file gpg can read.
    shown = gpg(keys.empty_home, "--with-colons", "--show-keys", str(result.key)).stdout.decode()
    assert [ln.split(":")[9] for ln in shown.splitlines() if ln.startswith("fpr:")] == [keys.fpr]
    # Public: nothing secret in it.
    assert built.run.stat().st_mode & 0o777 == 0o644
    # The payload as documented: sorted, owner 0, mtime 0, everything in SHA256SUMS.
    head = built.run.read_bytes()
    skip = int(head.split(b"\nHTB_SKIP=", 1)[1].split(b"\n", 1)[0])
    with tarfile.open(fileobj=io.BytesIO(head[skip:])) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
        sums = tar.extractfile("SHA256SUMS").read().decode()  # type: ignore[union-attr]
        reqs = tar.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    listed = {line.split("  ")[1] for line in sums.splitlines()}
    assert listed == {n for n, m in zip(names, members, strict=True) if m.isfile()} - {"SHA256SUMS"}
    assert "tiny-htb==1.0 --hash=sha256:" in reqs and "\npip==" in "\n" + reqs
    assert "manifest.htbm" not in names
    # Check mode: a missing signature would be made, nothing is written.
    sig.rename(tmp_path / "sig")
    try:
        result = rebuild(check=True)
        assert result.signed and not result.changed and not sig.exists()
    finally:
        (tmp_path / "sig").rename(sig)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fingerprint": "ABCD"}, "full fingerprint"),
        ({"version": "../1.0"}, "not a release version"),
        ({"python_version": "three"}, "not a Python version"),
        ({"wheelhouse": "missing"}, "cannot read the wheelhouse"),
    ],
)
def test_bad_build_input_is_one_line(
    tmp_path: Path, keys: Keys, built: Built, kwargs: dict[str, str], message: str
) -> None:
    args: dict[str, object] = {
        "wheelhouse": built.wheelhouse,
        "fingerprint": keys.fpr,
        "version": "1.0",
        "python_version": PY,
    }
    args.update({k: tmp_path / v if v == "missing" else v for k, v in kwargs.items()})
    with pytest.raises(bundle.BundleError, match=message) as exc:
        bundle.build_run(**args)  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)


def test_a_wheelhouse_without_pip_is_refused(tmp_path: Path, keys: Keys) -> None:
    archive = tmp_path / "wh.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(make_wheel(tmp_path, "1.0"), arcname="tiny_htb-1.0-py3-none-any.whl")
    with pytest.raises(bundle.BundleError, match="no pip wheel"):
        bundle.build_run(archive, keys.fpr, "1.0", PY)


def test_the_version_is_htbs_and_its_wheels(tmp_path: Path, keys: Keys, built: Built) -> None:
    """One version: htb.__version__ by default (pyproject.toml's and galaxy.yml's:
    tests/unit/test_version.py), and htb's own wheel in the wheelhouse must be it."""
    archive = tmp_path / "wh.tar"
    shutil.copy(built.wheelhouse, archive)
    fake = tmp_path / "hidden_tahoe_backup-9.9-py3-none-any.whl"
    fake.write_bytes(b"not used")
    with tarfile.open(archive, "a") as tar:
        tar.add(fake, arcname=f"./{fake.name}")
    # Mutation: version_of without its comparison -> a bundle named htb-<ours>.run
    # installing htb 9.9 is built: no refusal.
    with pytest.raises(bundle.BundleError, match=r"holds htb 9\.9, not "):
        bundle.build_run(archive, keys.fpr, None, PY)
    assert bundle.build_run(archive, keys.fpr, "9.9", PY)[2] == "9.9"
    import htb

    assert bundle.build_run(built.wheelhouse, keys.fpr, None, PY)[2] == htb.__version__


def test_the_bundle_holds_no_byte_of_an_invitation(
    tmp_path: Path, built: Built, installed: tuple[Site, subprocess.CompletedProcess[str]]
) -> None:
    """Published openly, it carries no secret: her invitation's bytes are nowhere in
    it. Control: the same search finds them in the invitation file and, once given
    (--manifest), in the installed manifest. Mutation: the payload of format 1
    (bundle.py: "manifest.htbm": the invitation's bytes among its files) finds them."""
    invitation = built.manifest.read_bytes()
    needles = [invitation, invitation[8:40], invitation[-24:]]
    data = built.run.read_bytes()
    assert [n in data for n in needles] == [False, False, False]
    assert all(n in invitation for n in needles)
    site, _ = installed
    assert all(n in (site.dir / "manifest.htbm").read_bytes() for n in needles)


@pytest.mark.parametrize(
    ("older", "newer"),
    [("0.2.0", "0.2.1"), ("0.2.0", "0.10.0"), ("1.0.dev1", "1.0a1"), ("1.0rc1", "1.0"),
     ("1.0", "1.0.post1"), ("1", "1.0.1")],
)  # fmt: skip
def test_versions_are_ordered_as_releases(older: str, newer: str) -> None:
    assert bundle_installer.version_key(older) < bundle_installer.version_key(newer)
    assert bundle_installer.version_key("1.0") == bundle_installer.version_key("1.0.0")


# --- the install --------------------------------------------------------------------------
def test_installs_as_documented(installed: tuple[Site, subprocess.CompletedProcess[str]]) -> None:
    site, done = installed
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed htb 1.0 in" in done.stdout
    d = site.dir
    assert (d / "manifest.htbm").read_bytes() == SEALED
    assert os.readlink(d / "venv").startswith("venv-")
    for path in [d, d / "bin"]:
        assert path.stat().st_mode & 0o777 == 0o700
    for path in [d / "manifest.htbm", d / "installed.json"]:
        assert path.stat().st_mode & 0o777 == 0o600
    for path in [p for p in d.rglob("*") if not p.is_symlink()]:
        assert path.stat().st_mode & 0o077 == 0, path  # nothing for group or others
    # The commands run the virtualenv's, with htb's environment.
    for prog in ("htb", "htb-gui"):
        out = subprocess.run([str(d / "bin" / prog)], capture_output=True, text=True, check=True)
        assert out.stdout.split() == [
            "tiny", "htb", "1.0", prog, str(d / "manifest.htbm"), "tcp:127.0.0.1:9050",
        ]  # fmt: skip
    # Dotfiles, and the same links in the home directory now.
    dot = site.persistence / "dotfiles"
    assert os.readlink(dot / ".local/bin/htb") == str(d / "bin" / "htb")
    desktop = (dot / ".local/share/applications/htb-backup.desktop").read_text()
    assert "Name=Backups (htb)\n" in desktop and f"Exec={d}/bin/htb-gui\n" in desktop
    assert "Terminal=false\n" in desktop and "Categories=Utility;\n" in desktop
    for rel in (".local/bin/htb", ".local/share/applications/htb-backup.desktop"):
        assert os.readlink(site.home / rel) == str(dot / rel)
    # Nothing left in /tmp by the bundle.
    assert not [p for p in Path("/tmp").glob("htb-bundle.*") if p.stat().st_uid == os.geteuid()]


def test_second_run_changes_nothing(
    installed: tuple[Site, subprocess.CompletedProcess[str]], keys: Keys, built: Built
) -> None:
    site, _ = installed
    before = site.digest()
    done = install(built.run, site, gnupg_home=keys.activist_home)
    assert done.returncode == 0, done.stderr
    assert "already installed" in done.stdout and "nothing changed" in done.stdout
    check = install(built.run, site, "--check", gnupg_home=keys.activist_home)
    assert check.returncode == 0 and "nothing would change" in check.stdout
    assert site.digest() == before


def test_check_reports_and_writes_nothing(tmp_path: Path, keys: Keys, built: Built) -> None:
    site = Site(tmp_path / "home")
    before = site.digest()
    done = install(built.run, site, "--check", gnupg_home=keys.activist_home)
    assert done.returncode == 0, done.stderr
    assert "would install htb and tahoe-lafs" in done.stdout
    # No manifest given: none would be installed; where her invitation goes, said once.
    assert "sealed manifest" not in done.stdout
    assert "no manifest at" in done.stdout and "htb join FILE" in done.stdout
    assert "change(s) to make" in done.stdout
    assert site.digest() == before


def test_help_needs_no_signature(tmp_path: Path, keys: Keys, built: Built) -> None:
    run = tmp_path / built.run.name
    shutil.copy(built.run, run)
    done = subprocess.run(["sh", str(run), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "--replace-manifest" in done.stdout and "exit codes:" in done.stdout
    assert "--force-downgrade" in done.stdout and "  8  a newer htb is installed" in done.stdout


# --- refusals: one line, a documented exit code, nothing written -------------------------
def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def skip_of(data: bytes) -> int:
    return int(data.split(b"\nHTB_SKIP=", 1)[1].split(b"\n", 1)[0])


TAMPER: dict[str, Callable[[bytes, bytes], bytes]] = {
    "a payload byte": lambda data, _: flip(data, len(data) - 30000),
    "the header": lambda data, _: data.replace(b"installed as you", b"installed as yoU", 1),
    # A wheel swapped: the same header, another bundle's payload (tiny-htb 6.6).
    "a wheel": lambda data, other: data[: skip_of(data)] + other[skip_of(other) :],
}


@pytest.mark.parametrize("what", sorted(TAMPER))
def test_tampered_bundle_is_refused(tmp_path: Path, keys: Keys, built: Built, what: str) -> None:
    other = bundle.build_run(make_wheelhouse(tmp_path / "wh", "6.6"), keys.fpr, "1.0", PY)[0]
    run = copy_of(built, tmp_path)
    run.write_bytes(TAMPER[what](run.read_bytes(), other))
    site = Site(tmp_path / "home")
    before = site.digest()
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "BAD signature")
    assert site.digest() == before


def test_missing_signature_unknown_key_other_key(tmp_path: Path, keys: Keys, built: Built) -> None:
    site = Site(tmp_path / "home")
    before = site.digest()
    run = copy_of(built, tmp_path)
    key = run.with_name("operator.gpg")
    # The header reads operator.gpg beside it, never the person's keyring: one that
    # holds both keys changes nothing.
    done = install(run, site, "--check", gnupg_home=keys.activist_home)
    assert done.returncode == 0, done.stderr
    # No operator.gpg beside it.
    key.unlink()
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "no " + str(key))
    # An operator.gpg of another key.
    # Mutation: the header's gpg without --homedir and --no-default-keyring (bundle.py:
    # HEADER; her keyring holds the operator's key) -> this installs (exit 0), fails.
    key.write_bytes(gpg(keys.operator_home, "--export", keys.other_fpr).stdout)
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "no key in")
    # Signed by another key that operator.gpg holds (the header names the operator's).
    key.write_bytes(gpg(keys.operator_home, "--export", keys.fpr, keys.other_fpr).stdout)
    bundle.sign(run, keys.other_fpr, keys.operator_home)
    # Mutation: any VALIDSIG taken as good (bundle.py:HEADER, `*) good=yes`) -> exit 0.
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "signed by another key")
    # No .sig at all.
    run.with_name(run.name + ".sig").unlink()
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "no signature")
    # A .sig that is no signature.
    run.with_name(run.name + ".sig").write_text("not a signature\n")
    refused(install(run, site, gnupg_home=keys.activist_home), 3, "not a valid signature")
    # A message the operator signed (not a detached signature of this file). gpg 2.2
    # refuses it itself ("not a detached signature"): with the header's PLAINTEXT
    # case dropped this still passes.
    signed = gpg(keys.operator_home, "--sign", data=b"something else").stdout
    run.with_name(run.name + ".sig").write_bytes(signed)
    done = install(run, site, gnupg_home=keys.activist_home)
    assert done.returncode == 3 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert site.digest() == before


def resigned(built: Built, keys: Keys, tmp_path: Path, change: Callable[[Path], None]) -> Path:
    """The bundle with its payload changed, then validly signed by the operator."""
    data = built.run.read_bytes()
    payload = tmp_path / "payload"
    payload.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data[skip_of(data) :])) as tar:
        tar.extractall(payload, filter="data")
    change(payload)
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        for path in sorted(payload.rglob("*")):
            tar.add(path, arcname=path.relative_to(payload).as_posix(), recursive=False)
    run = tmp_path / built.run.name
    run.write_bytes(data[: skip_of(data)] + body.getvalue())
    bundle.sign(run, keys.fpr, keys.operator_home)
    shutil.copy(built.run.with_name("operator.gpg"), run.with_name("operator.gpg"))
    return run


def swap_wheel_bytes(payload: Path) -> None:
    (wheel,) = payload.glob("wheels/tiny_htb-*.whl")
    wheel.write_bytes(flip(wheel.read_bytes(), 100))


def swap_wheel_and_sums(payload: Path) -> None:
    swap_wheel_bytes(payload)
    sums = payload / "SHA256SUMS"
    sums.write_text(
        "".join(
            f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(payload).as_posix()}\n"
            for p in sorted(payload.rglob("*"))
            if p.is_file() and p != sums
        )
    )


def add_a_file(payload: Path) -> None:
    (payload / "wheels" / "extra.whl").write_bytes(b"x")


def drop_a_file(payload: Path) -> None:
    (payload / "requirements.txt").unlink()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (swap_wheel_bytes, "does not match its digest in SHA256SUMS"),
        (swap_wheel_and_sums, "matches no hash in requirements.txt"),
        (add_a_file, "a file SHA256SUMS does not list"),
        (drop_a_file, "a file SHA256SUMS lists is missing"),
    ],
)
def test_signed_but_inconsistent_payload_is_refused_before_writing(
    tmp_path: Path, keys: Keys, built: Built, change: Callable[[Path], None], message: str
) -> None:
    run = resigned(built, keys, tmp_path, change)
    site = Site(tmp_path / "home")
    before = site.digest()
    # Mutation: a case's check removed (bundle_installer.py:check_payload) fails it by
    # the message only (the next check refuses it, exit 4); all four removed -> pip
    # refuses after .htb was made (exit 7), the extra file installs (exit 0): fails.
    refused(install(run, site, gnupg_home=keys.activist_home), 4, message)
    assert site.digest() == before


def test_this_system_is_refused(tmp_path: Path, keys: Keys, built: Built) -> None:
    # Another Python than the wheels'.
    other = tmp_path / "other"
    result = bundle.build(
        other, built.wheelhouse, keys.fpr, version="1.0",
        gnupg_home=keys.operator_home, python_version="3.99",
    )  # fmt: skip
    site = Site(tmp_path / "home")
    before = site.digest()
    refused(install(result.path, site, gnupg_home=keys.activist_home), 5, "Python 3.99")
    # No Persistent Storage (its folder).
    (site.home / "Persistent").unlink()
    refused(install(built.run, site, gnupg_home=keys.activist_home), 5, "unlock Persistent Storage")
    (site.home / "Persistent").symlink_to(site.persistence / "Persistent")
    # Bad options.
    done = install(built.run, site, "--no-such-option", gnupg_home=keys.activist_home)
    assert done.returncode == 2
    if ROOT:
        refused(
            install(built.run, site, "--no-allow-root", gnupg_home=keys.activist_home),
            5,
            "refusing to run as root",
        )
    assert site.digest() == before


# --- an upgrade and the manifest (these change the installed site: last) ------------------
@pytest.fixture(scope="module")
def newer(tmp_path_factory: pytest.TempPathFactory, keys: Keys, built: Built) -> Path:
    base = tmp_path_factory.mktemp("newer")
    return bundle.build(
        base, make_wheelhouse(base / "wh", "2.0"), keys.fpr, version="2.0",
        gnupg_home=keys.operator_home, python_version=PY,
    ).path  # fmt: skip


def test_newer_bundle_upgrades_and_keeps_the_manifest(
    installed: tuple[Site, subprocess.CompletedProcess[str]], keys: Keys, newer: Path
) -> None:
    site, _ = installed
    d = site.dir
    # After first use the manifest is the activist's own.
    (d / "manifest.htbm").write_bytes(b"HTBM her own")
    manifest_before = (d / "manifest.htbm").stat()
    old = os.readlink(d / "venv")
    # What the Ansible role installed before bundles: a virtualenv directory at venv,
    # the wheelhouse, the launcher's script, a node with secrets in Persistent Storage.
    (d / "venv").unlink()
    (d / "venv" / "bin").mkdir(parents=True)
    legacy = [d / "wheelhouse.tar", d / "wheelhouse" / "x.whl", d / "bin" / "htb-backup-now"]
    legacy.append(d / "node" / "private" / "aliases")
    for path in legacy:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
    done = install(newer, site, gnupg_home=keys.activist_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed htb 2.0" in done.stdout and "manifest" not in done.stdout
    # Never touched: the same bytes, the same file (inode, mtime). Mutation: the
    # installer writing a manifest on every run (plan_manifest without its `if
    # args.manifest is None: return`) fails it.
    assert (d / "manifest.htbm").read_bytes() == b"HTBM her own"
    after = (d / "manifest.htbm").stat()
    assert (after.st_ino, after.st_mtime_ns) == (
        manifest_before.st_ino,
        manifest_before.st_mtime_ns,
    )
    assert '"version": "2.0"' in (d / "installed.json").read_text()
    assert os.readlink(d / "venv") != old and not (d / old).exists()
    assert not [p for p in legacy if p.exists()]
    assert not (d / "node").exists() and not (d / "wheelhouse").exists()
    out = subprocess.run([str(d / "bin" / "htb")], capture_output=True, text=True, check=True)
    assert out.stdout.split()[:3] == ["tiny", "htb", "2.0"]
    before = site.digest()
    again = install(newer, site, gnupg_home=keys.activist_home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already installed" in again.stdout
    assert site.digest() == before  # not the message: nothing of her site changed


def test_a_given_manifest_never_replaces_another_unasked(
    tmp_path: Path,
    installed: tuple[Site, subprocess.CompletedProcess[str]],
    keys: Keys,
    newer: Path,
) -> None:
    site, _ = installed
    d = site.dir
    friend = tmp_path / "friend-copy.htbm"
    friend.write_bytes(b"HTBM a friend's copy")
    before = site.digest()
    refused(
        install(newer, site, "--manifest", str(friend), gnupg_home=keys.activist_home),
        6,
        "--replace-manifest",
    )
    assert site.digest() == before
    mine = (d / "manifest.htbm").read_bytes()
    # A re-run by Ansible (client_tails): the installed one is kept, with a note.
    kept = install(
        newer, site, "--manifest", str(friend), "--keep-manifest", gnupg_home=keys.activist_home
    )
    assert kept.returncode == 0, kept.stderr
    assert "kept the manifest installed" in kept.stdout + kept.stderr
    assert (d / "manifest.htbm").read_bytes() == mine
    done = install(
        newer, site, "--manifest", str(friend), "--replace-manifest",
        gnupg_home=keys.activist_home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replace the sealed manifest" in done.stdout
    assert (d / "manifest.htbm").read_bytes() == b"HTBM a friend's copy"
    assert (d / "manifest.htbm").stat().st_mode & 0o777 == 0o600


def test_an_older_bundle_is_refused_unless_forced(
    installed: tuple[Site, subprocess.CompletedProcess[str]],
    keys: Keys,
    built: Built,
    newer: Path,
) -> None:
    """After the upgrade to 2.0, the 1.0 bundle: refused, one line, exit 8, nothing
    written; --force-downgrade installs it and keeps her manifest's bytes. Mutation:
    plan_all without check_downgrade -> the 1.0 bundle installs (exit 0)."""
    site, _ = installed
    d = site.dir
    assert install(newer, site, gnupg_home=keys.activist_home).returncode == 0
    mine = (d / "manifest.htbm").read_bytes()
    before = site.digest()
    refused(install(built.run, site, gnupg_home=keys.activist_home), 8, "htb 2.0 is installed")
    refused(install(built.run, site, "--check", gnupg_home=keys.activist_home), 8, "newer")
    assert site.digest() == before
    done = install(built.run, site, "--force-downgrade", gnupg_home=keys.activist_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed htb 1.0" in done.stdout
    assert (d / "manifest.htbm").read_bytes() == mine
    out = subprocess.run([str(d / "bin" / "htb")], capture_output=True, text=True, check=True)
    assert out.stdout.split()[:3] == ["tiny", "htb", "1.0"]
