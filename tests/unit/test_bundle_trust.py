"""The bundle's trust root: the fingerprint given in person, checked by Tails' own gpg.

Whoever carries the three files (``htb-<version>.run``, its ``.sig``, ``operator.gpg``)
controls all of them: a substitute's header is the substitute's, so the check must
run before it, in Tails' own gpg. The command an activist types is read from the
activist's guide (docs/activist-guide.md, "What to do") and run as she runs it: in a
Debian trixie container (Tails 7's base: gpg 2.4.7, Python 3.13), as uid 1000 with
HOME /home/amnesia, in the folder of the "USB stick" (/media/amnesia/USB), with
Persistent Storage at Tails' path.

The forger's key carries the operator's fingerprint in its user ID (compact and as
gpg prints it), and the stick also holds files named like the fingerprint in the
ways a person might type it, listing the forger's: gpg reads an ``--assert-signer``
value that is not a bare fingerprint as such a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from unit.test_bundle import gpg, kill_agent, make_wheel, new_key, pip_wheel, tree_digest

from htb import bundle, bundle_installer

REPO = Path(__file__).resolve().parents[2]
UID = 1000
# The release the activist's guide names in its example (any version builds the same).
VERSION = "0.2.0"
RUN = f"htb-{VERSION}.run"


# --- Tails, as far as the check goes: trixie's gpg and Python, in a container ----------
@pytest.fixture(scope="module")
def tails_image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/bootstrap installs it)")
    # The image the client scenario's laptops run; built once by scripts/bootstrap
    # (build-image returns at once when it exists).
    done = subprocess.run(
        [str(REPO / "testbed/roles/testbed_containers/files/build-image"), "trixie"],
        capture_output=True, text=True, check=True, env=podman_env(),
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def podman_env() -> dict[str, str]:
    conf = REPO / "testbed/roles/testbed_containers/files/containers.conf"
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(conf))}


@dataclass
class Laptop:
    """Her home, Persistent Storage and the stick, mounted where Tails has them."""

    base: Path

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def persistence(self) -> Path:
        return self.base / "persistence"

    @property
    def stick(self) -> Path:
        return self.base / "stick"

    def digest(self) -> str:
        """Names, modes, links, contents: her home (.gnupg, .cache) and Persistent Storage."""
        return tree_digest(self.home, self.persistence)

    def run(self, image: str, script: str) -> subprocess.CompletedProcess[str]:
        for path in (self.home, self.persistence, self.stick):
            subprocess.run(["chown", "-R", f"{UID}:{UID}", str(path)], check=True)
        return subprocess.run(
            [
                "podman", "run", "--rm", "--network", "none", "--user", f"{UID}:{UID}",
                "-e", "HOME=/home/amnesia", "-e", "LC_ALL=C.UTF-8",
                "-v", f"{self.home}:/home/amnesia",
                "-v", f"{self.persistence}:/live/persistence/TailsData_unlocked",
                "-v", f"{self.stick}:/media/amnesia/USB",
                "-w", "/media/amnesia/USB", image, "sh", "-c", script,
            ],
            capture_output=True, text=True, check=False, env=podman_env(), timeout=600,
        )  # fmt: skip


def new_laptop(base: Path, lived_in: Keys | None = None) -> Laptop:
    laptop = Laptop(base)
    (laptop.persistence / "Persistent").mkdir(parents=True)
    (laptop.persistence / "dotfiles").mkdir()
    laptop.home.mkdir()
    (laptop.home / "Persistent").symlink_to("/live/persistence/TailsData_unlocked/Persistent")
    laptop.stick.mkdir()
    if lived_in is not None:
        # She has used gpg and her desktop before: a keyring with a friend's key, a
        # cache. Neither may change.
        gnupg = laptop.home / ".gnupg"
        gnupg.mkdir(mode=0o700)
        gpg(gnupg, "--import", data=gpg(lived_in.home, "--export", lived_in.friend).stdout)
        kill_agent(gnupg)
        (laptop.home / ".cache" / "fontconfig").mkdir(parents=True)
        (laptop.home / ".cache" / "fontconfig" / "cache-1").write_bytes(b"fonts")
    return laptop


# --- keys and bundles -------------------------------------------------------------------
def spaced(fpr: str) -> str:
    """As gpg prints a fingerprint for people: ten groups, two spaces in the middle."""
    groups = [fpr[i : i + 4] for i in range(0, 40, 4)]
    return " ".join(groups[:5]) + "  " + " ".join(groups[5:])


@dataclass
class Keys:
    home: Path  # every secret key: the operator's and the forger's
    operator: str
    forger: str  # its user ID holds the operator's fingerprint, twice
    grafter: str  # a key with a signing subkey, to bind under the operator's key
    grafter_subkey: str
    friend: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    home = tmp_path_factory.mktemp("gpg") / "keys"
    operator = new_key(home, "HTB test operator <operator@example.invalid>")
    forger = new_key(
        home, f"HTB test operator ({spaced(operator)}) {operator} <operator@example.invalid>"
    )
    grafter = new_key(home, "Grafter <grafter@example.invalid>")
    gpg(home, "--passphrase", "", "--quick-add-key", grafter, "ed25519", "sign", "never")
    listing = gpg(home, "--with-colons", "--list-keys", grafter).stdout.decode().splitlines()
    subkey = [line.split(":")[9] for line in listing if line.startswith("fpr:")][1]
    friend = new_key(home, "A friend <friend@example.invalid>")
    yield Keys(home, operator, forger, grafter, subkey, friend)
    kill_agent(home)


def wheelhouse(out: Path) -> Path:
    """tiny-htb and a pip that runs on trixie's Python 3.13 (pip_wheel's: not the Tails
    wheelhouse's, which scripts/test rebuilds while pytest runs)."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = [make_wheel(out, "1.0"), pip_wheel()]
    archive = out / "wheelhouse.tar"
    with tarfile.open(archive, "w") as tar:
        for w in wheels:
            tar.add(w, arcname=w.name)
    return archive


@dataclass
class Bundles:
    genuine: Path  # a directory: htb-<version>.run, .sig, operator.gpg
    substitute: bytes  # the forger's bundle, built with htb's own tool, unsigned
    keys: Keys


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Bundles:
    base = tmp_path_factory.mktemp("bundles")
    wh = wheelhouse(base / "wh")
    bundle.build(
        base / "genuine", wh, keys.operator, version=VERSION,
        gnupg_home=keys.home, python_version="3.13",
    )  # fmt: skip
    # A bundle that installs (its header names the forger's key): were it run, it
    # would change her home, which every refusal below shows it does not.
    substitute = bundle.build_run(wh, keys.forger, VERSION, "3.13")[0]
    return Bundles(base / "genuine", substitute, keys)


def packets(data: bytes) -> list[tuple[int, bytes]]:
    """OpenPGP packets (tag, bytes) of an exported key (RFC 9580, section 4.2)."""
    out, i = [], 0
    while i < len(data):
        head = data[i]
        if head & 0x40:  # new format
            tag, first = head & 0x3F, data[i + 1]
            if first < 192:
                length, size = first, 2
            elif first < 224:
                length, size = ((first - 192) << 8) + data[i + 2] + 192, 3
            else:
                length, size = int.from_bytes(data[i + 2 : i + 6], "big"), 6
        else:
            tag, n = (head >> 2) & 0x0F, {0: 1, 1: 2, 2: 4}[head & 3]
            length, size = int.from_bytes(data[i + 1 : i + 1 + n], "big"), 1 + n
        out.append((tag, data[i : i + size + length]))
        i += size + length
    return out


def grafted(keys: Keys) -> bytes:
    """The operator's real public key with the grafter's signing subkey bound under it.

    The binding signature is the grafter's own, made for its primary key: if gpg
    took it, VALIDSIG and --assert-signer would name the operator's primary key.
    """
    operator = packets(gpg(keys.home, "--export", keys.operator).stdout)
    grafter = packets(gpg(keys.home, "--export", keys.grafter).stdout)
    at = next(i for i, (tag, _) in enumerate(grafter) if tag == 14)  # the public subkey
    return b"".join(p for tag, p in operator if tag != 14) + grafter[at][1] + grafter[at + 1][1]


def hand_over(bundles: Bundles, laptop: Laptop, courier: str) -> None:
    """What reaches her stick: the genuine three files, or a forger's."""
    keys, run = bundles.keys, laptop.stick / RUN
    if courier == "genuine":
        for name in (RUN, RUN + ".sig", "operator.gpg"):
            shutil.copy(bundles.genuine / name, laptop.stick / name)
        return
    run.write_bytes(bundles.substitute)
    signer, key = {
        "its own key, named with the operator's fingerprint": (
            keys.forger, gpg(keys.home, "--export", keys.forger).stdout,
        ),
        "the operator's real key beside its own": (
            keys.forger, gpg(keys.home, "--export", keys.operator, keys.forger).stdout,
        ),
        "its subkey bound under the operator's real key": (
            keys.grafter_subkey + "!", grafted(keys),
        ),
    }[courier]  # fmt: skip
    gpg(keys.home, "--local-user", signer, "--output", str(run) + ".sig", "--detach-sign", str(run))
    (laptop.stick / "operator.gpg").write_bytes(key)
    # Files named like the fingerprint as a person might type it (gpg would read
    # one as a list of fingerprints), and like a word left in for it.
    listing = f"{keys.forger}\n{keys.grafter}\n{keys.grafter_subkey}\n"
    op = keys.operator
    for name in (spaced(op), " ".join(op[i : i + 4] for i in range(0, 40, 4)), op[:4],
                 spaced(op).lower(), "FINGERPRINT", bundle_installer.PLACEHOLDER):  # fmt: skip
        (laptop.stick / name).write_text(listing)


# --- what the activist's guide tells her to type ---------------------------------------
def documented() -> str:
    """The command block of the activist's guide's "What to do", as she copies it."""
    section = (REPO / "docs" / "activist-guide.md").read_text().split("\n## What to do\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return textwrap.dedent(block).strip()


def typed(fingerprint: str, command: str | None = None) -> str:
    return (command or documented()).replace(bundle_installer.PLACEHOLDER, fingerprint)


def nothing_ran(done: subprocess.CompletedProcess[str]) -> None:
    out = done.stdout + done.stderr
    assert "htb-install" not in out and "htb-bundle" not in out, out


def test_the_readme_header_and_help_say_the_same_command(bundles: Bundles) -> None:
    command = bundle_installer.check_command(RUN)
    assert documented() == command
    head = (bundles.genuine / RUN).read_bytes()[:8192].decode()
    assert "\n".join(f"#   {line}" for line in command.splitlines()) in head
    help_text = bundle_installer.parser(prog=f"sh {RUN}", run=RUN).format_help()
    assert "\n".join(f"  {line}" for line in command.splitlines()) in help_text
    # The header names no fingerprint to copy (only its own check's variable).
    comments = "\n".join(line for line in head.splitlines() if line.startswith("#"))
    assert bundles.keys.operator not in comments


COURIERS = {
    # gpg's exit: 1 a signature by another key than the one typed; 2 no key in
    # operator.gpg made it (gpg dropped the subkey whose binding is not the
    # operator's).
    "its own key, named with the operator's fingerprint": 1,
    "the operator's real key beside its own": 1,
    "its subkey bound under the operator's real key": 2,
}


@pytest.mark.parametrize("courier", sorted(COURIERS))
def test_a_substitute_is_stopped_by_the_documented_command(
    tmp_path: Path, tails_image: str, bundles: Bundles, courier: str
) -> None:
    laptop = new_laptop(tmp_path, lived_in=bundles.keys)
    hand_over(bundles, laptop, courier)
    before = laptop.digest()
    # She types the fingerprint the operator gave her, exactly as told.
    done = laptop.run(tails_image, typed(bundles.keys.operator))
    assert done.returncode == COURIERS[courier], done.stdout + done.stderr
    nothing_ran(done)
    # Mutation: the guide's command without `--assert-signer ...` (or with a word
    # for the placeholder) installs the substitute: her home changes, this fails.
    assert laptop.digest() == before
    assert not (laptop.persistence / "Persistent" / ".htb").exists()


def test_the_genuine_bundle_installs_and_her_keyring_stays_hers(
    tmp_path: Path, tails_image: str, bundles: Bundles
) -> None:
    laptop = new_laptop(tmp_path, lived_in=bundles.keys)
    hand_over(bundles, laptop, "genuine")
    keyring = tree_digest(laptop.home / ".gnupg", laptop.home / ".cache")
    # Case does not matter to gpg.
    done = laptop.run(tails_image, typed(bundles.keys.operator.lower()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"htb-install: installed htb {VERSION} in /home/amnesia/Persistent/.htb" in done.stdout
    # Tooling only: her invitation travels beside it (the app's first screen takes it).
    assert (laptop.persistence / "Persistent" / ".htb" / "installed.json").is_file()
    assert not (laptop.persistence / "Persistent" / ".htb" / "manifest.htbm").exists()
    # Mutation: the header imports operator.gpg into her keyring (`gpg --import "$key"`,
    # bundle.py:HEADER) -> .gnupg changes, fails. Verifying with her keyring (the
    # header's gpg without --homedir, the guide's without --no-default-keyring)
    # writes nothing to it: those pass.
    assert tree_digest(laptop.home / ".gnupg", laptop.home / ".cache") == keyring


def test_control_the_same_command_with_the_forgers_fingerprint_installs_it(
    tmp_path: Path, tails_image: str, bundles: Bundles
) -> None:
    # The refusals above come from the fingerprint compared, nothing else: typed
    # with the forger's, the same command runs the substitute, which installs.
    laptop = new_laptop(tmp_path)
    hand_over(bundles, laptop, "its own key, named with the operator's fingerprint")
    done = laptop.run(tails_image, typed(bundles.keys.forger))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "htb-install: installed htb" in done.stdout
    assert (laptop.persistence / "Persistent" / ".htb" / "installed.json").is_file()


def test_control_the_old_instructions_would_have_been_fooled(
    tmp_path: Path, tails_image: str, bundles: Bundles
) -> None:
    # "compare the fingerprint at gpg --import, then gpg --verify": the operator's
    # fingerprint is right there in what gpg prints for the forger's key.
    laptop = new_laptop(tmp_path)
    hand_over(bundles, laptop, "its own key, named with the operator's fingerprint")
    (laptop.stick / "operator.asc").write_bytes(
        gpg(bundles.keys.home, "--armor", "--export", bundles.keys.forger).stdout
    )
    done = laptop.run(tails_image, f"gpg --import operator.asc && gpg --verify {RUN}.sig {RUN}")
    assert done.returncode == 0, done.stderr
    operator, forger = bundles.keys.operator, bundles.keys.forger
    imported, verified = done.stderr.split("gpg: Signature made", 1)
    assert operator in imported and spaced(operator) in imported
    assert "Good signature" in verified and spaced(operator) in verified
    # gpg's own fingerprint of the signer is the forger's, a few lines away.
    assert re.search(rf"using \S+ key {forger}", verified), verified
    assert forger not in imported  # --import shows none of its own


@pytest.mark.parametrize(
    "what",
    ["the placeholder left in", "with spaces, unquoted", "one character wrong", "39 characters"],
)
def test_typing_mistakes_fail_closed(
    tmp_path: Path, tails_image: str, bundles: Bundles, what: str
) -> None:
    op = bundles.keys.operator
    wrong = {
        "the placeholder left in": bundle_installer.PLACEHOLDER,
        "with spaces, unquoted": spaced(op),
        "one character wrong": op[:-1] + ("0" if op[-1] != "0" else "1"),
        "39 characters": op[:-1],
    }[what]
    laptop = new_laptop(tmp_path)
    hand_over(bundles, laptop, "genuine")
    before = laptop.digest()
    done = laptop.run(tails_image, typed(wrong))
    # Mutation: the guide's `&& sh` as `; sh`, or its --assert-signer line dropped ->
    # the genuine bundle installs (exit 0) in every case, fails.
    assert done.returncode in (1, 2), done.stdout + done.stderr
    nothing_ran(done)
    assert laptop.digest() == before


def test_why_the_placeholder_is_forty_zeros(
    tmp_path: Path, tails_image: str, bundles: Bundles
) -> None:
    # A word left in where the fingerprint goes is read by gpg as a file of
    # fingerprints in the stick's folder, which the courier filled: it passes the
    # forger's bundle. Mutation: PLACEHOLDER = "FINGERPRINT" fails the first assert.
    laptop = new_laptop(tmp_path)
    hand_over(bundles, laptop, "its own key, named with the operator's fingerprint")
    gate = documented().rsplit(" && ", 1)[0]
    word = laptop.run(tails_image, gate.replace(bundle_installer.PLACEHOLDER, "FINGERPRINT"))
    assert word.returncode == 0, word.stderr  # the hazard, on Tails 7's gpg
    zeros = laptop.run(tails_image, gate)
    assert zeros.returncode == 1, zeros.stderr
    assert re.fullmatch(r"[0-9A-F]{40}", bundle_installer.PLACEHOLDER)
