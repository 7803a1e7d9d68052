"""What the client scenario's story left behind, and what happens next.

The side effect backed up Alice's sample data from the Tails-like client, wiped
the client, reinstalled the tooling and restored. These tests check the restore,
the client's setup, then go on in order: a second snapshot, the loss of N-K
storage nodes, and a grid with fewer than K nodes left.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

from htb.manifest import read_sealed

INVENTORY = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
TAILS = testinfra.get_host(f"podman://{INVENTORY.get_hosts('tails_clients')[0]}")
STORAGE = [testinfra.get_host(f"podman://{name}") for name in INVENTORY.get_hosts("storage")]
DOCS = "/home/amnesia/Persistent/Documents"
HTB_DIR = "/home/amnesia/Persistent/.htb"
MEMORY = "/root/htb-test"
# The activist's passphrase, which the side effect left where only amnesia can read it.
PW_ARG = "--passphrase-file /run/htb-passphrase"


def htb(args: str, check: bool = True):
    """Run htb as the activist, the way the launcher does (no root)."""
    cmd = TAILS.run(f"sudo -H -u amnesia /home/amnesia/.local/bin/htb {args}")
    if check:
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
    return cmd


def listing(root: str) -> str:
    # The script the side effect brought (scripts/tree-listing) made the record too.
    return TAILS.check_output(f"/usr/local/bin/tree-listing {root}")


def test_the_operator_got_sealed_manifests_and_nothing_leaks() -> None:
    out = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "manifests"
    assert out.stat().st_mode & 0o777 == 0o700
    names = {p.name for p in out.iterdir()}
    assert names == {"alice.htbm", "alice.htbm.asc", "alice.png", "alice.passphrase"}
    for p in out.iterdir():
        assert p.stat().st_mode & 0o777 == 0o600, p
    assert (out / "alice.png").read_bytes().startswith(b"\x89PNG")
    secret = (out / "alice.passphrase").read_text().strip()
    for form in ("alice.htbm", "alice.htbm.asc"):
        manifest = read_sealed(out / form, secret).manifest
        assert set(manifest.aliases) == {"documents"}
        assert manifest.aliases["documents"].startswith("URI:DIR2:")
        (furl,) = manifest.introducers.values()
        assert re.search(r"@tor:[a-z2-7]{56}\.onion:\d+/", furl) and "tcp:" not in furl
    # The client got the armored copy, as a friend would pass it on.
    installed = TAILS.file(f"{HTB_DIR}/manifest.htbm").content_string
    assert installed == (out / "alice.htbm.asc").read_text()


def test_restore_is_byte_identical() -> None:
    check = TAILS.run(f"cd {DOCS} && sha256sum --quiet -c {MEMORY}/first.sha256")
    assert check.rc == 0, check.stdout + check.stderr
    count = int(TAILS.check_output(f"wc -l < {MEMORY}/first.sha256"))
    assert count > 2000


def test_restore_has_the_same_names_sizes_and_modes() -> None:
    expected = TAILS.file(f"{MEMORY}/first.listing").content_string.strip()
    assert listing(DOCS) == expected


def test_excluded_files_stay_behind() -> None:
    assert not TAILS.file(f"{DOCS}/draft.tmp").exists


def test_tooling_lives_in_persistent_storage_owned_by_amnesia() -> None:
    for path in (HTB_DIR, f"{HTB_DIR}/node", f"{HTB_DIR}/node/private"):
        f = TAILS.file(path)
        assert f.is_directory and f.user == "amnesia" and f.mode == 0o700, path
    manifest = TAILS.file(f"{HTB_DIR}/manifest.htbm")
    assert manifest.user == "amnesia" and manifest.mode == 0o600
    # ~/.local/bin/htb -> Dotfiles -> the command in the Persistent Folder.
    target = TAILS.file("/home/amnesia/.local/bin/htb").linked_to
    assert target.endswith("/Persistent/.htb/bin/htb"), target
    launcher = "/home/amnesia/.local/share/applications/htb-backup.desktop"
    assert "htb-backup-now" in TAILS.file(launcher).content_string


def test_runs_on_tails_python_without_root() -> None:
    python = f"{HTB_DIR}/venv/bin/python"
    version = TAILS.check_output(f"{python} -c 'import sys; print(sys.version_info[:2])'")
    assert version == "(3, 13)"
    procs = TAILS.check_output("ps -eo user:20,args | grep '[t]ahoe run'")
    assert procs and all(line.split()[0] == "amnesia" for line in procs.splitlines())


def test_client_speaks_foolscap_over_socks_and_listens_nowhere() -> None:
    cfg = TAILS.file(f"{HTB_DIR}/node/tahoe.cfg").content_string
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
    TAILS.check_output(f"sudo -u amnesia sh -c 'echo changed >> {DOCS}/deep/run.sh'")
    TAILS.check_output(f"sudo -u amnesia sh -c 'echo new > {DOCS}/new.txt'")
    htb(f"backup {PW_ARG} --timeout 600")
    snapshots = htb(f"snapshots {PW_ARG}").stdout.split()
    names = [s for s in snapshots if not s.startswith("documents:")]
    assert len(names) == 2, snapshots
    htb(f"restore {PW_ARG} --snapshot {names[0]} --to /tmp/htb-first --timeout 600")
    check = TAILS.run(f"cd /tmp/htb-first{DOCS} && sha256sum --quiet -c {MEMORY}/first.sha256")
    assert check.rc == 0, check.stdout
    assert not TAILS.file(f"/tmp/htb-first{DOCS}/new.txt").exists


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
