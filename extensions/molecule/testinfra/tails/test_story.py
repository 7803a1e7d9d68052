"""What the client scenario's story left behind, and what happens next.

The side effect (side_effect.yml) told the story: the operator's invitation was
installed; Alice's first `htb start` created her directories and sealed her own
manifest under her own passphrase; she backed up, exported a copy for a friend,
stopped, rebooted, backed up again; the laptop was wiped; a new one got the
tooling and the friend's copy; she restored and backed up once more. On the way
it captured each secret of her first session into the test's own memory
(/root/htb-test on the Tails-like container, root only, not part of the Tails
system) and searched Persistent Storage for them after `htb stop` and after a
reboot. These tests check the promises of issue 9 on what it left, then go on in
order: a second snapshot, the loss of N-K storage nodes, fewer than K nodes.

No test prints a secret: a failure names the kind of secret and the files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import announced  # tests/announced.py (tests/ is on the verifier's PYTHONPATH)
import pytest
import testinfra
import yaml
from grid_paths import node_dir  # testinfra/common (the verifier's PYTHONPATH)
from testinfra.utils.ansible_runner import AnsibleRunner

from htb import gridmanager
from htb.errors import SealError
from htb.identity import open_archive
from htb.manifest import read_sealed
from htb.manifest.schema import canonical_json

INVENTORY = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
TAILS_NAME = INVENTORY.get_hosts("tails_clients")[0]
TAILS = testinfra.get_host(f"podman://{TAILS_NAME}")
BOB_NAME = INVENTORY.get_hosts("tails_by_hand")[0]
STORAGE = [testinfra.get_host(f"podman://{name}") for name in INVENTORY.get_hosts("storage")]
# The operator's machines: the introducer, the operator's client node, storage nodes.
SERVERS = sorted(
    set(INVENTORY.get_hosts("introducers"))
    | set(INVENTORY.get_hosts("grid_clients"))
    | set(INVENTORY.get_hosts("storage"))
)
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
MANIFESTS = EPHEMERAL / "manifests"  # the controller's output (activist_manifests_dir)
FRIEND_COPY = EPHEMERAL / "friend" / "alice.htbm.asc"  # as the side effect fetched it
ANSIBLE_LOG = EPHEMERAL / "ansible-vvv.log"  # molecule.yml: ANSIBLE_LOG_PATH, -vvv
DOCS = "/home/amnesia/Persistent/Documents"
HTB_DIR = "/home/amnesia/Persistent/.htb"
MEMORY = "/root/htb-test"
# Alice's own passphrase (chosen at first use), where only amnesia can read it.
PW_ARG = "--passphrase-file /run/htb-passphrase"
# Kinds of secret the side effect captured from the running node of her first session.
SESSION_KINDS = (
    "rootcaps",
    "caps",
    "swissnums",
    "convergence",
    "node-keys",
    "api-token",
    "passphrases",
)
FURL_SWISSNUM = re.compile(r"pb://[^@\s'\"]+@[^/\s'\"]+/([A-Za-z0-9_-]+)")
# Every directory but the kernel's views (/proc, /sys, /dev).
WHOLE_FILESYSTEM = "$(ls -d /* | grep -vxE '/(proc|sys|dev)')"


def htb(args: str, check: bool = True):
    """Run htb as the activist, the way the launcher does (no root)."""
    cmd = TAILS.run(f"sudo -H -u amnesia /home/amnesia/.local/bin/htb {args}")
    if check:
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
    return cmd


def listing(root: str) -> str:
    # The script the side effect brought (scripts/tree-listing) made the record too.
    return TAILS.check_output(f"/usr/local/bin/tree-listing {root}")


def remembered(name: str) -> str:
    """A file of the test's memory on the Tails-like container."""
    return TAILS.file(f"{MEMORY}/{name}").content_string


def session_secrets(kind: str) -> list[str]:
    return remembered(f"session1/{kind}").splitlines()


def opened(data: bytes, secret: str, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    return read_sealed(path, secret).manifest


def alice_passphrase() -> str:
    return remembered("alice.passphrase").strip()


def operator_passphrase() -> str:
    return (MANIFESTS / "alice.passphrase").read_text().strip()


def grep(roots: str, patterns: Iterable[str], container: str | None = None) -> list[str]:
    """The files under ROOTS (shell words) that hold any of PATTERNS as a byte string.

    The patterns go to grep on its standard input: never into an argument or a file
    of the machine searched.
    """
    text = "".join(f"{p}\n" for p in sorted(set(patterns)) if p)
    assert text, "nothing to search for"
    script = f"grep -rlFa -D skip -f - {roots}"
    argv = ["sh", "-c", script]
    if container is not None:
        argv = ["podman", "exec", "-i", container, *argv]
    proc = subprocess.run(argv, input=text.encode(), capture_output=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    return proc.stdout.decode(errors="replace").splitlines()


def read_secret(host, path: str) -> str:
    """A file holding a secret; its absence fails, naming the file and never its content."""
    cmd = host.run(f"cat {path}")
    assert cmd.rc == 0, f"{host.backend.hostname}: {path}: {cmd.stderr.strip()}"
    return cmd.stdout


def server_swissnums() -> set[str]:
    """Swissnums of every FURL the operator's machines hold: each introducer's and
    storage node's own FURL (a node without one fails here, loudly), and every other
    FURL file of theirs (each node's log port)."""
    found: set[str] = set()
    own = [(n, "introducer") for n in INVENTORY.get_hosts("introducers")]
    own += [(n, "storage") for n in INVENTORY.get_hosts("storage")]
    for name, node in own:
        furl = read_secret(
            testinfra.get_host(f"podman://{name}"), f"{node_dir(node)}/private/{node}.furl"
        )
        swissnums = FURL_SWISSNUM.findall(furl)
        # Tahoe's are random, 32 characters (a fixed name, as old introducers had, is
        # no secret). A bare bool: pytest would show the values of a compound assert.
        one_random = len(swissnums) == 1 and len(swissnums[0]) >= 20
        assert one_random, f"{name}: {node}.furl has no swissnum"
        found.update(swissnums)
    assert len(found) == len(own), "two nodes with the same swissnum"
    for name in SERVERS:
        host = testinfra.get_host(f"podman://{name}")
        paths = host.check_output(f"find {node_dir('*')}/private -name '*.furl'").split()
        assert paths, f"{name} holds no FURL"
        for path in paths:
            found.update(s for s in FURL_SWISSNUM.findall(read_secret(host, path)) if len(s) >= 20)
    return found


def bob_secrets(tmp_path: Path) -> list[str]:
    """Bob's passphrases (his own, molecule.yml; his invitation's, the operator's file)
    and every cap of his manifest, opened from the copy for a friend on his stick."""
    mine = INVENTORY.get_variables(BOB_NAME)["gui_story_passphrase"]
    bob = testinfra.get_host(f"podman://{BOB_NAME}")
    copy = bob.file("/media/amnesia/USB/bob-for-a-friend.htbm.asc").content
    manifest = opened(copy, mine, tmp_path, "bob")
    assert manifest.aliases and manifest.convergence, "Bob's manifest holds no cap"
    caps = [manifest.convergence, *manifest.aliases.values()]
    return [mine, (MANIFESTS / "bob.passphrase").read_text().strip(), *caps]


def grid_manager_passphrase() -> str:
    """molecule.yml's (test only): it seals the Grid Manager's key and the identity archive."""
    return str(INVENTORY.get_variables(TAILS_NAME)["grid_manager_passphrase"])


def grid_manager_key() -> str:
    """The Grid Manager's private key, opened from the file the controller keeps sealed."""
    sealed = (EPHEMERAL / "grid-manager.key").read_bytes()
    return gridmanager.open_key(sealed, grid_manager_passphrase())


def identity_archive() -> dict[str, Any]:
    """The operator's identity archive, opened (site.yml wrote it at prepare and rebuild)."""
    hosts, _ = open_archive((EPHEMERAL / "identity.sealed").read_bytes(), grid_manager_passphrase())
    return hosts


def identity_secrets() -> list[str]:
    """Every node key of the archive, base64 as it travels, and as the text it is."""
    found = []
    for identity in identity_archive().values():
        for files in (*identity["tor"].values(), *identity["tahoe"].values()):
            for name, content in files.items():
                if name == "hostname" or name.endswith(".pubkey"):
                    continue  # addresses and public keys: no secret
                found.append(content)
                text = base64.b64decode(content).decode("ascii", "replace")
                # The lines of a key (PEM body, priv-v0-...; a FURL's swissnum is above).
                found += [line for line in text.splitlines() if len(line) >= 40]
    return found


# --- the operator: invitations, no capability --------------------------------------
def test_the_operator_seals_invitations_that_hold_no_capability() -> None:
    assert MANIFESTS.stat().st_mode & 0o777 == 0o700
    names = {p.name for p in MANIFESTS.iterdir()}
    # Alice's, and Bob's (he meets the app: tests/test_gui.py).
    forms = (".htbm", ".htbm.asc", ".png", ".passphrase")
    assert names == {f"{who}{form}" for who in ("alice", "bob") for form in forms}
    for p in MANIFESTS.iterdir():
        assert p.stat().st_mode & 0o777 == 0o600, p
    assert (MANIFESTS / "alice.png").read_bytes().startswith(b"\x89PNG")
    for form in ("alice.htbm", "alice.htbm.asc"):
        invitation = read_sealed(MANIFESTS / form, operator_passphrase()).manifest
        assert invitation.data["kind"] == "invitation"
        assert invitation.data["aliases"] == {}
        assert "convergence" not in invitation.data
        # Mutation: an alias's rootcap left in the invitation fails here (and above).
        no_cap = b"URI:" not in canonical_json(invitation.data)  # not shown: it has FURLs
        assert no_cap
        assert [b["alias"] for b in invitation.data["backups"]] == ["documents"]
        # Both introducers: either one lets a new laptop join.
        assert len(invitation.introducers) == len(INVENTORY.get_hosts("introducers")) == 2
        for petname, furl in invitation.introducers.items():
            onion_only = (
                bool(re.search(r"@tor:[a-z2-7]{56}\.onion:\d+/", furl)) and "tcp:" not in furl
            )
            assert onion_only, petname
        # The operator's Grid Manager: her node will upload only to servers it certified.
        assert invitation.grid_managers == {"operator": grid_manager_public_key()}


def grid_manager_public_key() -> str:
    """The public key of the Grid Manager whose sealed key the controller keeps."""
    return gridmanager.public_key(grid_manager_key())


def test_her_node_uploads_only_to_certified_servers() -> None:
    """Her own manifest keeps the invitation's Grid Manager, and the node htb built
    from it (running since the side effect) has it in [grid_managers]."""
    cfg = TAILS.check_output(
        "cat /run/user/*/htb-node/tahoe.cfg /tmp/htb-*/node/tahoe.cfg 2>/dev/null || true"
    )
    section = re.search(r"^\[grid_managers\]\n(.*?)(?:\n\[|\Z)", cfg, re.M | re.S)
    assert section, "no [grid_managers] in the running node's tahoe.cfg"
    assert section.group(1).split() == ["operator", "=", grid_manager_public_key()]


def test_first_use_sealed_her_own_manifest_over_the_invitation(tmp_path: Path) -> None:
    joined = TAILS.file(f"{MEMORY}/joined.htbm").content
    manifest = opened(joined, alice_passphrase(), tmp_path, "joined.htbm")
    assert manifest.data.get("kind", "full") == "full"
    rootcap = manifest.aliases["documents"]
    assert rootcap.startswith("URI:DIR2:")
    # The directory the node used in that session, and its convergence secret.
    assert rootcap in session_secrets("rootcaps")
    # Tahoe's own form (private/convergence): 32 random bytes, base32, 52 characters.
    assert re.fullmatch(r"[a-z2-7]{52}", manifest.data["convergence"])
    assert session_secrets("convergence") == [manifest.data["convergence"]]


# --- two introducers: an introducer seized loses no one ----------------------------
def test_storage_nodes_join_through_every_introducer() -> None:
    """Each storage node is configured with every introducer's own FURL, and each
    introducer relayed every storage node's announcement, with the FURL that node
    holds, to the operator's client node: a cache file per introducer, each entry
    kept by Tahoe only with a valid signature by the server's own key, so the node
    published it through that introducer. (The caches were written while both
    introducers ran; the side effect leaves the first one down.)

    Mutation: a storage node given one introducer only - it is missing from the
    other's cache (tests/unit/test_announced.py; done on the grid scenario's
    test_every_storage_node_is_announced_through_every_introducer); or an
    introducers.yaml with a FURL that is not an introducer's own."""
    introducers = {}  # petname -> the FURL the introducer holds itself
    for name in INVENTORY.get_hosts("introducers"):
        host = testinfra.get_host(f"podman://{name}")
        onion = host.file("/var/lib/tor/onion/tahoe-introducer/hostname").content_string
        furl = read_secret(host, f"{node_dir('introducer')}/private/introducer.furl")
        introducers[f"introducer-{onion.strip()[:8]}"] = furl.strip()
    assert len(introducers) == 2, sorted(introducers)
    storage_furls = {}  # server id -> the FURL the storage node holds itself
    for host in STORAGE:
        config = yaml.safe_load(
            read_secret(host, f"{node_dir('storage')}/private/introducers.yaml")
        )
        joins = {petname: entry["furl"] for petname, entry in config["introducers"].items()}
        # Names only: a FURL is never shown.
        assert sorted(joins) == sorted(introducers), host.backend.hostname
        assert [p for p in joins if joins[p] != introducers[p]] == [], host.backend.hostname
        key = host.check_output(f"cat {node_dir('storage')}/node.pubkey").strip()
        storage_furls["v0-" + key.removeprefix("pub-v0-")] = read_secret(
            host, f"{node_dir('storage')}/private/storage.furl"
        ).strip()
    operator = testinfra.get_host(f"podman://{INVENTORY.get_hosts('grid_clients')[0]}")
    caches = {
        petname: announced.cached(
            read_secret(operator, f"{node_dir('client')}/private/introducer_{petname}_cache.yaml")
        )
        for petname in introducers
    }
    # Into a name first: pytest would show a failing call's arguments (the FURLs).
    gaps = announced.not_announced(caches, storage_furls)
    assert gaps == []


def test_a_new_laptop_joins_and_restores_with_one_introducer_down() -> None:
    # The side effect stopped the first introducer before the new laptop's htb start,
    # and restored and backed up through the second (test_restore_is_byte_identical).
    record = json.loads(remembered("one-introducer-down.json"))
    assert record["first_introducer"] != "active"
    assert record["introducers"] == 2
    status = record["status"]
    assert status["connected"] >= status["happy"], status
    assert status["can_backup"] and status["can_restore"], status


# --- (e) the story ends byte-identical; the passphrases -----------------------------
def test_restore_is_byte_identical() -> None:
    check = TAILS.run(f"cd {DOCS} && sha256sum --quiet -c {MEMORY}/first.sha256")
    assert check.rc == 0, check.stdout + check.stderr
    count = int(TAILS.check_output(f"wc -l < {MEMORY}/first.sha256"))
    assert count > 2000


def test_restore_has_the_same_names_sizes_and_modes() -> None:
    expected = remembered("first.listing").strip()
    assert listing(DOCS) == expected


def test_excluded_files_stay_behind() -> None:
    assert not TAILS.file(f"{DOCS}/draft.tmp").exists


def test_the_operators_passphrase_does_not_open_her_manifest(tmp_path: Path) -> None:
    # Mutation: her first start resealing under the invitation's passphrase instead of
    # the one she chose -> every copy opens, and this fails.
    copies = {
        "joined": TAILS.file(f"{MEMORY}/joined.htbm").content,
        "friend": FRIEND_COPY.read_bytes(),
        "installed": TAILS.file(f"{HTB_DIR}/manifest.htbm").content,
    }
    for name, data in copies.items():
        with pytest.raises(SealError):
            opened(data, operator_passphrase(), tmp_path, name)
    # Nor through htb itself: exit 3, a sealed-file problem.
    TAILS.check_output(f"install -m 0400 -o amnesia {MEMORY}/operator.passphrase /run/htb-op")
    cmd = htb("snapshots --passphrase-file /run/htb-op", check=False)
    TAILS.check_output("rm -f /run/htb-op")
    assert cmd.rc == 3, cmd.stdout + cmd.stderr


def test_the_friends_copy_opens_with_her_passphrase(tmp_path: Path) -> None:
    friend = opened(FRIEND_COPY.read_bytes(), alice_passphrase(), tmp_path, "friend")
    joined = opened(
        TAILS.file(f"{MEMORY}/joined.htbm").content, alice_passphrase(), tmp_path, "joined"
    )
    assert friend.data == joined.data
    # Freshly sealed (new salt and nonce), armored, and the very file installed.
    assert FRIEND_COPY.read_bytes().startswith(b"-----BEGIN HTB SEALED MANIFEST-----")
    assert TAILS.file(f"{HTB_DIR}/manifest.htbm").content == FRIEND_COPY.read_bytes()
    assert TAILS.file(f"{MEMORY}/friend.png").content.startswith(b"\x89PNG")


# --- (a) no machine of the operator holds her rootcaps --------------------------------
def test_no_operator_machine_nor_the_controllers_output_holds_her_rootcaps() -> None:
    rootcaps = session_secrets("rootcaps")
    assert any(c.startswith("URI:DIR2:") for c in rootcaps)
    assert any(c.startswith("URI:DIR2-RO:") for c in rootcaps)
    hits = {name: grep(WHOLE_FILESYSTEM, rootcaps, container=name) for name in SERVERS}
    hits["controller output"] = grep(str(EPHEMERAL), rootcaps)
    assert hits == {name: [] for name in hits}


# --- (b) nothing of a session at rest in Persistent Storage ------------------------------
@pytest.mark.parametrize("when", ["stopped", "rebooted"])
def test_persistent_storage_holds_no_secret_of_her_session(when: str) -> None:
    counts = {kind: len(session_secrets(kind)) for kind in SESSION_KINDS}
    # The capture saw the session: both forms of the rootcap, every file's cap in the
    # backupdb, the introducer's and each storage server's swissnum, the keys.
    assert counts["rootcaps"] >= 2 and counts["caps"] > 2000, counts
    assert counts["swissnums"] >= 1 + len(STORAGE), counts
    assert counts["convergence"] == counts["api-token"] == 1, counts
    assert counts["node-keys"] >= 1 and counts["passphrases"] == 2, counts
    # The search covered the tooling, the sealed manifest and her documents ...
    assert int(remembered(f"persistence-files-{when}")) > 2000
    # ... after the node's directory (in RAM) was gone.
    assert remembered(f"node-dir-{when}").strip() == "gone"
    hits = [line.split("\t") for line in remembered(f"persistence-hits-{when}.tsv").splitlines()]
    assert hits == []


def test_tooling_lives_in_persistent_storage_owned_by_amnesia() -> None:
    f = TAILS.file(HTB_DIR)
    assert f.is_directory and f.user == "amnesia" and f.mode == 0o700
    manifest = TAILS.file(f"{HTB_DIR}/manifest.htbm")
    assert manifest.user == "amnesia" and manifest.mode == 0o600
    # The node is not in Persistent Storage: only the tooling and sealed files are
    # (the manifest, and the backupdb htb seals beside it after each backup).
    assert not TAILS.file(f"{HTB_DIR}/node").exists
    kept = TAILS.check_output(f"ls -A {HTB_DIR}").split()
    # The bundle's installer: its commands, a virtualenv per bundle (venv links to the
    # installed one) and which bundle that is; no wheelhouse is left behind.
    venvs = [k for k in kept if k.startswith("venv-")]
    assert len(venvs) == 1, kept
    tooling = ["bin", "installed.json", "venv", *venvs]
    assert sorted(kept) == sorted([*tooling, "manifest.htbm", "manifest.htbm.backupdb"])
    # (linked_to resolves ~/Persistent, itself a link to Persistent Storage.)
    assert Path(TAILS.file(f"{HTB_DIR}/venv").linked_to).name == venvs[0]
    # Issue 25: the release installed (htb's version), which a later bundle is compared
    # with (an older one is refused unless forced).
    state = json.loads(TAILS.file(f"{HTB_DIR}/installed.json").content_string)
    galaxy = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "galaxy.yml"
    assert state["version"] == yaml.safe_load(galaxy.read_text())["version"], state
    sealed_db = TAILS.file(f"{HTB_DIR}/manifest.htbm.backupdb")
    assert sealed_db.user == "amnesia" and sealed_db.mode == 0o600
    assert not sealed_db.content.startswith(b"SQLite format")
    # ~/.local/bin/htb -> Dotfiles -> the command in the Persistent Folder.
    target = TAILS.file("/home/amnesia/.local/bin/htb").linked_to
    assert target.endswith("/Persistent/.htb/bin/htb"), target
    launcher = "/home/amnesia/.local/share/applications/htb-backup.desktop"
    assert "Exec=/home/amnesia/Persistent/.htb/bin/htb-gui" in TAILS.file(launcher).content_string


def test_the_running_node_lives_in_ram_private_to_amnesia() -> None:
    node = TAILS.check_output("htb-test-probe node-dir")
    assert not node.startswith(("/home/", "/live/")), node
    assert TAILS.check_output(f"stat -f -c %T {node}") == "tmpfs"
    assert TAILS.file(node).user == "amnesia" and TAILS.file(node).mode == 0o700
    # Files 0600, directories 0700, all amnesia's (htb sets umask 077).
    loose = TAILS.check_output(
        f"find {node} ! -type l \\( -perm /077 -o ! -user amnesia \\) -print"
    )
    assert loose == ""


def test_runs_on_tails_python_without_root() -> None:
    python = f"{HTB_DIR}/venv/bin/python"
    version = TAILS.check_output(f"{python} -c 'import sys; print(sys.version_info[:2])'")
    assert version == "(3, 13)"
    procs = TAILS.check_output("ps -eo user:20,args | grep '[t]ahoe run'")
    assert procs and all(line.split()[0] == "amnesia" for line in procs.splitlines())


def test_client_speaks_foolscap_over_socks_and_listens_nowhere() -> None:
    node = TAILS.check_output("htb-test-probe node-dir")
    cfg = TAILS.file(f"{node}/tahoe.cfg").content_string
    assert re.search(r"^force_foolscap = true$", cfg, re.M)
    assert re.search(r"^reveal-ip-address = false$", cfg, re.M | re.I)
    assert re.search(r"^tub\.port = disabled$", cfg, re.M)
    assert "control.port" not in cfg
    assert re.search(r"^socks\.port = tcp:127\.0\.0\.1:9050$", cfg, re.M)
    # Nothing beyond loopback, except Tahoe's own log Tub (Foolscap's logport:
    # backlog 1, the node's user), which binds 0.0.0.0 whatever tahoe.cfg says
    # (see README); Tails' firewall drops anything coming in.
    amnesia = TAILS.user("amnesia").uid
    for line in TAILS.check_output("ss -Hltune").splitlines():
        fields = line.split()
        if fields[4].startswith(("127.0.0.1:", "[::1]:")):
            continue
        uid = int(re.search(r"uid:(\d+)", line).group(1))
        assert fields[0] == "tcp" and fields[3] == "1" and uid == amnesia, line


# --- (c) her manifests name no machine --------------------------------------------------
def test_her_manifests_name_no_machine_of_the_test_bed(tmp_path: Path) -> None:
    # Control: each container's name and address are known (counted below). Mutation:
    # a tcp hint with an introducer's address in the invitation's FURL -> named, fails.
    identifiers: set[str] = set()
    for name in INVENTORY.get_hosts("all"):
        identifiers.add(name)  # the inventory hostname is the container's name
        host = INVENTORY.get_variables(name).get("ansible_host")
        if host:
            identifiers.add(str(host))
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}} {{end}}"
        out = subprocess.run(
            ["podman", "inspect", "-f", fmt, name], capture_output=True, text=True, check=True
        )
        identifiers.update(word for word in out.stdout.split() if "<" not in word)
    assert len(identifiers) >= 2 * len(INVENTORY.get_hosts("all")), identifiers
    manifests = {
        "invitation": read_sealed(MANIFESTS / "alice.htbm", operator_passphrase()).manifest,
        "full": opened(FRIEND_COPY.read_bytes(), alice_passphrase(), tmp_path, "full"),
    }
    for kind, manifest in manifests.items():
        text = canonical_json(manifest.data).decode().lower()
        named = sorted(i for i in identifiers if i.lower() in text)
        assert named == [], kind
        assert not re.search(r"(?<![\w.])\d{1,3}(\.\d{1,3}){3}(?![\w.])", text), kind


# --- (d) ansible's output at -vvv shows no secret ----------------------------------------
def test_ansible_output_at_vvv_shows_no_swissnum_cap_or_passphrase(tmp_path: Path) -> None:
    log = ANSIBLE_LOG.read_text(errors="replace")
    # The log holds site.yml (prepare), playbooks/manifests.yml (converge) and the
    # side effect, at -vvv.
    for role in ("introducer", "storage", "grid_client", "activist_manifests", "client_tails"):
        assert f"TASK [{role} : " in log, role
    assert re.search(r"<[\w.-]+> (ESTABLISH|EXEC|RUN|PUT) ", log), "not -vvv"
    # Every introducer's and storage node's own FURL (server_swissnums fails on a node
    # without one), and each node's log port. Counted apart from the session's: those
    # filled the old count when the read (`cat ... || true`) found nothing. Mutation:
    # a FURL path that does not exist fails, naming the node and file (done on the
    # client scenario's nodes).
    servers = server_swissnums()
    assert len(servers) >= len(INVENTORY.get_hosts("introducers")) + len(STORAGE)
    # Alice's (caps, swissnums, hers and her invitation's passphrases) and Bob's (his
    # two passphrases and his manifest's caps: the GUI story ran in the same log),
    # and the operator's: the Grid Manager's passphrase (it seals the identity archive
    # the rebuild opened) and key, and every node's key.
    secrets = {
        "caps": session_secrets("caps") + session_secrets("rootcaps"),
        "swissnums": sorted(servers | set(session_secrets("swissnums"))),
        "passphrases": session_secrets("passphrases"),
        "node identities": identity_secrets(),
        "bob's": bob_secrets(tmp_path),
        "the operator's": [grid_manager_passphrase(), grid_manager_key().removeprefix("priv-v0-")],
    }
    assert all(len(value) >= 20 for values in secrets.values() for value in values)
    hits = {kind: grep(str(ANSIBLE_LOG), values) for kind, values in secrets.items()}
    assert hits == {kind: [] for kind in secrets}
    # Control: the same search finds a secret where it is (Bob's invitation passphrase
    # in the operator's file). Mutation: `no_log` dropped from the task that writes
    # Bob's passphrases (gui_story.yml) fails the search above.
    control = str(MANIFESTS / "bob.passphrase")
    assert grep(control, secrets["bob's"]) == [control], "control: the search finds nothing"


# --- the first backup on a new laptop stores no file again -------------------------------
def test_first_backup_after_a_restore_stores_no_new_file() -> None:
    names = [line.split("\t")[1] for line in remembered("snapshots").splitlines()]
    before_wipe, after_restore = names[-2], names[-1]
    files = {
        name: json.loads(
            TAILS.check_output(f"htb-test-probe snapshot-files documents laptop/documents {name}")
        )
        for name in (before_wipe, after_restore)
    }
    # Same convergence secret, same bytes: every file has the same cap, so its
    # shares are already on the grid.
    assert len(files[before_wipe]) > 2000
    assert files[after_restore] == files[before_wipe]
    # What it stored: shares of directories only (their metadata holds the restored
    # files' new times), at most one per share for each directory and the snapshot.
    shares = json.loads(remembered("shares.json"))
    directories = sum(line.startswith("d") for line in listing(DOCS).splitlines()) + 1
    total = 3  # molecule.yml: grid_client_shares_total
    assert 0 <= shares["after"] - shares["before"] <= total * directories, shares


# --- what happens next -----------------------------------------------------------------
def test_wrong_passphrase_is_refused_and_touches_nothing() -> None:
    TAILS.check_output("install -m 0400 -o amnesia /dev/null /run/htb-wrong")
    TAILS.check_output("echo 'wrong horse battery staple' > /run/htb-wrong")
    before = listing(DOCS)
    cmd = htb("restore --passphrase-file /run/htb-wrong --to /tmp/htb-wrong", check=False)
    assert cmd.rc != 0
    assert "passphrase" in (cmd.stdout + cmd.stderr).lower()
    assert not TAILS.file("/tmp/htb-wrong").exists
    assert listing(DOCS) == before


def test_second_snapshot_and_the_first_still_restores() -> None:
    before = htb(f"snapshots {PW_ARG}").stdout.splitlines()
    TAILS.check_output(f"sudo -u amnesia sh -c 'echo changed >> {DOCS}/deep/run.sh'")
    TAILS.check_output(f"sudo -u amnesia sh -c 'echo new > {DOCS}/new.txt'")
    htb(f"backup {PW_ARG} --timeout 600")
    after = htb(f"snapshots {PW_ARG}").stdout.splitlines()
    assert len(after) == len(before) + 1 and after[:-1] == before, after
    # The previous snapshot (the first backup on the new laptop) is what was restored.
    previous = before[-1].split("\t")[1]
    htb(f"restore {PW_ARG} --snapshot {previous} --to /tmp/htb-first --timeout 600")
    check = TAILS.run(f"cd /tmp/htb-first{DOCS} && sha256sum --quiet -c {MEMORY}/first.sha256")
    assert check.rc == 0, check.stdout
    assert not TAILS.file(f"/tmp/htb-first{DOCS}/new.txt").exists


def test_destroyed_nodes_come_back_at_the_same_onions_with_the_same_furls_and_keys() -> None:
    """Issue 10: the second introducer's and the first storage node's containers were
    destroyed (new containers, empty disks) and site.yml rebuilt them from the
    identity archive: the same onion address, FURL, node key and TLS certificate."""
    # Mutation: the rebuild without the archive (identity_restore_hosts unset) -> new
    # keys and onions: identity_after differs, and this fails.
    before = json.loads(remembered("rebuild-before.json"))
    after = json.loads(remembered("repair.json"))
    assert len(before["identity"]) == 2
    assert all(len(d.splitlines()) >= 3 for d in before["identity"]), before
    assert after["identity_after"] == before["identity"]
    containers = json.loads((EPHEMERAL / "rebuild-containers.json").read_text())
    for name, old_id in containers.items():
        new_id = subprocess.run(
            ["podman", "inspect", "--format", "{{.Id}}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert new_id and new_id != old_id, name
    assert set(containers) <= set(identity_archive())


def test_her_unchanged_manifest_restores_through_the_rebuilt_introducer() -> None:
    """With the first introducer down, her node (a fresh start, the same manifest)
    joined through the rebuilt one and restored everything, byte-identical."""
    # Mutation: the introducer rebuilt with a new onion (no identity archive) -> her
    # manifest's FURL leads nowhere, start fails, and so does this.
    after = json.loads(remembered("repair.json"))
    assert (after["start"]["rc"], after["restore"]["rc"]) == (0, 0), after
    root = f"/home/amnesia/after-rebuild{DOCS}"
    check = TAILS.run(f"cd {root} && sha256sum --quiet -c {MEMORY}/first.sha256")
    assert check.rc == 0, check.stdout + check.stderr


def test_the_rebuilt_storage_node_is_repaired_to_n_shares() -> None:
    """Issue 10: the rebuilt storage node came back with an empty disk; `htb check`
    found data to repair (exit 9), `htb check --repair` repaired all of it (exit 0),
    and every storage index that node had held has all N shares again, counted on
    the nodes."""
    # Mutation: `htb check` without --repair in the repair step -> the lost objects
    # stay short of N, and this fails.
    lost = json.loads(remembered("rebuild-before.json"))["lost_indexes"]
    record = json.loads(remembered("repair.json"))
    assert len(lost) > 100, lost[:3]
    assert (record["check"]["rc"], record["repair"]["rc"]) == (9, 0), record
    # N of the invitation (molecule.yml's grid_client_shares_total).
    total = int(INVENTORY.get_variables(TAILS_NAME)["grid_client_shares_total"])
    # shares/<prefix>/<storage index>/<share number>: the distinct share numbers of
    # an object on all nodes (Tahoe's repairer may also place a second copy of one).
    held: dict[str, set[str]] = {}
    for host in STORAGE:
        out = host.check_output(
            f"find {node_dir('storage')}/storage/shares -mindepth 3 -maxdepth 3 -type f"
            " -not -path '*/incoming/*'"
        )
        for path in out.split():
            index, number = path.split("/")[-2:]
            held.setdefault(index, set()).add(number)
    short = {i: sorted(held.get(i, ())) for i in lost if len(held.get(i, ())) != total}
    assert short == {}, f"{len(short)} of {len(lost)} objects short"


def test_hostile_snapshots_are_refused_and_her_laptop_is_unchanged() -> None:
    """Issue 21 on the onion grid (hostile_snapshot.yml): each hostile tree linked as
    Latest by whoever holds her write cap; `htb restore` with --to and in place
    refused each with exit 11 and one printable line, and her home and Persistent
    Storage (every path, mode and file digest) are as they were. With the checks of
    htb.restore gone, `climb-to-autostart` writes ~/.config/autostart/htb-evil.desktop
    and the digests differ."""
    runs = [line.split("\t") for line in remembered("hostile-restores.tsv").splitlines()]
    shapes = sorted({run[0] for run in runs})
    assert len(shapes) >= 13 and "climb-to-autostart" in shapes, shapes
    assert len(runs) == 2 * len(shapes), runs
    for shape, mode, rc, errors, raw, line in runs:
        # One error line; no control character from the grid reached her terminal.
        assert (rc, errors, raw) == ("11", "1", "0"), (shape, mode, rc, errors, raw, line)
        assert line.startswith("htb: error: restore refused: the snapshot "), (shape, line)
    before = remembered("digests-before-hostile")
    assert len(before.splitlines()) > 2000  # her 2 200 documents are in it
    assert remembered("digests-after-hostile") == before
    assert not TAILS.file("/home/amnesia/restored-hostile").exists


@pytest.fixture()
def storage_down():
    """Stop storage nodes on request; restart them all afterwards."""
    stopped = []

    def stop(host) -> None:
        host.check_output("systemctl stop tahoe-storage.service")
        stopped.append(host)

    yield stop
    for host in stopped:
        host.check_output("systemctl start tahoe-storage.service")


def test_latest_restores_after_the_loss_of_n_minus_k_nodes(storage_down) -> None:
    # Control: the next test, with K-1 left, fails the same restore. Mutation: N = K
    # (grid_client_shares_total 2) -> a lost node loses shares, and this fails.
    storage_down(STORAGE[0])  # 2 of 3 left, K = 2
    htb(f"restore {PW_ARG} --to /tmp/htb-degraded --timeout 600")
    root = f"/tmp/htb-degraded{DOCS}"
    check = TAILS.run(f"cd {root} && sha256sum --quiet -c {MEMORY}/first.sha256")
    # Latest is the second snapshot: only the file changed for it differs.
    assert check.stdout.strip() == "./deep/run.sh: FAILED", check.stdout
    assert TAILS.file(f"{root}/new.txt").content_string == "new\n"
    assert TAILS.file(f"{root}/deep/run.sh").content_string.endswith("changed\n")


def test_restore_with_fewer_than_k_nodes_fails_clearly_and_writes_nothing(storage_down) -> None:
    storage_down(STORAGE[0])
    storage_down(STORAGE[1])  # 1 of 3 left, K = 2
    before = listing(DOCS)
    cmd = htb(f"restore {PW_ARG} --to /tmp/htb-too-few --timeout 30", check=False)
    assert cmd.rc != 0
    message = (cmd.stdout + cmd.stderr).lower()
    assert "storage servers" in message, message
    assert not TAILS.file("/tmp/htb-too-few").exists
    assert listing(DOCS) == before
