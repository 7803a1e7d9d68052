"""The onion grid as site.yml builds it, checked from inside its hosts.

Shared by the grid (introducer) and static (servers.yaml) scenarios: hosts come
from the scenario's inventory groups.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
TAHOE = "/opt/tahoe-lafs/bin/tahoe"


def hosts(group: str) -> list:
    return [testinfra.get_host(f"podman://{name}") for name in INVENTORY.get_hosts(group)]


INTRODUCERS = hosts("introducers")
STORAGE = hosts("storage")
CLIENT = hosts("grid_clients")[0]
GRID = [*INTRODUCERS, *STORAGE, CLIENT]
NODES = [(h, "introducer") for h in INTRODUCERS] + [(h, "storage") for h in STORAGE]
ONION_FURL = re.compile(r"^pb://[a-z2-7]+@tor:[a-z2-7]{56}\.onion:\d+/[^,]+$")


def tahoe(*args: str, check: bool = True):
    cmd = CLIENT.run(
        "runuser -u tahoe-client -- " + TAHOE + " -d /var/lib/tahoe/client" + " %s" * len(args),
        *args,
    )
    if check:
        assert cmd.rc == 0, cmd.stderr
    return cmd


def connected_servers() -> int:
    welcome = json.loads(CLIENT.check_output("curl -sS http://127.0.0.1:3456/?t=json"))
    return sum(
        str(s.get("connection_status", "")).lower().startswith("connected")
        for s in welcome["servers"]
    )


def wait_for_servers(count: int, attempts: int = 60) -> None:
    for _ in range(attempts):
        if connected_servers() >= count:
            return
        time.sleep(3)
    raise AssertionError(f"the client never saw {count} storage servers connected")


@pytest.fixture(scope="module")
def grid_ready() -> None:
    wait_for_servers(len(STORAGE))


def test_client_sees_every_storage_server(grid_ready) -> None:
    assert connected_servers() == len(STORAGE)


def test_every_furl_is_onion_only() -> None:
    for host in INTRODUCERS:
        furl = host.file("/var/lib/tahoe/introducer/private/introducer.furl").content_string
        assert ONION_FURL.match(furl.strip()), furl
    for host in STORAGE:
        furl = host.file("/var/lib/tahoe/storage/private/storage.furl").content_string
        assert ONION_FURL.match(furl.strip()), furl
    for name in ("introducers.yaml", "servers.yaml"):
        config = CLIENT.file(f"/var/lib/tahoe/client/private/{name}")
        if config.exists:
            assert "tcp:" not in config.content_string
            assert "@tor:" in config.content_string


def test_no_tcp_hint_is_announced(grid_ready) -> None:
    """What the client actually learned: announcements carry onion hints only."""
    welcome = json.loads(CLIENT.check_output("curl -sS http://127.0.0.1:3456/?t=json"))
    text = json.dumps(welcome)
    assert "tcp:" not in text
    assert not re.search(r"\b10\.89\.\d+\.\d+\b", text)


def test_nothing_listens_beyond_loopback() -> None:
    """Except Tahoe's own log Tub, which binds 0.0.0.0 whatever tahoe.cfg says.

    It is Foolscap's logport (backlog 1, the node's user): known upstream, and
    the unit's IPAddressDeny drops its traffic on cgroup-v2 hosts (these test
    containers run on cgroup v1, where that cannot be shown).
    """
    for host in GRID:
        tahoe_uids = {
            host.user(u).uid
            for u in ("tahoe-introducer", "tahoe-storage", "tahoe-client")
            if host.user(u).exists
        }
        for line in host.check_output("ss -Hltune").splitlines():
            fields = line.split()
            local = fields[4]
            if local.startswith(("127.0.0.1:", "[::1]:", "127.0.0.53")):
                continue
            uid = int(re.search(r"uid:(\d+)", line).group(1))
            assert fields[0] == "tcp" and fields[3] == "1" and uid in tahoe_uids, (host, line)


def test_tahoe_config_hides_the_ip() -> None:
    for host, node in [*NODES, (CLIENT, "client")]:
        cfg = host.file(f"/var/lib/tahoe/{node}/tahoe.cfg").content_string
        assert "reveal-IP-address = false" in cfg
        assert re.search(r"^tcp = tor$", cfg, re.M)
        port = re.search(r"^tub.port = (.*)$", cfg, re.M).group(1)
        assert port == "disabled" or port.endswith("interface=127.0.0.1"), port


def test_files_belong_to_their_users() -> None:
    for host, node in [*NODES, (CLIENT, "client")]:
        node_dir = host.file(f"/var/lib/tahoe/{node}")
        assert (node_dir.user, node_dir.mode) == (f"tahoe-{node}", 0o700)
        cfg = host.file(f"/var/lib/tahoe/{node}/tahoe.cfg")
        assert (cfg.user, cfg.mode) == (f"tahoe-{node}", 0o600)
        assert host.service(f"tahoe-{node}").is_running
        assert host.process.get(comm="tahoe").user == f"tahoe-{node}"
    for host, node in NODES:
        key = host.file(f"/var/lib/tor/onion/tahoe-{node}/hs_ed25519_secret_key")
        assert (key.user, key.mode) == ("debian-tor", 0o600)


def test_upload_download_and_survive_losing_n_minus_k(grid_ready) -> None:
    CLIENT.run("head -c 3M /dev/urandom > /tmp/payload && chmod 644 /tmp/payload")
    want = CLIENT.check_output("sha256sum /tmp/payload").split()[0]
    cap = tahoe("put", "/tmp/payload").stdout.strip()
    assert cap.startswith("URI:CHK:")

    def fetched() -> str:
        got = tahoe("get", cap, check=False)
        return hashlib.sha256(got.stdout_bytes).hexdigest() if got.rc == 0 else got.stderr

    assert fetched() == want
    cfg = CLIENT.file("/var/lib/tahoe/client/tahoe.cfg").content_string
    needed = int(re.search(r"^shares.needed = (\d+)", cfg, re.M).group(1))
    lost = STORAGE[: len(STORAGE) - needed]
    try:
        for host in lost:
            host.run("systemctl stop tahoe-storage")
        assert fetched() == want
        # One more and fewer than K shares are left: a clear error, no data.
        STORAGE[len(lost)].run("systemctl stop tahoe-storage")
        failure = tahoe("get", cap, check=False)
        assert failure.rc != 0
        assert "NotEnoughSharesError" in failure.stderr or "UnrecoverableFileError" in (
            failure.stderr + failure.stdout
        )
    finally:
        for host in STORAGE:
            host.run("systemctl start tahoe-storage")


def test_restart_keeps_onions_and_furls() -> None:
    before = {
        host.backend.hostname: host.file("/var/lib/tor/onion/tahoe-storage/hostname").content_string
        for host in STORAGE
    }
    for host in STORAGE:
        host.run("systemctl restart tor@default tahoe-storage")
    after = {
        host.backend.hostname: host.file("/var/lib/tor/onion/tahoe-storage/hostname").content_string
        for host in STORAGE
    }
    assert before == after
