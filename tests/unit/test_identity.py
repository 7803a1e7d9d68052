"""The identity archive's format: what it seals, and what it refuses to open."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from htb import identity
from htb.errors import IdentityArchiveError
from htb.manifest.envelope import TEST_KDF, seal

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
KEY = base64.b64encode(b"\x00\xff secret").decode()
NODE = {"tor": {"tahoe-storage": {"hs_ed25519_secret_key": KEY}}, "tahoe": {}}


def test_round_trip_keeps_bytes_and_the_grid_manager_key() -> None:
    blob = identity.seal_archive({"s1": NODE}, b"gm\x00key", PW, TEST_KDF)
    hosts, key = identity.open_archive(blob, PW)
    assert hosts == {"s1": NODE} and key == b"gm\x00key"
    assert b"secret" not in blob
    assert identity.open_archive(identity.seal_archive({}, None, PW, TEST_KDF), PW) == ({}, None)


def test_wrong_passphrase_is_one_line() -> None:
    blob = identity.seal_archive({"s1": NODE}, None, PW, TEST_KDF)
    with pytest.raises(IdentityArchiveError, match="wrong passphrase") as err:
        identity.open_archive(blob, PW + "x")
    assert "\n" not in str(err.value) and err.value.exit_code == 4


@pytest.mark.parametrize(
    "data",
    [
        {"htb": "grid-manager-key", "private_key": "priv-v0-x"},
        {"htb": "identity-archive", "version": 2, "hosts": {}},
        {"htb": "identity-archive", "version": 1, "hosts": []},
        {"htb": "identity-archive", "version": 1, "hosts": {"../x": NODE}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"ssh": {}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"tor": {"a/b": {"k": KEY}}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"tor": {"a": {"/etc/x": KEY}}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"tor": {"a": {"x/..": KEY}}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"tor": {"a": {"k": 7}}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {"s": {"tor": {"a": {}}}}},
        {"htb": "identity-archive", "version": 1, "hosts": {}, "grid_manager_key": "%%"},
        ["not", "a", "mapping"],
    ],
)
def test_hostile_contents_are_refused_with_one_line(data: Any) -> None:
    blob = seal(json.dumps(data).encode(), PW, TEST_KDF)
    with pytest.raises(IdentityArchiveError) as err:
        identity.open_archive(blob, PW)
    assert "\n" not in str(err.value)
    assert KEY not in str(err.value)


def test_not_json_is_refused() -> None:
    with pytest.raises(IdentityArchiveError, match="not an identity archive"):
        identity.open_archive(seal(b"\xff\xfe", PW, TEST_KDF), PW)
