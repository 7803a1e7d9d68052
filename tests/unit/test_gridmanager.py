"""The Grid Manager's keys and certificates, and Tahoe's own code accepting them."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from htb import gridmanager as gm
from htb.errors import GridManagerError
from htb.manifest.envelope import TEST_KDF

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"


@pytest.fixture
def keys() -> tuple[str, str, str]:
    private = gm.new_private_key()
    return private, gm.public_key(private), gm.public_key(gm.new_private_key())


def test_keys_have_tahoes_shape(keys: tuple[str, str, str]) -> None:
    private, public, _ = keys
    assert private.startswith("priv-v0-")
    assert gm.PUBLIC_KEY_RE.fullmatch(public)
    assert gm.public_key(private) == public


def test_a_signed_certificate_verifies(keys: tuple[str, str, str]) -> None:
    private, public, node = keys
    cert = gm.sign(private, node, NOW + timedelta(days=90))
    assert set(cert) == {"certificate", "signature"}
    got = gm.verify(public, cert)
    assert got.node_public_key == node
    assert got.expires == NOW + timedelta(days=90)
    assert gm.verify(public, json.dumps(cert)) == got


def test_a_foreign_or_altered_certificate_is_refused(keys: tuple[str, str, str]) -> None:
    private, public, node = keys
    foreign = gm.sign(gm.new_private_key(), node, NOW + timedelta(days=90))
    with pytest.raises(GridManagerError, match="not signed by this Grid Manager"):
        gm.verify(public, foreign)
    cert = gm.sign(private, node, NOW + timedelta(days=90))
    altered = {**cert, "certificate": cert["certificate"].replace("2027", "2099")}
    with pytest.raises(GridManagerError, match="not signed by this Grid Manager"):
        gm.verify(public, altered)


@pytest.mark.parametrize(
    "bad",
    ["", "{", "[]", {"certificate": "x"}, {"certificate": 1, "signature": "a"}, {"a": 1, "b": 2}],
)
def test_malformed_certificates_get_one_line(keys: tuple[str, str, str], bad: object) -> None:
    with pytest.raises(GridManagerError) as info:
        gm.verify(keys[1], bad)
    assert "\n" not in str(info.value)


def test_renewal(keys: tuple[str, str, str]) -> None:
    private, public, node = keys
    window = timedelta(days=30)
    fresh = gm.sign(private, node, NOW + timedelta(days=90))
    assert gm.needs_renewal(public, node, fresh, window, NOW) is None
    assert gm.needs_renewal(public, node, None, window, NOW) == "none yet"
    assert gm.needs_renewal(public, node, fresh, window, NOW + timedelta(days=61)) == (
        "expires within the renewal window"
    )
    assert gm.needs_renewal(public, node, fresh, window, NOW + timedelta(days=91)) == "expired"
    other = gm.public_key(gm.new_private_key())
    assert gm.needs_renewal(public, other, fresh, window, NOW) == "certifies another node's key"
    foreign = gm.sign(gm.new_private_key(), node, NOW + timedelta(days=90))
    assert "not signed by this Grid Manager" in str(
        gm.needs_renewal(public, node, foreign, window, NOW)
    )


def test_the_key_file_is_sealed(keys: tuple[str, str, str]) -> None:
    private = keys[0]
    blob = gm.seal_key(private, PW, TEST_KDF)
    assert private.encode() not in blob
    assert private[len("priv-v0-") :].encode() not in blob
    assert gm.open_key(blob, PW) == private
    with pytest.raises(GridManagerError, match="wrong passphrase"):
        gm.open_key(blob, PW + "x")
    with pytest.raises(GridManagerError, match="truncated"):
        gm.open_key(blob[:-3], PW)


def test_a_sealed_manifest_is_not_a_key() -> None:
    from htb.manifest.envelope import seal

    with pytest.raises(GridManagerError, match="not a Grid Manager key"):
        gm.open_key(seal(b'{"version": 1}', PW, TEST_KDF), PW)


def test_a_bad_node_key_is_refused(keys: tuple[str, str, str]) -> None:
    with pytest.raises(GridManagerError, match="storage node's public key"):
        gm.sign(keys[0], "pub-v0-tcp:10.0.0.1", NOW)


def _tahoe_python() -> Path | None:
    tahoe = os.environ.get("HTB_TAHOE")
    python = Path(tahoe).parent / "python" if tahoe else None
    return python if python and python.exists() else None


# Tahoe's own verifier, run in Tahoe's virtualenv: what a storage client does with
# the announcement's certificates (allmydata.storage_client._make_storage_server).
_TAHOE_CHECK = """
import json, sys
from io import StringIO
from allmydata.crypto import ed25519
from allmydata.grid_manager import SignedCertificate, create_grid_manager_verifier
d = json.load(sys.stdin)
_, pub = ed25519.signing_keypair_from_string(d["private"].encode())
certs = [SignedCertificate.load(StringIO(json.dumps(c))) for c in d["certs"]]
gm = ed25519.verifying_key_from_string(d["public"].encode())
print(json.dumps({
    "public": ed25519.string_from_verifying_key(pub).decode(),
    "upload_permitted": create_grid_manager_verifier([gm], certs, d["node"].encode(),
                                                     bad_cert=lambda *a: None)(),
}))
"""


@pytest.mark.tahoe
@pytest.mark.parametrize(
    ("signer", "days", "permitted"),
    [("ours", 30, True), ("ours", -1, False), ("foreign", 30, False)],
)
def test_tahoe_accepts_exactly_our_valid_certificates(
    keys: tuple[str, str, str], signer: str, days: int, permitted: bool
) -> None:
    python = _tahoe_python()
    if python is None:
        pytest.skip("HTB_TAHOE (Tahoe's virtualenv) not set")
    private, public, node = keys
    key = private if signer == "ours" else gm.new_private_key()
    cert = gm.sign(key, node, datetime.now(UTC) + timedelta(days=days))
    data = {"private": private, "public": public, "node": node, "certs": [cert]}
    out = subprocess.run(
        [str(python), "-c", _TAHOE_CHECK],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    got = json.loads(out.stdout)
    assert got == {"public": public, "upload_permitted": permitted}
