"""Plaintexts: the reference reading of JSON and content, and hostile plaintexts."""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from hostile.cases import _DELETE, WRONG_TYPES, _deep_set, _paths
from hostile.expect import OPEN, Expect, refuse
from hostile.format import BOM, CONTENT, MAX_INPUT, MAX_PLAINTEXT, SEALED
from hostile.leaks import CLIENT_AUTH_KEY, INTRO_FURL, INTRO_TUBID, NURL, ROOTCAP, SERVER_FURL
from hostile.manifests import canonical, manifest_rich, manifest_small


@cache
def product_schema() -> dict[str, Any]:
    text = resources.files("htb.manifest").joinpath("manifest-v1.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _ecma_patterns(node: Any) -> Any:
    """JSON Schema patterns are ECMA-262: ``$`` is the very end, not before a final LF."""
    if isinstance(node, dict):
        return {
            k: re.sub(r"(?<!\\)\$", r"\\Z", v) if k == "pattern" else _ecma_patterns(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ecma_patterns(v) for v in node]
    return node


@cache
def _validator() -> Any:
    return jsonschema.Draft202012Validator(_ecma_patterns(product_schema()))


class _Bad(Exception):
    pass


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects (outside strings)."""
    if text.count("[") + text.count("{") <= 64:
        return 0  # cannot be deeper than 64
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    steps = (1 if c in "[{" else -1 for c in brackets)
    return max(itertools.accumulate(steps), default=0)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Bad("duplicate key")
    return dict(pairs)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise _Bad("integer too long")
    return int(text)


def _constant(_: str) -> Any:
    raise _Bad("NaN or Infinity")


def _strings_ok(value: Any) -> tuple[bool, bool]:
    """(no lone surrogate anywhere, no infinite float anywhere), without recursion."""
    stack, surrogates_ok, finite = [value], True, True
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            surrogates_ok &= not _SURROGATE.search(v)
        elif isinstance(v, float):
            finite &= v not in (float("inf"), float("-inf"))
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return surrogates_ok, finite


def _semantics_ok(data: dict[str, Any]) -> bool:
    s = data["grid"]["shares"]
    if not s["needed"] <= s["happy"] <= s["total"]:
        return False
    if not data["grid"].get("introducers") and not data["grid"].get("servers"):
        return False
    return all(b["alias"] in data["aliases"] for b in data["backups"])


def ref_content(plaintext: bytes, *, plain_file: bool = False) -> Expect:
    """The JSON rules and the schema: OPEN, refused with exit 4, or either.

    ``plain_file``: input of ``htb seal`` (a leading BOM is stripped, size is exit 4).
    """
    if plain_file and len(plaintext) > MAX_INPUT:
        return refuse(CONTENT, "too-large")
    if plain_file and plaintext.startswith(BOM):
        plaintext = plaintext[len(BOM) :]
    if len(plaintext) > MAX_PLAINTEXT:
        return refuse(CONTENT if plain_file else SEALED, "too-large", pre_kdf=not plain_file)
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        return refuse(CONTENT, "not-utf8")
    if text.startswith("\ufeff"):
        return refuse(CONTENT, "bom")
    depth = _depth(text)
    if depth > 64:
        return refuse(CONTENT, "too-deep") if depth > 70 else Expect("either", CONTENT, "depth")
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_int=_int, parse_constant=_constant)
    except (_Bad, json.JSONDecodeError) as exc:
        return refuse(CONTENT, f"json: {exc}"[:40])
    surrogates_ok, finite = _strings_ok(data)
    if not surrogates_ok:
        return refuse(CONTENT, "lone-surrogate")
    if not isinstance(data, dict):
        return refuse(CONTENT, "not-object")
    if not _validator().is_valid(data) or not _semantics_ok(data):
        return refuse(CONTENT, "schema")
    if not finite:  # 1e999: not the NaN/Infinity tokens, but not a number JSON can carry
        return Expect("either", CONTENT, "infinite-float")
    return OPEN


def _with(data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**data, **extra}


def hostile_plaintexts() -> list[tuple[str, bytes]]:
    """Hostile plaintext JSON: for sealing properly (unseal path) and for ``htb seal``."""
    v = manifest_rich()
    c = canonical(v).decode()
    inner = c[1:]  # the members after "{"

    def x(value: str) -> bytes:  # an x- extension member holding raw JSON text
        return ('{"x-hostile":' + value + "," + inner).encode()

    out: list[tuple[str, bytes]] = [
        ("valid-canonical", c.encode()),
        ("valid-pretty", json.dumps(v, indent=4).encode()),
        ("valid-reordered", json.dumps(dict(reversed(list(v.items())))).encode()),
        ("valid-ascii-escapes", json.dumps(v, ensure_ascii=True).encode()),
        ("valid-surrogate-pair", c.replace("alice", "alice\\ud83d\\ude00").encode()),
        ("valid-x-deep-10", x("[" * 10 + "]" * 10)),
        ("valid-bigint-19", x("9" * 19)),
        ("valid-x-huge-string", x('"' + "a" * 900_000 + '"')),
        ("valid-nul-escape", c.replace("alice", "al\\u0000ice").encode()),
        ("deep-100000-[", b"[" * 100_000),
        ("deep-100000-{", b'{"a":' * 100_000),
        ("deep-100000-closed", b"[" * 100_000 + b"]" * 100_000),
        ("deep-50000-mixed", b'[{"a":' * 50_000),
        ("deep-70-in-x", x("[" * 70 + "]" * 70)),
        ("deep-100000-in-x", x("[" * 100_000 + "]" * 100_000)),
        ("deep-in-string-ok", x('"' + "[" * 100_000 + '"')),
        ("bigint-5000-shares", c.replace('"needed":2', '"needed":' + "7" * 5000).encode()),
        ("bigint-5000-x", x("1" * 5000)),
        ("bigint-neg-5000-x", x("-" + "1" * 5000)),
        ("bigint-21-x", x("1" * 21)),
        ("bigfloat-5000-x", x("1" * 5000 + ".5")),
        ("float-1e999-x", x("1e999")),
        ("dup-version", ('{"version":1,' + inner).encode()),
        ("dup-alias-docs", c.replace('"docs":"', f'"docs":"{ROOTCAP}x","docs":"', 1).encode()),
        ("dup-in-x", x('{"a":1,"a":2}')),
        ("nan-x", x("NaN")),
        ("infinity-x", x("Infinity")),
        ("neg-infinity-shares", c.replace('"needed":2', '"needed":-Infinity').encode()),
        ("nan-shares", c.replace('"needed":2', '"needed":NaN').encode()),
        ("lone-high-surrogate-name", c.replace("alice", "ali\\ud800ce").encode()),
        ("lone-low-surrogate-x", x('"\\udfff"')),
        ("lone-surrogate-key", x('{"\\udc00":1}')),
        ("reversed-pair", c.replace("alice", "\\ude00\\ud83d").encode()),
        ("top-list", b"[]"),
        ("top-list-of-manifest", ("[" + c + "]").encode()),
        ("top-string", b'"manifest"'),
        ("top-number", b"1"),
        ("top-null", b"null"),
        ("top-true", b"true"),
        ("empty", b""),
        ("whitespace", b" \n\t "),
        ("trailing-garbage", (c + "x").encode()),
        ("two-objects", (c + c).encode()),
        ("utf16", c.encode("utf-16")),
        ("utf32", c.encode("utf-32")),
        ("huge-name", json.dumps(_with(v, name="a" * 900_000)).encode()),
        ("huge-unknown-key", x('{"' + "k" * 900_000 + '":1}').replace(b"x-hostile", b"k")),
        (
            "huge-description",
            json.dumps(_with(v, description="\u00e9" * 400_000), ensure_ascii=False).encode(),
        ),
        ("bom", BOM + c.encode()),
        ("bom-twice", BOM + BOM + c.encode()),
        ("bom-pretty", BOM + json.dumps(v, indent=2).encode()),
        ("invalid-utf8-ff", c.replace("alice", "al\udcffice").encode("utf-8", "surrogateescape")),
        ("overlong-slash", c.encode().replace(b"alice", b"al\xc0\xafice")),
        ("cesu-surrogate", c.encode().replace(b"alice", b"al\xed\xa0\x80ice")),
        ("truncated-utf8", c.encode().replace(b"alice", b"al\xe2\x82")),
        ("latin1", c.encode().replace("\u2019".encode(), b"\xe9")),
        ("raw-nul-in-string", c.encode().replace(b"alice", b"al\x00ice")),
        ("raw-newline-in-string", c.encode().replace(b"alice", b"al\nice")),
        ("unknown-field", json.dumps(_with(v, foo=1)).encode()),
        ("unknown-field-newline", json.dumps(_with(v, **{"foo\nbar": 1})).encode()),
        ("unknown-field-secret-name", json.dumps(_with(v, **{ROOTCAP: 1})).encode()),
        ("unknown-field-secret-value", json.dumps(_with(v, foo=INTRO_FURL)).encode()),
        ("unknown-field-ansi", json.dumps(_with(v, **{"\x1b[2J": 1})).encode()),
        ("unknown-in-grid", json.dumps(_deep_set(v, ("grid", "extra"), 1)).encode()),
        ("x-in-grid", json.dumps(_deep_set(v, ("grid", "x-extra"), 1)).encode()),
        ("version-secret", json.dumps(_with(v, version=ROOTCAP)).encode()),
        ("version-2", json.dumps(_with(v, version=2)).encode()),
        ("version-string", json.dumps(_with(v, version="1")).encode()),
        (
            "rootcap-trailing-space",
            json.dumps(_deep_set(v, ("aliases", "docs"), ROOTCAP + " ")).encode(),
        ),
        ("rootcap-newline", json.dumps(_deep_set(v, ("aliases", "docs"), ROOTCAP + "\n")).encode()),
        (
            "rootcap-as-alias-name",
            json.dumps(_deep_set(v, ("aliases",), {ROOTCAP: ROOTCAP})).encode(),
        ),
        (
            "furl-bad-hint",
            json.dumps(
                _deep_set(
                    v,
                    ("grid", "introducers", "default", "furl"),
                    INTRO_FURL.replace("tor:", "tor: "),
                )
            ).encode(),
        ),
        (
            "furl-no-swissnum",
            json.dumps(
                _deep_set(
                    v, ("grid", "introducers", "default", "furl"), f"pb://{INTRO_TUBID}@tor:x"
                )
            ).encode(),
        ),
        (
            "server-furl-space",
            json.dumps(
                _deep_set(
                    v,
                    ("grid", "servers", "v0-" + "k" * 52, "ann", "anonymous-storage-FURL"),
                    SERVER_FURL + " ",
                )
            ).encode(),
        ),
        (
            "nurl-not-pb",
            json.dumps(
                _deep_set(
                    v,
                    ("grid", "servers", "v0-" + "k" * 52, "ann", "anonymous-storage-NURLs"),
                    [NURL.replace("pb+tor://", "pbx://")],
                )
            ).encode(),
        ),
        (
            "client-auth-lowercase",
            json.dumps(
                _deep_set(v, ("tor", "client_auth", 0, "private_key"), CLIENT_AUTH_KEY.lower())
            ).encode(),
        ),
        (
            "client-auth-extra",
            json.dumps(_deep_set(v, ("tor", "client_auth", 0, "extra"), CLIENT_AUTH_KEY)).encode(),
        ),
        ("alias-undefined", json.dumps(_deep_set(v, ("backups", 0, "alias"), "nope")).encode()),
        ("shares-order", json.dumps(_deep_set(v, ("grid", "shares", "happy"), 1)).encode()),
        ("shares-float", json.dumps(_deep_set(v, ("grid", "shares", "needed"), 2.5)).encode()),
        (
            "no-grid-nodes",
            json.dumps(_deep_set(manifest_small(), ("grid", "introducers"), {})).encode(),
        ),
        (
            "many-invalid-backups",
            json.dumps(
                _with(v, backups=[{"alias": 1, "path": None, "local": "x"}] * 10_000)
            ).encode(),
        ),
        (
            "many-aliases",
            json.dumps(_with(v, aliases={f"a{i}": ROOTCAP for i in range(15_000)})).encode(),
        ),
    ]
    return out


def wrong_type_plaintexts(data: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Every field of a valid manifest replaced by each wrong type, and removed."""
    out = []
    for path in _paths(data):
        name = ".".join(str(p) for p in path)
        out.append((f"del:{name}", json.dumps(_deep_set(data, path, _DELETE)).encode()))
        for value in WRONG_TYPES:
            out.append(
                (f"{name}={json.dumps(value)}", json.dumps(_deep_set(data, path, value)).encode())
            )
    return out


def _padded_plaintext(base: dict[str, Any], size: int) -> bytes:
    """Canonical JSON of exactly ``size`` bytes (an x-pad extension field)."""
    text = canonical({**base, "x-pad": ""})
    return canonical({**base, "x-pad": "p" * (size - len(text))})


_HOSTILE_VALUES: tuple[Any, ...] = (
    *WRONG_TYPES,
    257,
    2**64,
    -0.0,
    1e300,
    " ",
    "\u0000",
    "a\nb",
    "é",
    "\u2028",
    "x" * 300,
    "/",
    "..",
    "../x",
    [[]],
    ROOTCAP,
    ROOTCAP + " ",
    INTRO_FURL,
    "pb://",
    "URI:DIR2:",
)
_UNKNOWN_KEYS = ("foo", "x-foo", "Version", "", "a\nb", "x" * 100, ROOTCAP, "__proto__", "x-")


def _mutate_json(rng: random.Random, data: dict[str, Any]) -> bytes:
    """1-3 structural edits of a manifest, serialized in a random style, perhaps text edits."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = list(_paths(data))
        op = rng.randrange(8)
        path = rng.choice(paths) if paths else ()
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        if not path:
            break
        key = path[-1]
        if op == 0:
            node[key] = copy.deepcopy(rng.choice(_HOSTILE_VALUES))
        elif op == 1:
            del node[key]
        elif op == 2:
            target = node if isinstance(node, dict) else data
            target[rng.choice(_UNKNOWN_KEYS)] = copy.deepcopy(rng.choice(_HOSTILE_VALUES))
        elif op == 3:
            node[key] = [node[key]]
        elif op == 4:
            node[key] = json.dumps(node[key])
        elif op == 5 and isinstance(node, dict):
            node[rng.choice([key.upper(), key + "s", "", " " + key])] = node.pop(key)
        elif op == 6 and isinstance(node[key], str):
            s = node[key]
            i = rng.randrange(len(s) + 1)
            node[key] = s[:i] + rng.choice([" ", "\n", "\x00", "é", "/", ":", "=", "\t"]) + s[i:]
        elif op == 7 and isinstance(node[key], int):
            node[key] = rng.choice([0, -1, 256, 257, 2**31, 10**20, True, 2.0])
    text = json.dumps(
        data,
        indent=rng.choice([None, None, 2]),
        sort_keys=rng.random() < 0.5,
        ensure_ascii=rng.random() < 0.5,
    )
    roll = rng.random()
    if roll < 0.05:
        text = text.replace("{", '{"version": 1, ', 1)  # duplicate key
    elif roll < 0.1:
        text = re.sub(r"\b\d+\b", "NaN", text, count=1)
    elif roll < 0.15:
        text = text.replace('"', '"\\ud800', 2)  # a lone surrogate in the first key or value
    elif roll < 0.2:
        text = re.sub(r"\b\d+\b", "1" * rng.choice([21, 5000]), text, count=1)
    out = text.encode()
    if rng.random() < 0.05:
        out = BOM + out
    if rng.random() < 0.05:
        i = rng.randrange(len(out) + 1)
        out = out[:i] + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00"]) + out[i:]
    return out
