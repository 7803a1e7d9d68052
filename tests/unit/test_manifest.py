"""The manifest's plaintext: schema errors name the field; sealing and opening both forms."""

from __future__ import annotations

import copy
import re

import pytest
from conftest import ONION_FURL, ROOTCAP, manifest_data
from hypothesis import given, settings
from hypothesis import strategies as st

from htb.errors import ManifestInvalidError, NotSealedError, WrongPassphraseError
from htb.manifest import TEST_KDF, canonical_json, open_sealed, seal, validate
from htb.manifest.schema import loads

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d["grid"]["shares"].update(needed=0), "grid.shares.needed"),
        (lambda d: d["grid"]["shares"].update(needed=3, happy=2), "grid.shares"),
        (lambda d: d["grid"].pop("introducers"), "grid"),
        (
            lambda d: d["grid"]["introducers"]["default"].update(furl="http://x"),
            "grid.introducers.default.furl",
        ),
        (lambda d: d["aliases"].update(docs="URI:CHK:x"), "aliases.docs"),
        (lambda d: d["backups"][0].update(local="relative/dir"), "backups[0].local"),
        (lambda d: d["backups"][0].update(path="../escape"), "backups[0].path"),
        (lambda d: d["backups"][0].update(alias="nosuch"), "backups[0].alias"),
        (lambda d: d.update(surprise=1), "(top level)"),
        (lambda d: d.update(tor={"client_auth": [{"onion": "x", "private_key": "y"}]}), "tor"),
    ],
)
def test_errors_name_the_field(mutate, field: str) -> None:
    data = manifest_data()
    mutate(data)
    with pytest.raises(ManifestInvalidError, match="field " + re.escape(field)):
        validate(data)


def test_extension_fields_and_static_servers_are_accepted() -> None:
    data = manifest_data(**{"x-note": {"anything": True}})
    data["grid"] = {
        "servers": {
            "v0-abc": {"ann": {"nickname": "s1", "anonymous-storage-FURL": ONION_FURL}},
        },
        "shares": {"needed": 1, "happy": 1, "total": 1},
    }
    m = validate(data)
    assert m.servers["v0-abc"]["ann"]["nickname"] == "s1"
    assert m.furls() == [ONION_FURL]


def test_onion_only_hints() -> None:
    assert validate(manifest_data()).non_onion_hints() == []
    data = manifest_data()
    data["grid"]["introducers"]["tcp"] = {"furl": "pb://aaaa@tcp:10.0.0.1:3457/x"}
    data["grid"]["introducers"]["mixed"] = {"furl": "pb://aaaa@tor:x.onion:1,tcp:1.2.3.4:5/x"}
    assert validate(data).non_onion_hints() == ["tcp:10.0.0.1:3457", "tcp:1.2.3.4:5"]


def test_template_may_leave_aliases_to_create() -> None:
    data = manifest_data(aliases={})
    with pytest.raises(ManifestInvalidError):
        validate(data)
    assert validate(data, template=True).backups[0].alias == "docs"


def test_not_json() -> None:
    with pytest.raises(ManifestInvalidError, match="not valid JSON"):
        loads(b"\xff{")


@pytest.mark.parametrize("armored", [False, True])
def test_seal_open_both_forms(armored: bool) -> None:
    m = validate(manifest_data())
    sealed = seal(m, PW, armored=armored, kdf=TEST_KDF)
    assert ROOTCAP.encode() not in sealed
    opened = open_sealed(sealed, PW)
    assert opened.manifest == m
    assert opened.form == ("armored" if armored else "binary")
    assert opened.kdf == TEST_KDF
    with pytest.raises(WrongPassphraseError):
        open_sealed(sealed, PW + "!")


def test_plain_json_is_not_a_sealed_manifest() -> None:
    with pytest.raises(NotSealedError):
        open_sealed(canonical_json(manifest_data()), PW)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(
    aliases=st.dictionaries(names, st.just(ROOTCAP), min_size=1, max_size=4),
    local=st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
    needed=st.integers(1, 5),
    extra=st.integers(0, 5),
)
def test_any_valid_manifest_round_trips(aliases, local, needed, extra) -> None:
    alias = sorted(aliases)[0]
    data = manifest_data(
        aliases=aliases,
        backups=[{"alias": alias, "path": "p/q", "local": "/" + local, "excludes": ["*.tmp"]}],
    )
    data["grid"]["shares"] = {"needed": needed, "happy": needed + extra, "total": needed + extra}
    m = validate(copy.deepcopy(data))
    assert open_sealed(seal(m, PW, kdf=TEST_KDF), PW).manifest.data == data


def test_secrets_are_every_capability_and_key() -> None:
    data = manifest_data(tor={"client_auth": [{"onion": "c" * 56, "private_key": "K" * 52}]})
    assert sorted(validate(data).secrets()) == sorted([ROOTCAP, ONION_FURL, "K" * 52])
