"""The manifest schema's grid bounds, measured on the real node (tahoe-lafs 1.20).

Whatever validates, Tahoe loads and uses: a node built from a manifest at every
bound starts and knows every static server (Tahoe silently drops a static server
whose announcement it cannot parse: a tub id, seed or signature that is not
base32). And the bound that matters is real: one character more in an
announcement key and the node never starts.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from htb.errors import GridError, ManifestInvalidError
from htb.manifest import MAX_PLAINTEXT, canonical_json, validate
from htb.manifest.schema import Manifest
from htb.tahoe import TahoeClient

pytestmark = [pytest.mark.tahoe, pytest.mark.slow]

ONION = "c" * 56 + ".onion"
SHARES = {"needed": 1, "happy": 1, "total": 1}


def b32(n: int, seed: int) -> str:
    """``n`` bytes in Tahoe's base32."""
    raw = (seed.to_bytes(4, "big") * n)[:n]
    return base64.b32encode(raw).decode().rstrip("=").lower()


def furl(i: int, hints: int = 1) -> str:
    location = ",".join(f"tor:{ONION}:{3000 + h}" for h in range(hints))
    return f"pb://{b32(20, i)}@{location}/{b32(20, i + 1)}"


def widest_announcement() -> dict[str, Any]:
    """Every field at its bound: 32 keys, 64-character ones, 1000-character values..."""
    nurl = f"pb+tor://{'h' * 100}@{ONION}:3459/{'s' * 100}#v=1"
    cert = {"certificate": "{" + "~" * 998 + "}", "signature": b32(64, 3)}
    ann: dict[str, Any] = {
        "anonymous-storage-FURL": furl(1, hints=12),
        "anonymous-storage-NURLs": [nurl] * 16,
        "nickname": "\U0001f600" * 100 + "\x1b\x7f" * 50,
        "permutation-seed-base32": b32(125, 4),  # 200 characters
        "grid-manager-certificates": [cert] * 16,
        "k" * 64: "\u00e9" * 1000,
        "nested": [{f"f{i}": "v" * 1000 for i in range(16)}] * 4,
        "scalars": [None, True, -(10**19), "\ud7ff\ue000\uffff"],
    }
    ann.update({f"x{i}": "\U0010ffff" * 1000 for i in range(32 - len(ann))})
    return ann


def start(node_dir: Path, manifest: Manifest) -> dict[str, Any]:
    client = TahoeClient(node_dir, web_port="tcp:0:interface=127.0.0.1")
    client.configure(manifest, None)
    try:
        client.start(60)
        welcome: dict[str, Any] = client._get_json("?t=json")
        return welcome
    finally:
        client.stop()


def test_a_manifest_at_every_bound_starts_a_node_that_knows_every_server(
    tmp_path: Path,
) -> None:
    servers = {f"v0-{b32(32, i)}": {"ann": {"anonymous-storage-FURL": furl(i)}} for i in range(63)}
    servers["v0-" + b32(32, 999)] = {"ann": widest_announcement()}
    data = {
        "version": 1,
        "grid": {
            "introducers": {
                "i" * 64 if i == 0 else f"i{i}": {"furl": furl(i, 12)} for i in range(16)
            },
            "servers": servers,
            "shares": SHARES,
        },
        "aliases": {},
        "backups": [],
    }
    manifest = validate(data)
    assert len(canonical_json(data)) <= MAX_PLAINTEXT
    assert max(len(f) for f in manifest.furls()) > 900
    welcome = start(tmp_path / "node", manifest)
    known = {s["nodeid"] for s in welcome["servers"]}
    assert known == set(servers)
    assert len(welcome["introducers"]["statuses"]) == 16


def test_one_character_over_the_yaml_key_limit_and_the_node_never_starts(
    tmp_path: Path,
) -> None:
    """Why announcement keys are bounded: Tahoe's YAML reader takes a key of at most 1024
    characters as written (quotes included): 1022 loads, 1023 does not. The schema's
    64 is far inside; without the bound (the old schema) the second manifest validated."""

    def with_key(length: int) -> Manifest:
        ann = {"anonymous-storage-FURL": furl(1), "k" * length: 1}
        data = {
            "version": 1,
            "grid": {"servers": {"v0-" + b32(32, 1): {"ann": ann}}, "shares": SHARES},
            "aliases": {},
            "backups": [],
        }
        return Manifest(json.loads(json.dumps(data)))  # unvalidated: the node's own verdict

    assert len(start(tmp_path / "a", with_key(1022))["servers"]) == 1
    with pytest.raises(GridError, match="exited at start"):
        start(tmp_path / "b", with_key(1023))


def test_tahoe_drops_a_static_server_it_cannot_decode_and_the_schema_refuses_it(
    tmp_path: Path,
) -> None:
    """Why seeds, signatures and storage tub ids are checked as base32: the old schema
    passed each of these, and the node silently went without the server."""
    bad = {
        "seed": {"permutation-seed-base32": "m" * 52},
        "signature": {"grid-manager-certificates": [{"certificate": "{}", "signature": "abc"}]},
        "tubid": {"anonymous-storage-FURL": furl(9).replace(b32(20, 9), "abcd")},
    }
    servers = {
        f"v0-{name}": {"ann": {"anonymous-storage-FURL": furl(i), **fields}}
        for i, (name, fields) in enumerate(bad.items())
    }
    servers["v0-good"] = {"ann": {"anonymous-storage-FURL": furl(7)}}
    data = {
        "version": 1,
        "grid": {"servers": servers, "shares": SHARES},
        "aliases": {},
        "backups": [],
    }
    welcome = start(tmp_path / "node", Manifest(json.loads(json.dumps(data))))
    assert {s["nodeid"] for s in welcome["servers"]} == {"v0-good"}
    for name in bad:
        one = json.loads(json.dumps(data))
        one["grid"]["servers"] = {f"v0-{name}": servers[f"v0-{name}"]}
        with pytest.raises(ManifestInvalidError, match=f"grid.servers.v0-{name}.ann"):
            validate(one)
