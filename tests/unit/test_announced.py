"""tests/announced.py: the checks the molecule scenarios run on real announcements.

Each check is shown to find what it looks for (a tcp hint beside the onion one, a
server missing from one introducer's cache): the controls of the scenario tests
test_no_tcp_hint_is_announced and test_storage_nodes_join_through_every_introducer.
"""

from __future__ import annotations

import copy

import announced
import pytest
import yaml

ONION = "a" * 52 + "wxyz.onion"  # 56 base32 characters
ONION2 = "b" * 52 + "wxyz.onion"
TUB = "tubidtubidtubidtubidtubidtubidtu"
SWISSNUM = "swissnumswissnumswissnumswissnum"
SERVER = "v0-" + "c" * 52


def announcement(hints: str = f"tor:{ONION}:3457", nurls: set[str] | None = None) -> dict:
    """A storage announcement as Tahoe 1.20 makes it (client.init_storage)."""
    if nurls is None:
        nurls = {f"pb+tor://{TUB}@{ONION}:3457/{SWISSNUM}#v=1"}
    return {
        "anonymous-storage-FURL": f"pb://{TUB}@{hints}/{SWISSNUM}",
        "anonymous-storage-NURLs": nurls,
        "permutation-seed-base32": "d" * 52,
        "nickname": f"storage-{ONION[:8]}",
        "service-name": "storage",
        "seqnum": 7,
        "nonce": "e" * 52,
        "my-version": "tahoe-lafs/1.20.0",
        "oldest-supported": "1.0",
        "app-versions": [],
        "version": 0,
    }


def test_an_onion_only_announcement_has_no_other_location() -> None:
    assert announced.non_onion_locations(announcement()) == []
    assert announced.non_onion_locations(announcement(nurls=set())) == []
    # Two onion hints, and a NURL in the pb:// form.
    ann = announcement(
        f"tor:{ONION}:3457,tor:{ONION2}:1", {f"pb://{TUB}@{ONION}:3457/{SWISSNUM}#v=1"}
    )
    assert announced.non_onion_locations(ann) == []


@pytest.mark.parametrize(
    ("hints", "found"),
    [
        # The threat model's case: a tcp hint announced beside the onion one.
        (f"tor:{ONION}:3457,tcp:10.89.77.5:3457", ["tcp:10.89.77.5:3457"]),
        (f"tcp:storage1.example:3457,tor:{ONION}:3457", ["tcp:storage1.example:3457"]),
        ("tcp:[2001:db8::5]:3457", ["tcp:[2001:db8::5]:3457"]),
        # Foolscap's bare host:port is a tcp hint too.
        (f"10.89.77.5:3457,tor:{ONION}:3457", ["10.89.77.5:3457"]),
        # Through Tor, but to a clearnet host: the server's address all the same.
        ("tor:198.51.100.7:3457", ["tor:198.51.100.7:3457"]),
        (f"tor:{ONION}", [f"tor:{ONION}"]),  # no port: not what Tahoe writes
        (f"tor:{ONION.upper()}:3457", [f"tor:{ONION.upper()}:3457"]),
        ("", [""]),  # no hint at all
    ],
)
def test_a_furl_hint_that_is_not_an_onion_is_found(hints: str, found: list[str]) -> None:
    assert announced.non_onion_locations(announcement(hints)) == found


@pytest.mark.parametrize(
    ("nurl", "found"),
    [
        (f"pb://{TUB}@10.89.77.5:3457/{SWISSNUM}#v=1", ["tcp:10.89.77.5:3457"]),
        (f"pb+tor://{TUB}@example.org:3457/{SWISSNUM}#v=1", ["tor:example.org:3457"]),
        (f"pb+tor://{TUB}@{ONION}/{SWISSNUM}#v=1", [f"tor:{ONION}"]),
    ],
)
def test_a_nurl_that_is_not_an_onion_is_found(nurl: str, found: list[str]) -> None:
    assert announced.non_onion_locations(announcement(nurls={nurl})) == found


def test_a_furl_anywhere_in_the_announcement_is_checked() -> None:
    ann = announcement()
    ann["some-future-FURL"] = [{"at": f"pb://{TUB}@tcp:10.0.0.1:1/{SWISSNUM}"}]
    assert announced.non_onion_locations(ann) == ["tcp:10.0.0.1:1"]


@pytest.mark.parametrize(
    "url",
    [
        f"pb://{TUB}@tor:{ONION}:3457",  # no swissnum
        f"see pb://{TUB}@tor:{ONION}:3457/{SWISSNUM}",  # not a FURL alone
        f"pb://{TUB}@tor:{ONION}:3457/{SWISSNUM}\ntcp:10.0.0.1:1",
        f"pbx://{TUB}@tcp:10.0.0.1:1/{SWISSNUM} pb://",
    ],
)
def test_what_cannot_be_parsed_is_found(url: str) -> None:
    ann = announcement()
    ann["anonymous-storage-FURL"] = url
    assert announced.non_onion_locations(ann) == [announced.UNPARSABLE]


def test_an_announcement_without_any_furl_is_found() -> None:
    ann = announcement(nurls=set())
    del ann["anonymous-storage-FURL"]
    assert announced.non_onion_locations(ann) == ["(no FURL or NURL)"]
    assert announced.non_onion_locations(None) == ["(no FURL or NURL)"]


def test_what_is_found_never_holds_a_tub_id_or_swissnum() -> None:
    ann = announcement(f"tcp:10.0.0.1:1,tor:{ONION}:3457,tcp:h\x1b[2J:1")
    ann["anonymous-storage-NURLs"] = {f"pb://{TUB}@10.0.0.2:2/{SWISSNUM}#v=1"}
    ann["other"] = f"pb://{TUB}@broken"
    found = announced.non_onion_locations(ann)
    assert sorted(found) == sorted(
        ["tcp:10.0.0.1:1", announced.UNSHOWABLE, "tcp:10.0.0.2:2", announced.UNPARSABLE]
    )
    text = " ".join(found)
    assert TUB not in text and SWISSNUM not in text


def cache_text(entries: dict[str, dict]) -> str:
    # As Tahoe writes it (introducer/client.py _save_announcements: yamlutil.safe_dump).
    return yaml.safe_dump([{"ann": ann, "key_s": key} for key, ann in entries.items()])


def test_a_cache_reads_back_as_tahoe_wrote_it() -> None:
    ann = announcement(f"tor:{ONION}:3457,tcp:10.89.77.5:3457")
    read = announced.cached(cache_text({SERVER: ann}))
    assert read == {SERVER: ann}  # the NURLs' set too
    assert announced.non_onion_locations(read[SERVER]) == ["tcp:10.89.77.5:3457"]
    with pytest.raises(AssertionError):
        announced.cached("{}")


def test_static_servers_read_as_htb_and_the_roles_write_them() -> None:
    text = yaml.safe_dump({"storage": {SERVER: {"ann": announcement()}}})
    assert announced.static(text) == {SERVER: announcement()}


def test_a_server_missing_from_one_introducer_is_found() -> None:
    other = "v0-" + "f" * 52
    own = {SERVER: announcement()["anonymous-storage-FURL"], other: f"pb://x@tor:{ONION2}:1/y"}
    both = {SERVER: announcement(), other: {"anonymous-storage-FURL": own[other]}}
    caches = {"introducer-a": both, "introducer-b": copy.deepcopy(both)}
    assert announced.not_announced(caches, own) == []
    # Mutation: the server joined through one introducer only.
    del caches["introducer-b"][other]
    assert announced.not_announced(caches, own) == [f"introducer-b: {other} not announced"]
    # ... or is announced with another FURL there (an old one, or not its own).
    caches["introducer-b"][other] = {"anonymous-storage-FURL": own[SERVER]}
    gaps = announced.not_announced(caches, own)
    assert gaps == [f"introducer-b: {other} announced with another FURL"]
    assert SWISSNUM not in " ".join(gaps)
    with pytest.raises(AssertionError):
        announced.not_announced({}, own)
