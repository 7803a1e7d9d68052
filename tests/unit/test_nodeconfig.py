"""The hide-IP client settings: one definition (htb.nodeconfig), written by htb and
returned to the grid_client role by the module htb_client_config."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from htb.client import TorSettings
from htb.manifest import Manifest
from htb.nodeconfig import tor_client_config
from htb.tahoe import TahoeClient

REPO = Path(__file__).resolve().parents[2]
SOCKS = "tcp:127.0.0.1:9050"
CONTROL = "tcp:127.0.0.1:9051"


def test_tor_only_client_with_a_control_port() -> None:
    assert tor_client_config(SOCKS, CONTROL, (2, 3, 4)) == {
        "node": {
            "reveal-IP-address": "false",
            "tub.port": "disabled",
            "tub.location": "disabled",
        },
        "connections": {"tcp": "tor"},
        "tor": {"enabled": "true", "socks.port": SOCKS, "control.port": CONTROL},
        "client": {
            "shares.needed": "2",
            "shares.happy": "3",
            "shares.total": "4",
            "force_foolscap": "false",
        },
    }


@pytest.mark.parametrize(("control", "force"), [(None, False), ("", False), (CONTROL, True)])
def test_foolscap_only_without_a_control_port_or_when_forced(
    control: str | None, force: bool
) -> None:
    cfg = tor_client_config(SOCKS, control, (1, 1, 1), force_foolscap=force)
    assert cfg["client"]["force_foolscap"] == "true"
    assert cfg["tor"] == {"enabled": "true", "socks.port": SOCKS}
    assert cfg["node"]["reveal-IP-address"] == "false"
    assert cfg["connections"] == {"tcp": "tor"}


@pytest.mark.parametrize("shares", [(0, 1, 1), (3, 2, 4), (2, 5, 4)])
def test_refuses_impossible_shares(shares: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="needed <= happy <= total"):
        tor_client_config(SOCKS, CONTROL, shares)


def _written(node: Path) -> dict[str, dict[str, str]]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(node / "tahoe.cfg", encoding="utf-8")
    return {s: dict(cfg[s]) for s in cfg.sections()}


def _lower(sections: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Option names as configparser (htb's and Tahoe's reader) sees them."""
    return {s: {k.lower(): v for k, v in opts.items()} for s, opts in sections.items()}


@pytest.mark.parametrize("control", [CONTROL, None])
def test_htb_writes_what_the_definition_says(
    tmp_path: Path, manifest: Manifest, control: str | None
) -> None:
    node = tmp_path / "node"
    client = TahoeClient(node_dir=node, tahoe="/bin/false")
    client.write_manifest(manifest, TorSettings(socks_port=SOCKS, control_port=control))
    expected = _lower(tor_client_config(SOCKS, control, manifest.shares))
    written = _written(node)
    assert {s: written[s] for s in expected} == expected
    # Nothing else in those sections, and no other section but create-client's.
    assert set(written) == set(expected)


def test_htb_rewrites_a_create_client_config(tmp_path: Path, manifest: Manifest) -> None:
    """What `tahoe create-client --hide-ip` wrote is overridden, a stale [tor] dropped."""
    node = tmp_path / "node"
    node.mkdir()
    (node / "tahoe.cfg").write_text(
        "[node]\nnickname = htb-client\nweb.port = tcp:3456:interface=127.0.0.1\n"
        "reveal-IP-address = true\ntub.port = tcp:1234\n"
        "[tor]\nlaunch = true\n[client]\nforce_foolscap = true\n",
        encoding="utf-8",
    )
    client = TahoeClient(node_dir=node, tahoe="/bin/false")
    client.write_manifest(manifest, TorSettings(socks_port=SOCKS, control_port=CONTROL))
    written = _written(node)
    expected = _lower(tor_client_config(SOCKS, CONTROL, manifest.shares))
    assert written["tor"] == expected["tor"]
    assert written["client"] == expected["client"]
    assert written["node"] == {
        "nickname": "htb-client",
        "web.port": "tcp:3456:interface=127.0.0.1",
        **expected["node"],
    }


def test_the_module_returns_the_definition(tmp_path: Path) -> None:
    """library/htb_client_config.py (the grid_client role's source) returns exactly it."""
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "ANSIBLE_MODULE_ARGS": {
                    "socks_port": SOCKS,
                    "control_port": CONTROL,
                    "shares_needed": 2,
                    "shares_happy": 3,
                    "shares_total": 3,
                    "force_foolscap": False,
                }
            }
        ),
        encoding="utf-8",
    )
    # collections/: the module's imports of ansible_collections.htb.grid (its module_utils).
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "collections")])
    )
    out = subprocess.run(
        [sys.executable, str(REPO / "library" / "htb_client_config.py"), str(args)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result = json.loads(out.stdout)
    assert result["changed"] is False
    assert result["config"] == tor_client_config(SOCKS, CONTROL, (2, 3, 3))


GM = "pub-v0-" + "a" * 52


def test_htb_writes_the_manifests_grid_managers_and_drops_stale_ones(
    tmp_path: Path, manifest: Manifest
) -> None:
    """A manifest's grid.grid_managers becomes [grid_managers]; a manifest without
    any leaves none behind (Tahoe then uploads to any server announced)."""
    node = tmp_path / "node"
    client = TahoeClient(node_dir=node, tahoe="/bin/false")
    data = json.loads(manifest.to_json())
    data["grid"]["grid_managers"] = {"operator": GM}
    with_gm = Manifest(data)
    assert with_gm.grid_managers == {"operator": GM}
    tor = TorSettings(socks_port=SOCKS, control_port=CONTROL)
    client.write_manifest(with_gm, tor)
    assert _written(node)["grid_managers"] == {"operator": GM}
    assert tor_client_config(SOCKS, CONTROL, (2, 3, 3), grid_managers={"operator": GM})[
        "grid_managers"
    ] == {"operator": GM}
    client.write_manifest(manifest, tor)
    assert "grid_managers" not in _written(node)
