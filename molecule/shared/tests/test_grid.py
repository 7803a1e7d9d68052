"""The onion grid as site.yml builds it, checked from inside its hosts.

Shared by the grid (introducer) and static (servers.yaml) scenarios: hosts come
from the scenario's inventory groups.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import subprocess
import time

import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

from htb import gridmanager, identity

INVENTORY = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
TAHOE = "/opt/tahoe-lafs/bin/tahoe"


def hosts(group: str) -> list:
    return [testinfra.get_host(f"podman://{name}") for name in INVENTORY.get_hosts(group)]


INTRODUCERS = hosts("introducers")
STORAGE = hosts("storage")
# The grid scenario's storage node without a Grid Manager certificate (none in static).
ROGUE = hosts("rogue_storage")
CLIENT = hosts("grid_clients")[0]
TORNET = hosts("tor_testnet")[0]
GRID = [*INTRODUCERS, *STORAGE, CLIENT]
NODES = [(h, "introducer") for h in INTRODUCERS] + [(h, "storage") for h in STORAGE]
GRID_NODES = [*NODES, (CLIENT, "client")]
# molecule.yml's (test only): the tests open the sealed key with it.
GRID_MANAGER_PASSPHRASE = INVENTORY.get_variables(INVENTORY.get_hosts("grid_clients")[0])[
    "grid_manager_passphrase"
]
ONION_FURL = re.compile(r"^pb://[a-z2-7]+@tor:[a-z2-7]{56}\.onion:\d+/[^,]+$")


def tahoe(*args: str, check: bool = True):
    cmd = CLIENT.run(
        "runuser -u tahoe-client -- " + TAHOE + " -d /var/lib/tahoe/client" + " %s" * len(args),
        *args,
    )
    if check:
        assert cmd.rc == 0, cmd.stderr
    return cmd


# What tahoe says when servers it sees as connected cannot take or serve shares yet
# (circuits to each onion still being built, on a loaded machine): transient.
TRANSIENT = ("UploadUnhappinessError", "NotEnoughServersError", "NoSharesError")


def tahoe_retrying(*args: str, servers: int, attempts: int = 4):
    """tahoe ARGS, retried (bounded) while it fails transiently: before each retry,
    wait until ``servers`` storage servers are connected again."""
    for attempt in range(1, attempts + 1):
        cmd = tahoe(*args, check=False)
        if cmd.rc == 0 or not any(word in cmd.stderr for word in TRANSIENT):
            break
        if attempt < attempts:
            wait_for_servers(servers)
    assert cmd.rc == 0, f"tahoe {args[0]} failed after {attempt} attempt(s): {cmd.stderr}"
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
    wait_for_servers(len(STORAGE) + len(ROGUE))
    assert connected_servers() == len(STORAGE) + len(ROGUE)


def server_id(host) -> str:
    return "v0-" + host.check_output("cat /var/lib/tahoe/storage/node.pubkey").strip()[7:]


def share_files(host, storage_index: str = "") -> int:
    shares = "/var/lib/tahoe/storage/storage/shares"
    path = f"{shares}/{storage_index[:2]}/{storage_index}" if storage_index else shares
    return int(host.check_output(f"find {path} -type f 2>/dev/null | wc -l"))


def test_a_rogue_storage_node_with_the_real_furl_gets_no_share(grid_ready) -> None:
    """The threat model's leaked introducer FURL: a node joins the grid with it. The
    client sees it announced and connected, yet after 10 uploads it holds no share
    while the certified nodes hold every share of every file."""
    # The grid scenario has one; the static scenario (servers.yaml lists only the
    # operator's nodes) deselects this test in its molecule.yml rather than skip it.
    assert ROGUE, "no host in the rogue_storage group"
    rogue = ROGUE[0]
    wait_for_servers(len(STORAGE) + 1)
    welcome = json.loads(CLIENT.check_output("curl -sS http://127.0.0.1:3456/?t=json"))
    seen = {s["nodeid"]: s["connection_status"] for s in welcome["servers"]}
    assert str(seen.get(server_id(rogue), "")).startswith("connected"), seen
    assert (
        "[grid_manager_certificates]"
        not in rogue.file("/var/lib/tahoe/storage/tahoe.cfg").content_string
    )
    total = int(
        re.search(
            r"^shares.total = (\d+)",
            CLIENT.file("/var/lib/tahoe/client/tahoe.cfg").content_string,
            re.M,
        ).group(1)
    )
    for i in range(10):
        CLIENT.run(f"head -c 4k /dev/urandom > /tmp/rogue-{i} && chmod 644 /tmp/rogue-{i}")
        cap = tahoe_retrying("put", f"/tmp/rogue-{i}", servers=len(STORAGE)).stdout.strip()
        si = json.loads(tahoe("check", "--raw", cap).stdout)["storage-index"]
        assert sum(share_files(host, si) for host in STORAGE) == total, cap[:12]
    assert share_files(rogue) == 0


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
    containers run on cgroup v1, where that cannot be shown); the host firewall
    drops it everywhere (test_log_tub_is_unreachable_from_other_machines).
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


def cached_announcements(host, node: str) -> int:
    """How many storage announcements the node has cached from the introducers."""
    out = host.run(f"cat /var/lib/tahoe/{node}/private/introducer_*_cache.yaml").stdout
    return out.count("anonymous-storage-FURL")


@pytest.fixture(scope="module")
def caches_ready(grid_ready) -> None:
    """Every storage node and the client cached every storage announcement (if the
    grid has introducers): they save the cache as announcements arrive."""
    want = len(STORAGE) * len(INTRODUCERS)
    nodes = [(h, "storage") for h in STORAGE] + [(CLIENT, "client")]
    for _ in range(60):
        if all(cached_announcements(h, n) >= want for h, n in nodes):
            return
        time.sleep(2)
    raise AssertionError({h.backend.hostname: cached_announcements(h, n) for h, n in nodes})


def onion(host, node: str) -> str:
    return host.file(f"/var/lib/tor/onion/tahoe-{node}/hostname").content_string.strip()


def nickname(host, node: str) -> str:
    cfg = host.file(f"/var/lib/tahoe/{node}/tahoe.cfg").content_string
    return re.search(r"^nickname = (.*)$", cfg, re.M).group(1).strip()


def test_nicknames_and_petnames_derive_from_onions(caches_ready) -> None:
    """Defaults name a node by its own onion (or "client"), never by its machine."""
    for host, node in NODES:
        assert nickname(host, node) == f"{node}-{onion(host, node)[:8]}"
    assert nickname(CLIENT, "client") == "client"
    # What the client learned from the grid: the same names.
    welcome = json.loads(CLIENT.check_output("curl -sS http://127.0.0.1:3456/?t=json"))
    assert sorted(s["nickname"] for s in welcome["servers"]) == sorted(
        f"storage-{onion(h, 'storage')[:8]}" for h in [*STORAGE, *ROGUE]
    )
    # introducers.yaml names each introducer by its onion, and so does the cache file.
    petnames = sorted(f"introducer-{onion(h, 'introducer')[:8]}" for h in INTRODUCERS)
    for host, node in [(h, "storage") for h in STORAGE] + [(CLIENT, "client")]:
        config = host.file(f"/var/lib/tahoe/{node}/private/introducers.yaml")
        if not INTRODUCERS:
            assert not config.exists
            continue
        assert sorted(yaml.safe_load(config.content_string)["introducers"]) == petnames
        for petname in petnames:
            assert host.file(
                f"/var/lib/tahoe/{node}/private/introducer_{petname}_cache.yaml"
            ).exists


@functools.cache
def bed_identities() -> tuple[frozenset[str], frozenset[str]]:
    """Every name and address of the scenario's containers, as the controller knows them."""
    names: set[str] = set()
    for name in INVENTORY.get_hosts("all"):
        names.add(name)
        names.add(str(INVENTORY.get_variables(name).get("ansible_host", name)))
    network = f"htb-{os.environ['MOLECULE_SCENARIO_NAME']}"
    listed = subprocess.run(
        ["podman", "ps", "--filter", f"network={network}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(INVENTORY.get_hosts("all")) <= set(listed)
    names.update(listed)
    addresses: set[str] = set()
    for name in listed:
        host = testinfra.get_host(f"podman://{name}")
        names.update(host.check_output("hostname; hostname -f 2>/dev/null || true").split())
        addresses.update(host.check_output("hostname -I").split())
        addresses.update(re.findall(r"via (\S+)", host.check_output("ip route show default")))
    # Tahoe's log Tub names itself "localhost:PORT" (logport.furl): not the test bed's.
    names.discard("localhost")
    return frozenset(n.lower() for n in names), frozenset(addresses)


def identifying(text: str) -> list[str]:
    names, addresses = bed_identities()
    lowered = text.lower()
    hits = [n for n in names if n in lowered]
    for address in addresses:
        digits = "0-9" if "." in address else "0-9a-f:"
        if re.search(rf"(?<![{digits}.]){re.escape(address)}(?![{digits}])", lowered):
            hits.append(address)
    return hits


def test_no_announcement_furl_or_grid_file_names_a_machine(caches_ready) -> None:
    """Every FURL, introducers.yaml, servers.yaml and cached announcement, on every node,
    and what the client learned from the grid: no host name, container name,
    ansible_host or address of the test bed, in content or file name."""
    searched: list[str] = []
    for host, node in GRID_NODES:
        private = f"/var/lib/tahoe/{node}/private"
        files = host.check_output(
            f"find {private} -maxdepth 1 -type f \\( -name '*.furl' -o -name introducers.yaml"
            " -o -name servers.yaml -o -name 'introducer_*_cache.yaml' \\)"
        ).split()
        searched += [f"{node}:{path.rsplit('/', 1)[1]}" for path in files]
        for path in files:
            assert identifying(host.file(path).content_string) == [], (host, path)
        tree = host.check_output(f"find /var/lib/tahoe/{node} /var/lib/tor/onion")
        assert identifying(tree) == [], (host, tree)
        assert identifying(nickname(host, node)) == [], host
    # Not vacuous: every node's FURLs (the log Tub's logport.furl too), and the
    # announcements that storage nodes and the client cache, one file per introducer.
    assert searched.count("introducer:introducer.furl") == len(INTRODUCERS)
    assert searched.count("storage:storage.furl") == len(STORAGE)
    assert sum(f.endswith(":logport.furl") for f in searched) == len(GRID_NODES)
    assert sum(f.endswith("_cache.yaml") for f in searched) == (len(STORAGE) + 1) * len(INTRODUCERS)
    grid_file = "introducers.yaml" if INTRODUCERS else "servers.yaml"
    assert f"client:{grid_file}" in searched
    welcome = CLIENT.check_output("curl -sS http://127.0.0.1:3456/?t=json")
    assert identifying(welcome) == []


def public_tahoe_ports(host, node: str) -> list[int]:
    """The TCP ports the node's tahoe process (the only one of its user) listens on
    beyond loopback. (`ss -p` sees no other user's process here: podman grants root
    no CAP_SYS_PTRACE.)"""
    uid = host.user(f"tahoe-{node}").uid
    ports = []
    for line in host.check_output("ss -Hltne").splitlines():
        local = line.split()[3]
        if f" uid:{uid} " in line and not local.startswith(("127.", "[::1]:", "[::ffff:127.")):
            ports.append(int(local.rsplit(":", 1)[1]))
    return ports


def log_tub_port(host, node: str) -> int:
    """The node's one listener beyond loopback: Tahoe's log Tub (Foolscap logport)."""
    ports = public_tahoe_ports(host, node)
    assert len(ports) == 1, (host, ports)
    return ports[0]


def probe(source, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """TCP connections from source, all at once: target -> whether it connected."""
    script = " ".join(
        f"(nc -z -w 5 {ip} {port} && echo {ip} {port} open || echo {ip} {port} closed) &"
        for ip, port in targets
    )
    out = source.check_output(f"{script} wait")
    return {
        (ip, int(port)): state == "open" for ip, port, state in map(str.split, out.splitlines())
    }


def assert_log_tubs_firewalled(nodes: list) -> None:
    targets = {}
    for host, node in nodes:
        address = host.check_output("hostname -I").split()[0]
        port = log_tub_port(host, node)
        # The socket answers on that address from the node itself (the kernel
        # routes it through loopback) ...
        assert probe(host, [(address, port)]) == {(address, port): True}, (host, port)
        targets[(address, port)] = host
    # ... and from another container of the test bed, every connection fails.
    reached = probe(TORNET, list(targets))
    assert not any(reached.values()), {
        targets[t].backend.hostname: t for t, ok in reached.items() if ok
    }


def test_log_tub_is_unreachable_from_other_machines(grid_ready) -> None:
    for host, _ in GRID_NODES:
        assert host.service("nftables").is_enabled
        rules = host.check_output("nft list chain inet host_firewall input")
        assert "policy drop;" in rules
        assert "tcp dport" not in rules, rules  # the test inventories admit no port
    assert_log_tubs_firewalled(GRID_NODES)


def test_ansible_output_at_vvv_shows_no_swissnum_or_key() -> None:
    """site.yml's converge and idempotence runs, at -vvv (molecule.yml), print no
    FURL swissnum (the NURLs carry the same) and no node key."""
    log_path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible-vvv.log")
    with open(log_path, encoding="utf-8", errors="replace") as log_file:
        log = log_file.read()
    # -vvv: the connection (nsenter) logs every command it runs in a container.
    assert f"<{CLIENT.backend.hostname}> EXEC " in log, "the log is not at -vvv"
    assert "TASK [tahoe_node : Write the node's private files]" in log, "site.yml is not in it"
    secrets = {}
    for host, node in GRID_NODES:
        private = f"/var/lib/tahoe/{node}/private"
        for furl in host.check_output(f"cat {private}/*.furl").split():
            secrets[f"{host.backend.hostname} {furl.split('/')[-1][:4]}..."] = furl.split("/")[-1]
        privkey = host.file(f"{private}/node.privkey")
        if privkey.exists:  # storage and client nodes; an introducer has none
            key = privkey.content_string.strip()
            secrets[f"{host.backend.hostname} node.privkey"] = key.removeprefix("priv-v0-")
    assert len(secrets) >= 2 * len(GRID_NODES) - 1
    # The Grid Manager's key, from its sealed file on the controller.
    key_file = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/grid-manager.key"
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    with open(key_file, "rb") as f:
        sealed = f.read()
    key = gridmanager.open_key(sealed, GRID_MANAGER_PASSPHRASE).removeprefix("priv-v0-")
    assert key.encode() not in sealed
    secrets["the Grid Manager's key"] = key
    secrets["the Grid Manager's passphrase"] = GRID_MANAGER_PASSPHRASE
    # The identity archive's contents, base64 as they travel between the modules.
    for host, entry in archived_identities().items():
        for part, nodes in entry.items():
            for node, files in nodes.items():
                for name, content in files.items():
                    if name != "hostname" and not name.endswith(".pubkey"):
                        secrets[f"{host} {part} {node} {name} (base64)"] = content
    assert all(len(secret) >= 26 for secret in secrets.values())
    assert [name for name, secret in secrets.items() if secret in log] == []


def archived_identities() -> dict[str, identity.Identity]:
    path = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/identity.sealed"
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, "rb") as f:
        hosts, _ = identity.open_archive(f.read(), GRID_MANAGER_PASSPHRASE)
    return hosts


def test_the_identity_archive_holds_every_server_node_and_the_grid_manager_key() -> None:
    """site.yml's last play sealed what makes each introducer and storage node itself
    (and the Grid Manager's key file) on the controller; the rogue node is not in it."""
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    with open(ephemeral + "/identity.sealed", "rb") as f:
        hosts, grid_manager_key = identity.open_archive(f.read(), GRID_MANAGER_PASSPHRASE)
    with open(ephemeral + "/grid-manager.key", "rb") as f:
        assert grid_manager_key == f.read()
    assert set(hosts) == {h.backend.hostname for h, _ in NODES}
    for host, node in NODES:
        entry = hosts[host.backend.hostname]
        onion = entry["tor"][f"tahoe-{node}"]
        for name in ("hs_ed25519_secret_key", "hostname"):
            on_disk = host.file(f"/var/lib/tor/onion/tahoe-{node}/{name}").content
            assert base64.b64decode(onion[name]) == on_disk, (host, name)
        furl = f"private/{node}.furl"
        for name in ("private/node.pem", furl):
            on_disk = host.file(f"/var/lib/tahoe/{node}/{name}").content
            assert base64.b64decode(entry["tahoe"][node][name]) == on_disk, (host, name)


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
    cap = tahoe_retrying("put", "/tmp/payload", servers=len(STORAGE)).stdout.strip()
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


def test_firewall_survives_a_reboot(grid_ready) -> None:
    """Last: a restarted container (new network namespace, new address) loads the
    ruleset at boot, before Tahoe's log Tub is up again."""
    host = STORAGE[-1]
    name = host.backend.hostname
    env = {
        **os.environ,
        "CONTAINERS_CONF": os.environ.get(
            "CONTAINERS_CONF",
            f"{os.environ['MOLECULE_PROJECT_DIRECTORY']}/testbed/roles/testbed_containers/files/containers.conf",
        ),
    }
    subprocess.run(["podman", "restart", name], env=env, check=True, capture_output=True)
    for _ in range(120):
        state = host.run("systemctl is-system-running").stdout.strip()
        if state in ("running", "degraded") and public_tahoe_ports(host, "storage"):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"{name} did not come back: {state}")
    assert host.service("nftables").is_running
    assert "policy drop;" in host.check_output("nft list chain inet host_firewall input")
    assert_log_tubs_firewalled([(host, "storage")])
