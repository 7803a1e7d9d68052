"""The collection htb.grid, installed as an operator installs it, did its work."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from htb import passphrase
from htb.manifest import open_sealed

NODE = testinfra.get_host("podman://htb-k-node")
TORNET = testinfra.get_host("podman://htb-k-tornet")
ONION = "/var/lib/tor/onion/web/hostname"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))

# A TCP listener on every address, the same on the firewalled node and on a machine
# without the firewall (the private Tor network's container).
PORT = 8081
LISTENER = "htb-k-listener"
# How a connection ends, told apart: a dropped packet gets no answer at all ("timed
# out"); a closed port without a firewall answers with a reset ("refused").
PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("answered")
except TimeoutError:
    print("timed out")
except ConnectionRefusedError:
    print("refused")
"""


def test_tor_role_published_the_onion() -> None:
    assert NODE.service("tor@default.service").is_running
    assert re.fullmatch(r"[a-z2-7]{56}\.onion", NODE.file(ONION).content_string.strip())


def connect(source: testinfra.host.Host, address: str, timeout: float = 5) -> str:
    command = f"python3 -c {shlex.quote(PROBE)} {address} {PORT} {timeout}"
    return str(source.check_output(command)).strip()


def address_of(host: testinfra.host.Host) -> str:
    return str(host.check_output("hostname -I")).split()[0]


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, str]]:
    """The listener on the node and on the Tor network's container, each answering
    from its own machine; their addresses by name."""
    addresses = {"node": address_of(NODE), "tornet": address_of(TORNET)}
    for host, address in ((NODE, addresses["node"]), (TORNET, addresses["tornet"])):
        host.check_output(
            f"systemd-run --unit={LISTENER} python3 -m http.server {PORT} --bind 0.0.0.0"
        )
        deadline = time.monotonic() + 30
        while connect(host, address, 1) != "answered":  # ready when it answers
            assert time.monotonic() < deadline, f"{LISTENER} never answered on {address}"
            time.sleep(0.2)
    yield addresses
    for host in (NODE, TORNET):
        host.run(f"systemctl stop {LISTENER}")


def test_host_firewall_role_drops_inbound(listeners: dict[str, str]) -> None:
    # Controls: the node's listener answers on its address from the node itself (the
    # kernel routes that through loopback, which the firewall lets through), and a
    # connection between the two machines is answered where no firewall applies.
    assert connect(NODE, listeners["node"]) == "answered"
    assert connect(NODE, listeners["tornet"]) == "answered"
    # From the other machine, the node's listener never answers: dropped, not refused.
    # Mutation: `nft delete table inet host_firewall` on the node, or 8081 in
    # host_firewall_allowed_tcp_ports, and this says "answered" (checked).
    assert connect(TORNET, listeners["node"]) == "timed out"


def test_module_sealed_the_invitation_on_the_controller() -> None:
    # Opened as htb opens it, with the passphrase the module generated and stored.
    sealed, secret = EPHEMERAL / "invitation.htbm", EPHEMERAL / "invitation.passphrase"
    for path in (sealed, secret):
        assert path.stat().st_mode & 0o777 == 0o600, path
    words = passphrase.read_file(secret)
    assert len(words.split()) == 7 and set(words.split()) <= set(passphrase.wordlist())
    manifest = open_sealed(sealed.read_bytes(), words).manifest
    assert manifest.kind == "invitation"
    # No capability: no alias, no convergence secret, no cap anywhere in it.
    assert manifest.aliases == {} and manifest.convergence is None
    assert "URI:" not in json.dumps(manifest.data)
    # An invitation to the onion this run's tor role published.
    onion = NODE.file(ONION).content_string.strip()
    assert f"@tor:{onion}:3457/" in manifest.introducers["default"]
    assert [b.alias for b in manifest.backups] == ["docs"]
