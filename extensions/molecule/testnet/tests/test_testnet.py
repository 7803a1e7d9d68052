"""An onion service on the private Tor network: reachable through Tor, and only so."""

from __future__ import annotations

import re
import time

import testinfra

TORNET = testinfra.get_host("podman://htb-tn-tornet")
WEB = testinfra.get_host("podman://htb-tn-web")
VISITOR = testinfra.get_host("podman://htb-tn-visitor")
ONION_DIR = "/var/lib/tor/onion/web"


def onion() -> str:
    return WEB.file(f"{ONION_DIR}/hostname").content_string.strip()


def through_tor(host, url: str, attempts: int = 60) -> str:
    """Retry while the onion's descriptor is not yet published (SOCKS reply 4)."""
    last = ""
    for _ in range(attempts):
        r = host.run("curl -sS --max-time 30 --socks5-hostname 127.0.0.1:9050 %s", url)
        if r.rc == 0:
            return r.stdout
        last = r.stderr
        time.sleep(3)
    raise AssertionError(f"{url} never answered through Tor: {last}")


def test_network_runs_three_authorities_and_three_relays() -> None:
    for name in ("auth1", "auth2", "auth3", "relay1", "relay2", "relay3"):
        assert TORNET.service(f"tor-testnet@{name}").is_running


def test_onion_is_reachable_from_another_host_through_tor() -> None:
    assert re.fullmatch(r"[a-z2-7]{56}\.onion", onion())
    assert through_tor(VISITOR, f"http://{onion()}/") == "hello through tor\n"


def test_service_is_not_reachable_directly() -> None:
    assert WEB.socket("tcp://127.0.0.1:8080").is_listening
    assert not WEB.socket("tcp://0.0.0.0:8080").is_listening
    address = next(a for a in WEB.interface("eth0").addresses if "." in a)
    # Refused, told apart from no route to host (curl exits 7 for either) and a timeout:
    # the reset is the web host's own answer, so the visitor reaches that machine and
    # nothing listens there. Mutation: the service bound to 0.0.0.0 fails the checks
    # above and this one ("answered").
    probe = (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], 8080), timeout=5).close(); print('answered')\n"
        "except ConnectionRefusedError:\n"
        "    print('refused')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    assert VISITOR.check_output("python3 -c %s %s", probe, address) == "refused"


def test_nothing_listens_beyond_loopback() -> None:
    for host in (WEB, VISITOR):
        assert host.socket("tcp://127.0.0.1:9050").is_listening
        assert host.socket("tcp://127.0.0.1:9051").is_listening
        listeners = host.check_output("ss -Hltun")
        for line in listeners.splitlines():
            local = line.split()[4]
            assert local.startswith(("127.0.0.1:", "[::1]:", "127.0.0.53")), line


def test_onion_key_is_private_to_tor() -> None:
    directory = WEB.file(ONION_DIR)
    assert (directory.user, directory.mode) == ("debian-tor", 0o700)
    key = WEB.file(f"{ONION_DIR}/hs_ed25519_secret_key")
    assert (key.user, key.mode) == ("debian-tor", 0o600)


def test_onion_address_survives_a_restart() -> None:
    before = onion()
    WEB.run("systemctl restart tor@default.service")
    assert onion() == before
    assert through_tor(VISITOR, f"http://{before}/") == "hello through tor\n"


def test_only_test_hosts_carry_testnet_settings() -> None:
    torrc = WEB.file("/etc/tor/torrc").content_string
    assert "TestingTorNetwork 1" in torrc
    assert "DirAuthority auth1" in torrc
