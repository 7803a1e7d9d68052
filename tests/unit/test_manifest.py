"""The manifest's plaintext: schema errors name the field; sealing and opening both forms."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import pytest
from conftest import ONION_FURL, ROOTCAP, manifest_data
from hypothesis import given, settings
from hypothesis import strategies as st

from htb.errors import ManifestInvalidError, NotSealedError, WrongPassphraseError
from htb.manifest import TEST_KDF, Manifest, canonical_json, envelope, open_sealed, seal, validate
from htb.manifest import schema as schema_module
from htb.manifest.schema import MAX_INPUT, MAX_PLAINTEXT, UNPARSABLE_FURL, loads

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
        (
            lambda d: d["grid"].update(grid_managers={"operator": "pub-v0-tcp:10.0.0.1"}),
            "grid.grid_managers.operator",
        ),
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


def test_grid_managers_and_announced_certificates_are_accepted() -> None:
    data = manifest_data()
    key = "pub-v0-" + "a" * 52
    cert = {"certificate": '{"expires":"2027-01-01T00:00:00+00:00"}', "signature": "a" * 103}
    ann = {"anonymous-storage-FURL": ONION_FURL, "grid-manager-certificates": [cert]}
    data["grid"].update(grid_managers={"operator": key}, servers={"v0-abc": {"ann": ann}})
    m = validate(data)
    assert m.grid_managers == {"operator": key}
    assert validate(manifest_data()).grid_managers == {}
    ann["grid-manager-certificates"] = [{**cert, "extra": 1}]
    with pytest.raises(ManifestInvalidError, match="grid-manager-certificates"):
        validate(data)


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
    local=st.text(min_size=1, max_size=30).filter(
        lambda s: (
            all(ord(c) >= 0x20 and c != "\x7f" for c in s) and not {".", ".."} & set(s.split("/"))
        )
    ),
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


def test_secrets_include_nurls() -> None:
    data = manifest_data()
    nurl = "pb://" + "n" * 32 + "@storage.example:443/" + "s" * 32 + "#v=1"
    data["grid"]["servers"] = {
        "v0-abc": {"ann": {"anonymous-storage-FURL": ONION_FURL, "anonymous-storage-NURLs": [nurl]}}
    }
    assert sorted(validate(data).secrets()) == sorted([ROOTCAP, ONION_FURL, ONION_FURL, nurl])


# --- defect 4: hostile JSON never crashes htb ----------------------------------------
SEALED_PW = "trellis mango quiver obsolete hamstring parable docile"


def _open_plaintext(plaintext: bytes) -> object:
    """``htb unseal`` of a properly sealed file holding ``plaintext``."""
    return open_sealed(envelope.seal(plaintext, SEALED_PW, TEST_KDF), SEALED_PW)


HOSTILE_JSON = [
    pytest.param(b"[" * 100_000, "nested more than 64", id="100000-brackets"),
    pytest.param(b'{"x-a":' * 100_000, "nested more than 64", id="100000-objects"),
    pytest.param(b'{"x-a":' + b"1" * 5000 + b"}", "more than 20 digits", id="5000-digits"),
    pytest.param(b'{"x-a":-' + b"9" * 21 + b"}", "more than 20 digits", id="21-digits"),
    pytest.param(b'{"x-a":1,"x-a":2}', "'x-a' twice", id="duplicate-key"),
    pytest.param(b'{"x-a":{"b":1,"b":1}}', "'b' twice", id="nested-duplicate"),
    pytest.param(b'{"x-a":NaN}', "NaN or Infinity", id="nan"),
    pytest.param(b'{"x-a":-Infinity}', "NaN or Infinity", id="infinity"),
    pytest.param(b'{"x-a":1e400}', "too large for a 64-bit float", id="float-overflow"),
    pytest.param(b'{"x-a":"\\ud800"}', "lone surrogate", id="lone-surrogate"),
    pytest.param(b'{"x-a":{"\\udfff":1}}', "lone surrogate", id="surrogate-key"),
    pytest.param(b'{"x-a":"\\ude00\\ud83d"}', "lone surrogate", id="reversed-pair"),
    pytest.param(b"[]", "not a JSON object", id="top-level-array"),
    pytest.param(b'"x"', "not a JSON object", id="top-level-string"),
    pytest.param(b"1", "not a JSON object", id="top-level-number"),
    pytest.param(b"null", "not a JSON object", id="top-level-null"),
    pytest.param(b"\xef\xbb\xbf{}", "byte order mark", id="bom"),
    pytest.param(b'{"x-a":"\xff"}', "not UTF-8", id="invalid-utf8"),
    pytest.param(b'{"x-a":"\xed\xa0\x80"}', "not UTF-8", id="utf8-encoded-surrogate"),
    pytest.param('{"x-a":1}'.encode("utf-16"), "not UTF-8", id="utf16"),
    pytest.param(b"]]]" + b"[" * 100, "closes nothing", id="unbalanced"),
    pytest.param(b"", "not valid JSON", id="empty"),
    pytest.param(b'{"x-a":', "not valid JSON", id="truncated"),
]


@pytest.mark.parametrize(("text", "problem"), HOSTILE_JSON)
def test_defect_4_hostile_json_is_refused_by_loads(text: bytes, problem: str) -> None:
    with pytest.raises(ManifestInvalidError, match=re.escape(problem)):
        loads(text)


@pytest.mark.parametrize(("text", "problem"), HOSTILE_JSON)
def test_defect_4_hostile_json_in_a_sealed_file_is_refused(text: bytes, problem: str) -> None:
    with pytest.raises(ManifestInvalidError, match=re.escape(problem)):
        _open_plaintext(text)


def _nested(depth: int) -> bytes:
    """A valid manifest whose x-deep field makes the whole JSON ``depth`` levels deep."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return canonical_json(manifest_data())[:-1] + b',"x-deep":' + inner + b"}"


def test_defect_4_depth_limit_is_exactly_64() -> None:
    m = loads(_nested(64))
    assert loads(m.to_json()) == m
    with pytest.raises(ManifestInvalidError, match="nested more than 64"):
        loads(_nested(65))
    deep: list[object] = []  # 63 lists in the top-level object: 64 levels
    for _ in range(62):
        deep = [deep]
    assert validate(manifest_data(**{"x-deep": deep})).data["x-deep"] == deep
    with pytest.raises(ManifestInvalidError, match=r"field x-deep.*nested more than 64"):
        validate(manifest_data(**{"x-deep": [deep]}))


@pytest.mark.parametrize(
    "string",
    [
        "[" * 1000,
        "{" * 1000,
        '\\"' + "[" * 1000,  # an escaped quote does not end the string
        "\\\\" + "]" * 1000,  # an escaped backslash does not escape the closing quote
        "\\u005b" * 1000,  # [ as an escape
    ],
)
def test_defect_4_brackets_inside_strings_do_not_count(string: str) -> None:
    text = canonical_json(manifest_data())[:-1] + b',"x-s":"' + string.encode() + b'"}'
    assert loads(text).data["x-s"] == json.loads(f'"{string}"')


def test_defect_4_a_string_ending_in_a_backslash_pair_does_not_hide_brackets() -> None:
    # "\\" ends the string: the 100 brackets after it are structure, too deep.
    with pytest.raises(ManifestInvalidError, match="nested more than 64"):
        loads(b'{"x-s":"\\\\",' + b'"x-d":' + b"[" * 100 + b"]" * 100 + b"}")


def test_defect_4_integers_of_up_to_20_digits_are_read() -> None:
    big, small = 10**20 - 1, -(10**20 - 1)
    text = canonical_json(manifest_data(**{"x-big": big, "x-small": small}))
    assert loads(text).data["x-big"] == big
    with pytest.raises(ManifestInvalidError, match="more than 20 digits"):
        validate(manifest_data(**{"x-big": 10**20}))
    with pytest.raises(ManifestInvalidError, match="field version: an integer of more than"):
        validate(manifest_data(version=10**5000))  # repr() of it raises ValueError


def test_defect_4_a_surrogate_pair_is_one_character() -> None:
    text = canonical_json(manifest_data())[:-1] + b',"x-e":"\\ud83d\\ude00"}'
    assert loads(text).data["x-e"] == "\U0001f600"


def test_readers_accept_pretty_json_in_any_key_order() -> None:
    data = manifest_data(name="Zoë ☂")
    pretty = json.dumps(dict(reversed(data.items())), indent=4, ensure_ascii=True) + "\r\n"
    m = loads(pretty.encode())
    assert m.data == data
    assert loads(pretty) == m  # str input too


def test_canonical_form() -> None:
    m = validate(manifest_data(name="Zoë ☂"))
    text = m.to_json()
    assert text == json.dumps(
        m.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert '"name":"Zoë ☂"'.encode() in text  # raw UTF-8, not \u escapes
    assert not text.endswith(b"\n") and not text.startswith(b"\xef\xbb\xbf")
    assert text.startswith(b'{"aliases":{"docs":"URI:DIR2:')


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({1: "x"}, "a key is not a string"),
        ({"a", "b"}, "not a JSON value"),
        (b"bytes", "not a JSON value"),
        (float("nan"), "NaN or infinite"),
        (float("-inf"), "NaN or infinite"),
        ("\ud800", "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        pytest.param(10**4301, "more than 20 digits", id="4302-digits"),
    ],
)
def test_defect_4_validate_refuses_what_json_cannot_hold(value: object, problem: str) -> None:
    with pytest.raises(ManifestInvalidError, match=re.escape(problem)):
        validate(manifest_data(**{"x-v": value}))


def test_defect_4_validate_refuses_cycles_and_non_objects() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ManifestInvalidError, match="nested more than 64"):
        validate(manifest_data(**{"x-c": cycle}))
    wide: list[object] = [1]
    for _ in range(64):  # 2**64 values, shared: too many, found without walking them all
        wide = [wide, wide]
    with pytest.raises(ManifestInvalidError):
        validate(manifest_data(**{"x-w": wide}))
    for value in ([], "x", 1, None):
        with pytest.raises(ManifestInvalidError, match="not a JSON object"):
            validate(value)
    with pytest.raises(ManifestInvalidError, match=r"not a JSON value \(a Python tuple\)"):
        validate(())


def test_defect_4_big_extension_trees_within_the_limit() -> None:
    wide = [[1, "two", 3.5, None, True, {"k": "v"}] for _ in range(20_000)]
    data = manifest_data(**{"x-wide": wide})
    m = validate(data)
    assert len(m.to_json()) < MAX_PLAINTEXT
    assert loads(m.to_json()) == m
    with pytest.raises(ManifestInvalidError, match="too large"):
        validate(manifest_data(**{"x-pad": "p" * MAX_PLAINTEXT}))
    with pytest.raises(ManifestInvalidError, match="too large"):
        loads(b" " * (MAX_INPUT + 1))


def test_defect_4_many_schema_errors_stay_cheap() -> None:
    data = manifest_data(backups=[1] * 200_000)
    with pytest.raises(ManifestInvalidError, match=r"backups\[0\]: must be an object \(and at"):
        validate(data)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["\ud800", "\udfff", "a\udc80b"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.just("\ud800"), inner, max_size=4)
    ),
    max_leaves=30,
)


def _assert_round_trips(m: Manifest) -> None:
    text = m.to_json()
    again = loads(text)
    assert again.data == m.data
    assert again.to_json() == text


@settings(max_examples=300, deadline=None)
@given(value=json_values, deep=st.integers(0, 70))
def test_defect_4_validate_never_crashes(value: object, deep: int) -> None:
    for _ in range(deep):
        value = [value]
    for candidate in (value, manifest_data(**{"x-v": value}), manifest_data(name=value)):
        try:
            m = validate(candidate)
        except ManifestInvalidError as exc:
            assert "\n" not in str(exc)
            continue
        _assert_round_trips(m)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_defect_4_loads_never_crashes_on_damaged_json(data: st.DataObject) -> None:
    text = bytearray(canonical_json(manifest_data(**{"x-n": [1.5, -2, "é"]})))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        junk = data.draw(
            st.binary(max_size=6)
            | st.sampled_from(
                [b"[" * 70, b"[" * 50_000, b"9" * 30, b"9" * 5000, b"\\ud800", b"NaN", b"1e999"]
            )
            | st.sampled_from([b'"', b"\\", b"\xef\xbb\xbf", b"{", b"}", b",", b":"])
        )
        cut = data.draw(st.integers(0, 3))
        text[at : at + cut] = junk
    try:
        m = loads(bytes(text))
    except ManifestInvalidError as exc:
        assert "\n" not in str(exc)
        return
    _assert_round_trips(m)


# --- defect 8: no message echoes a secret -------------------------------------------
# Real lengths: tub ids and swissnums are 32 base32 characters.
S_TUBID = "tubidSECRET7q4x" + "t" * 17
S_SWISS = "swissnumSECRET5k2z" + "s" * 14
S_FURL = f"pb://{S_TUBID}@tor:{'c' * 56}.onion:3457/{S_SWISS}"
S_WRITEKEY = "writekeysecretaaaaaaaaaaaa"  # 26 base32 characters
S_FINGER = "fingerprintsecret" + "b" * 35  # 52
S_ROOTCAP = f"URI:DIR2:{S_WRITEKEY}:{S_FINGER}"
S_NURL_SWISS = "nurlswissSECRET9" + "n" * 16
S_NURL = f"pb://nurltubSECRET{'u' * 19}@10.1.2.3:443/{S_NURL_SWISS}#v=1"
S_CLIENT_KEY = "CLIENTAUTHSECRET" + "A" * 36  # 52
SECRET_PARTS = [
    S_FURL,
    S_TUBID,
    S_SWISS,
    S_ROOTCAP,
    S_WRITEKEY,
    S_FINGER,
    S_NURL,
    "nurltubSECRET",
    S_NURL_SWISS,
    S_CLIENT_KEY,
    "CLIENTAUTHSECRET",
    "SECRET",
]
S_ONION = "o" * 56


def secret_data() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "alice",
        "grid": {
            "introducers": {"default": {"furl": S_FURL}},
            "servers": {
                "v0-server": {
                    "ann": {
                        "nickname": "s1",
                        "anonymous-storage-FURL": S_FURL,
                        "anonymous-storage-NURLs": [S_NURL],
                    }
                }
            },
            "shares": {"needed": 1, "happy": 1, "total": 1},
        },
        "aliases": {"docs": S_ROOTCAP},
        "backups": [{"alias": "docs", "path": "a/b", "local": "/home", "excludes": ["*.iso"]}],
        "tor": {"client_auth": [{"onion": S_ONION, "private_key": S_CLIENT_KEY}]},
    }


def _at(data: dict[str, Any], path: str, key: str | None = None) -> tuple[Any, Any]:
    """The container and key that ``path`` (``a.b.0.c``; or ``a.b`` and ``key``) names."""
    parts = path.split(".") if path else []
    if key is None:
        *parts, key = parts
    node: Any = data
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(key) if isinstance(node, list) else key


INTRO = "grid.introducers.default"
ANN = "grid.servers.v0-server.ann"
AUTH = "tor.client_auth.0"
SECRET_FIELDS = {
    "aliases.docs": S_ROOTCAP,
    f"{INTRO}.furl": S_FURL,
    f"{ANN}.anonymous-storage-FURL": S_FURL,
    f"{ANN}.anonymous-storage-NURLs.0": S_NURL,
    f"{AUTH}.private_key": S_CLIENT_KEY,
}


def _hostile_variants(secret: str) -> list[Any]:
    return [
        secret + " ",
        " " + secret,
        secret + "\n",
        secret.upper(),
        secret.lower(),
        secret[:-1] + "!",
        "http://" + secret,
        [secret],
        {"value": secret},
        {secret: secret},
        7,
        None,
        "",
    ]


def _replacements() -> list[tuple[str, str | None, Any]]:
    """(field path, key or None, value or DELETE) for every failure we can think of."""
    cases: list[tuple[str, str | None, Any]] = []
    for field, secret in SECRET_FIELDS.items():
        cases += [(field, None, v) for v in _hostile_variants(secret)]
    everywhere = [S_FURL, S_ROOTCAP, S_CLIENT_KEY, [S_FURL], {S_ROOTCAP: S_FURL}, -1, 1.5, True]
    for field in [
        "version",
        "name",
        "description",
        "grid",
        "grid.introducers",
        INTRO,
        "grid.servers",
        "grid.servers.v0-server",
        ANN,
        f"{ANN}.nickname",
        f"{ANN}.permutation-seed-base32",
        "grid.shares",
        "grid.shares.needed",
        "grid.shares.total",
        "aliases",
        "backups",
        "backups.0",
        "backups.0.alias",
        "backups.0.path",
        "backups.0.local",
        "backups.0.excludes",
        "backups.0.excludes.0",
        "tor",
        "tor.client_auth",
        AUTH,
        f"{AUTH}.onion",
    ]:
        cases += [(field, None, v) for v in everywhere]
    # names (keys) that are secrets, or hold one
    names = [S_FURL, S_ROOTCAP, S_CLIENT_KEY, S_SWISS, S_TUBID, S_WRITEKEY, S_ROOTCAP + " "]
    names += [f"x_{S_SWISS}", f"{S_SWISS}.y", "\ud800" + S_SWISS, S_SWISS.lower()]
    for parent in ["", "grid", "grid.introducers", "grid.servers", "aliases", "backups.0", AUTH]:
        for name in names:
            cases += [(parent, name, S_FURL), (parent, name, 1)]
    cases += [
        ("backups.0.path", None, f"{S_ROOTCAP}/../x"),
        ("backups.0.path", None, f"/{S_ROOTCAP}"),
        ("backups.0.path", None, S_ROOTCAP * 20),
        ("backups.0.local", None, S_ROOTCAP),
        ("backups.0.alias", None, S_ROOTCAP),
        ("backups.0.alias", None, S_CLIENT_KEY),
        ("backups.0.alias", None, S_SWISS),
        ("name", None, S_FURL * 10),
        ("grid.shares.happy", None, 2),
        ("grid.shares.needed", None, 0),
        ("grid.shares.needed", None, 257),
        ("x-ext", None, S_FURL + "\ud800"),
        ("x-ext", None, [S_FURL, float("nan")]),
        ("x-ext", None, [S_FURL, 10**4400]),
        ("x-ext", None, {S_FURL: {S_SWISS: [S_ROOTCAP, {1: S_CLIENT_KEY}]}}),
        ("grid.introducers", None, DELETE),
        (f"{INTRO}.furl", None, DELETE),
        ("backups.0.alias", None, DELETE),
        (f"{AUTH}.private_key", None, DELETE),
    ]
    return cases


DELETE = object()


@pytest.mark.parametrize(
    ("field", "key", "value"),
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(_replacements())],
)
def test_defect_8_no_schema_message_echoes_a_secret(
    field: str, key: str | None, value: Any
) -> None:
    data = secret_data()
    if field == "grid.introducers" and value is DELETE:
        data["grid"].pop("servers")
    container, where = _at(data, field, key)
    if value is DELETE:
        del container[where]
    else:
        container[where] = value
    try:
        validate(data)
    except ManifestInvalidError as exc:
        _assert_no_secret(str(exc))
    else:  # some of the variants are valid (a name may be any text)
        assert field in ("name", "description", f"{ANN}.nickname", "x-ext") or key is None
    # the same through the JSON reader, where the value is representable
    try:
        text = json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except ValueError:
        return
    try:
        loads(text)
    except ManifestInvalidError as exc:
        _assert_no_secret(str(exc))


def _assert_no_secret(message: str) -> None:
    assert message.startswith("manifest")
    assert "\n" not in message
    for secret in SECRET_PARTS:
        assert secret.lower() not in message.lower(), (secret, message)


def test_defect_8_the_secret_fixture_is_valid() -> None:
    m = validate(secret_data())
    assert sorted(m.secrets()) == sorted([S_ROOTCAP, S_FURL, S_FURL, S_NURL, S_CLIENT_KEY])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_defect_8_random_damage_never_echoes_a_secret(data: st.DataObject) -> None:
    manifest = secret_data()
    field = data.draw(st.sampled_from(sorted(SECRET_FIELDS)))
    secret = SECRET_FIELDS[field]
    cut = data.draw(st.integers(0, len(secret)))
    junk = data.draw(st.text(max_size=3))
    container, key = _at(manifest, field)
    container[key] = secret[:cut] + junk + secret[cut:]
    try:
        validate(manifest)
    except ManifestInvalidError as exc:
        _assert_no_secret(str(exc))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["aliases"].update(docs=ROOTCAP + " "),
            "manifest field aliases.docs: not a directory capability (URI:DIR2: or URI:DIR2-RO:)",
        ),
        (
            lambda d: d["grid"]["introducers"]["default"].update(furl=ONION_FURL + " "),
            "manifest field grid.introducers.default.furl: not a FURL "
            "(pb://<tub id>@<connection hints>/<swissnum>)",
        ),
        (lambda d: d.update(name=1), "manifest field name: must be a string"),
        (
            lambda d: d["backups"][0].pop("alias"),
            "manifest field backups[0]: missing required field 'alias'",
        ),
        (
            lambda d: d.update(foo=1),
            "manifest field (top level): unexpected field 'foo' (extension fields start with x-)",
        ),
        (
            lambda d: d.update({ROOTCAP: 1}),
            "manifest field (top level): an unexpected field (extension fields start with x-)",
        ),
        (
            lambda d: d["aliases"].update({"no way": ROOTCAP}),
            "manifest field aliases: a key must be 1 to 64 characters of A-Z a-z 0-9 _ . -",
        ),
        (
            lambda d: d["grid"]["shares"].update(happy=1),
            "manifest field grid.shares: needed <= happy <= total does not hold",
        ),
        (
            lambda d: d.update(version=2),
            "manifest field version: version 2 is not supported (this htb reads version 1)",
        ),
        (
            lambda d: d.update(version=ROOTCAP),
            "manifest field version: must be the integer 1 (this htb reads version 1)",
        ),
    ],
)
def test_defect_8_messages_name_the_field_and_the_problem(mutate: Any, message: str) -> None:
    data = manifest_data()
    mutate(data)
    with pytest.raises(ManifestInvalidError) as info:
        validate(data)
    assert str(info.value) == message


def test_defect_8_non_onion_hints_show_only_hints() -> None:
    data = secret_data()
    data["grid"]["introducers"]["tcp"] = {"furl": f"pb://{S_TUBID}@tcp:10.0.0.1:3457/{S_SWISS}"}
    m = validate(data)
    assert m.non_onion_hints() == ["tcp:10.0.0.1:3457", "tcp:10.1.2.3:443"]  # FURL, NURL
    # A Manifest built without validate: unparsable FURLs, unprintable hints.
    m = Manifest(
        {
            "grid": {
                "introducers": {
                    "a": {"furl": f"{S_TUBID}@{S_SWISS}"},
                    "b": {"furl": f"pb://{S_TUBID}/{S_SWISS}@x/y"},
                    "c": {"furl": f"pb://{S_TUBID}@tcp:\x1b[2Jevil:1/{S_SWISS}"},
                }
            }
        }
    )
    hints = m.non_onion_hints()
    assert hints == [UNPARSABLE_FURL, UNPARSABLE_FURL, "(a connection hint that cannot be shown)"]
    for hint in hints:
        for secret in SECRET_PARTS:
            assert secret not in hint


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["aliases"].update(docs=ROOTCAP + "\n"), "aliases.docs"),
        (lambda d: d["aliases"].update({"docs\n": ROOTCAP}), "aliases"),
        (
            lambda d: d["grid"]["introducers"]["default"].update(furl=ONION_FURL + "\n"),
            "grid.introducers.default.furl",
        ),
        (lambda d: d["grid"]["introducers"].update({"x\n": {"furl": ONION_FURL}}), "grid"),
        (lambda d: d["backups"][0].update(alias="docs\n"), "backups[0].alias"),
        (lambda d: d["backups"][0].update(path="a/..\n"), "backups[0].path"),
    ],
)
def test_defect_8_a_final_newline_does_not_pass_a_pattern(mutate: Any, field: str) -> None:
    """JSON Schema patterns are ECMA 262: '$' is the end, not "before a final newline"."""
    data = manifest_data()
    mutate(data)
    with pytest.raises(ManifestInvalidError, match="field " + re.escape(field)) as info:
        validate(data)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        b'"' + b'\\"' * 1_000_000,  # one unterminated string of escaped quotes
        b'"' + b'\\"' * 1_000_000 + b"\\",
        b'{"x-a":[' + b"0," * 1_500_000 + b"0]}",  # too large once written canonically
        b'{"x-a":[' + b"[]," * 1_000_000 + b"[]]}",
    ],
)
def test_defect_4_hostile_json_is_refused_in_linear_time(text: bytes) -> None:
    start = time.monotonic()
    with pytest.raises(ManifestInvalidError):
        loads(text)
    assert time.monotonic() - start < 20  # about 2 s; quadratic was hours


def test_defect_8_every_schema_pattern_has_a_message() -> None:
    patterns: set[str] = set()
    todo: list[Any] = [schema_module.schema()]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            patterns.update(v for k, v in node.items() if k == "pattern")
            todo += [v for k, v in node.items() if k != "pattern"]
        elif isinstance(node, list):
            todo += node
    assert patterns
    assert patterns <= set(schema_module._PATTERN_PROBLEMS)


def test_defect_8_shown_names() -> None:
    show = schema_module.safe_name
    assert show("docs") == "docs"
    assert show("v0-" + "a" * 52) == "v0-" + "a" * 52  # a server id is public
    for hidden in ["docs\n", "a b", "x" * 65, "URI:DIR2:a:b", "A" * 52, "a" * 21, "", None, 1]:
        assert show(hidden) is None, hidden


@pytest.mark.parametrize(
    ("field", "value"),
    [("path", "x\n/../y"), ("path", "a\tb"), ("local", "/home/amnesia/x\ny")],
)
def test_control_characters_in_paths_are_refused(field: str, value: str) -> None:
    data = manifest_data()
    data["backups"][0][field] = value
    with pytest.raises(ManifestInvalidError, match=f"backups\\[0\\].{field}"):
        validate(data)


def test_shares_must_be_whole_numbers_not_floats() -> None:
    data = manifest_data()
    data["grid"]["shares"]["needed"] = 2.0
    with pytest.raises(ManifestInvalidError, match=r"grid\.shares: must be whole numbers"):
        validate(data)
