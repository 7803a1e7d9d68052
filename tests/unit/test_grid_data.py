"""Grid data is bounded and checked (issue 21, item 5): what validates, Tahoe 1.20 loads.

The bounds' reasons are measured on the real node in
tests/integration/test_grid_data_on_tahoe.py; here, each rule refuses with one line
that names the field and never the value, and the onion rule covers NURLs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import ONION_FURL, ROOTCAP, manifest_data

from htb import session
from htb.errors import GridError, ManifestInvalidError
from htb.manifest import validate
from htb.manifest.schema import Manifest, secret_values

SERVER = "v0-" + "k" * 52
ONION = "c" * 56 + ".onion"
SWISS = "nurlswissnumsecret" + "s" * 14
HASH = "nurlkeyhashsecret" + "h" * 26


def nurl(location: str, scheme: str = "pb+tor") -> str:
    return f"{scheme}://{HASH}@{location}/{SWISS}#v=1"


def with_ann(**fields: Any) -> dict[str, Any]:
    """manifest_data() with one static server whose announcement has ``fields`` too."""
    data = manifest_data()
    ann = {"anonymous-storage-FURL": ONION_FURL, **fields}
    data["grid"]["servers"] = {SERVER: {"ann": ann}}
    return data


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ManifestInvalidError) as info:
        validate(data)
    return str(info.value)


ANN = f"manifest field grid.servers.{SERVER}.ann"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # The key that kept the node from starting (Tahoe's YAML reader: over 1024).
        ({"k" * 1023: 1}, f"{ANN}: a key must be 1 to 64 characters of A-Z a-z 0-9 _ . -"),
        ({"k" * 65: 1}, f"{ANN}: a key must be 1 to 64 characters of A-Z a-z 0-9 _ . -"),
        ({"a key": 1}, f"{ANN}: a key must be 1 to 64 characters of A-Z a-z 0-9 _ . -"),
        ({f"x{i}": 1 for i in range(32)}, f"{ANN}: must have at most 32 fields"),
        ({"x": "v" * 1001}, f"{ANN}.x: must be at most 1000 characters long"),
        (
            {"x": [[["deep"]]]},
            f"{ANN}.x[0][0]: must be a string or an integer or true or false or null",
        ),
        ({"x": list(range(17))}, f"{ANN}.x: must have at most 16 items"),
        ({"x": {f"k{i}": 1 for i in range(17)}}, f"{ANN}.x: must have at most 16 fields"),
        (
            {"x": 1.5},
            f"{ANN}.x: must be a string or an integer or true or false or null or an array "
            "or an object",
        ),
        (
            {"anonymous-storage-NURLs": [nurl(f"{ONION}:3459")] * 17},
            f"{ANN}.anonymous-storage-NURLs: must have at most 16 items",
        ),
        (
            {"anonymous-storage-NURLs": [nurl(f"tor:{ONION}:3459", "pb")]},
            f"{ANN}.anonymous-storage-NURLs[0]: not a NURL "
            "(pb:// or pb+tor://<key hash>@<host>:<port>/<swissnum>#v=1)",
        ),
        (
            {"permutation-seed-base32": "m" * 52},
            f"{ANN}.permutation-seed-base32: must be whole bytes in Tahoe's base32 (a-z, 2-7)",
        ),
        (
            {"grid-manager-certificates": [{"certificate": "{}", "signature": "abc"}]},
            f"{ANN}.grid-manager-certificates[0].signature: not an Ed25519 signature in "
            "Tahoe's base32 (103 characters)",
        ),
        (
            {"grid-manager-certificates": [{"certificate": "\u00e9", "signature": "a" * 103}]},
            f"{ANN}.grid-manager-certificates[0].certificate: must be 1 to 1000 printable "
            "ASCII characters",
        ),
        (
            {"anonymous-storage-FURL": ONION_FURL.replace("a" * 32, "a" * 31 + "1")},
            f"{ANN}.anonymous-storage-FURL: not a FURL "
            "(pb://<tub id>@<connection hints>/<swissnum>) (and 1 more problem(s))",
        ),
        (
            {"anonymous-storage-FURL": ONION_FURL.replace("a" * 32, "a" * 4)},
            f"{ANN}.anonymous-storage-FURL: not a storage FURL (its tub id must be 32 "
            "characters of a-z 2-7)",
        ),
    ],
)
def test_announcement_bounds(fields: dict[str, Any], message: str) -> None:
    data = with_ann(**fields)
    assert refusal(data) == message


def test_announcements_at_the_bounds_validate() -> None:
    fields: dict[str, Any] = {f"x{i}": "v" * 1000 for i in range(29)}
    fields["x0"] = [{f"k{i}": "v" * 1000 for i in range(16)}] * 16
    fields["x1"] = [None, True, -(10**19), "\U0001f600" * 1000]
    fields["k" * 64] = 1
    validate(with_ann(**fields))


def test_counts_of_servers_introducers_and_client_keys() -> None:
    data = manifest_data()
    data["grid"]["servers"] = {
        f"v0-{i}": {"ann": {"anonymous-storage-FURL": ONION_FURL}} for i in range(65)
    }
    assert refusal(data) == "manifest field grid.servers: must have at most 64 fields"
    del data["grid"]["servers"]["v0-0"]
    validate(data)
    data = manifest_data()
    data["grid"]["introducers"] = {f"i{i}": {"furl": ONION_FURL} for i in range(17)}
    assert refusal(data) == "manifest field grid.introducers: must have at most 16 fields"
    data = manifest_data(tor={"client_auth": [{"onion": "c" * 56, "private_key": "K" * 52}] * 65})
    assert refusal(data) == "manifest field tor.client_auth: must have at most 64 items"


@pytest.mark.parametrize(
    "furl",
    [
        ONION_FURL.replace("/" + "d" * 32, "/\u00e9"),  # the node exits at start
        ONION_FURL.replace("a" * 32, "a0189"),  # the node's status fails (500)
        ONION_FURL.replace("/" + "d" * 32, "/" + "d" * 1000),
    ],
)
def test_introducer_furls_tahoe_cannot_use_are_refused(furl: str) -> None:
    data = manifest_data()
    data["grid"]["introducers"]["default"]["furl"] = furl
    message = refusal(data)
    assert message.startswith("manifest field grid.introducers.default.furl: ")
    assert furl not in message


LOCAL = (
    "manifest field backups[0].local: must be an absolute path (starting with /) of at "
    "most 4096 characters, without '.' or '..' parts or control characters"
)


@pytest.mark.parametrize(
    "local",
    [
        "/home/amnesia/../../etc",
        "/..",
        "/home/..",
        "/home/./amnesia",
        "/.",
        "/a/b/.",
        "relative",
        "/a\x7f",
        "/" + "a" * 4096,
    ],
)
def test_local_with_dot_parts_is_refused(local: str) -> None:
    data = manifest_data()
    data["backups"][0]["local"] = local
    assert refusal(data) == LOCAL


@pytest.mark.parametrize("local", ["/", "/home/amnesia/.config", "/a/...", "/a/..b/c.", "/a/b/"])
def test_local_dot_names_that_are_not_parts_pass(local: str) -> None:
    data = manifest_data()
    data["backups"][0]["local"] = local
    assert validate(data).backups[0].local == local


def test_excludes_are_bounded() -> None:
    data = manifest_data()
    data["backups"][0]["excludes"] = ["*.tmp\n--exclude=x"]
    assert (
        refusal(data)
        == "manifest field backups[0].excludes[0]: must not contain control characters"
    )
    data["backups"][0]["excludes"] = ["*"] * 101
    assert refusal(data) == "manifest field backups[0].excludes: must have at most 100 items"


# --- the onion-only rule covers every location ---------------------------------------
@pytest.mark.parametrize(
    ("nurls", "hints"),
    [
        ([nurl(f"{ONION}:3459")], []),
        ([nurl(f"{ONION}:3459", "pb")], []),
        ([nurl("10.1.2.3:443", "pb")], ["tcp:10.1.2.3:443"]),
        ([nurl("storage.example:443")], ["tor:storage.example:443"]),
        ([nurl("[2001:db8::1]:443", "pb")], ["tcp:[2001:db8::1]:443"]),
    ],
)
def test_non_onion_hints_cover_nurls(nurls: list[str], hints: list[str]) -> None:
    m = validate(with_ann(**{"anonymous-storage-NURLs": nurls}))
    assert m.non_onion_hints() == hints
    for hint in hints:
        assert SWISS not in hint and HASH not in hint


def test_htb_start_refuses_a_clearnet_nurl() -> None:
    """Mutation: non_onion_hints skipping NURLs (as it did) lets tor_settings pass."""
    m = validate(with_ann(**{"anonymous-storage-NURLs": [nurl("203.0.113.7:443", "pb")]}))
    with pytest.raises(GridError) as info:
        session.tor_settings(m)
    assert str(info.value) == (
        "manifest grid has a non-onion connection hint (tcp:203.0.113.7:443): htb joins "
        "only onion grids, where no server's or client's address is revealed"
    )
    # Control: the same grid with the NURL on an onion is joined over Tor.
    onion = validate(with_ann(**{"anonymous-storage-NURLs": [nurl(f"{ONION}:443")]}))
    assert session.tor_settings(onion) is not None


def test_a_loopback_nurl_is_a_test_grid() -> None:
    data = manifest_data()
    data["grid"]["introducers"]["default"]["furl"] = "pb://aaaa@tcp:127.0.0.1:4/intro"
    ann = {"anonymous-storage-FURL": "pb://" + "a" * 32 + "@tcp:127.0.0.1:5/s"}
    ann["anonymous-storage-NURLs"] = [nurl("127.0.0.1:5", "pb")]
    data["grid"]["servers"] = {SERVER: {"ann": ann}}
    assert session.tor_settings(validate(data), unsafe_no_tor=True) is None
    ann["anonymous-storage-NURLs"] = [nurl("203.0.113.7:5", "pb")]
    with pytest.raises(GridError, match="only for test grids"):
        session.tor_settings(validate(data), unsafe_no_tor=True)


def test_an_unparsable_nurl_of_an_unvalidated_manifest_is_not_onion() -> None:
    m = Manifest(copy.deepcopy(with_ann(**{"anonymous-storage-NURLs": [f"{HASH}@{SWISS}"]})))
    assert m.non_onion_hints() == ["(a NURL that cannot be parsed)"]


# --- what the htb_manifest module masks ----------------------------------------------
def test_secret_values_are_the_secrets_and_no_word() -> None:
    """Mutation: collecting every string (Ansible's no_log) puts "invitation" in it."""
    data = with_ann(**{"anonymous-storage-NURLs": [nurl(f"{ONION}:3459")], "nickname": "s1"})
    data.update(
        convergence="a" * 51 + "q",
        kind="full",
        tor={"client_auth": [{"onion": "c" * 56, "private_key": "K" * 52}]},
    )
    found = secret_values(data)
    for secret in (ROOTCAP, ONION_FURL, nurl(f"{ONION}:3459"), "a" * 51 + "q", "K" * 52):
        assert secret in found
    assert set(validate(data).secrets()) <= found
    for word in ("full", "s1", "alice", "laptop/docs", "/home/amnesia/Persistent", "docs"):
        assert word not in found
    # Invalid input too: a rootcap where a number belongs is still masked.
    assert ROOTCAP in secret_values({"grid": {"shares": {"total": ROOTCAP}}, "kind": 7})
