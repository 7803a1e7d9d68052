"""The manifest's plaintext: JSON validated against manifest-v1.schema.json.

Everything here may see hostile input (a plaintext file given to ``htb seal``,
the plaintext of a sealed file someone else made, a hand-written 2014 manifest).
Nothing raises anything but :class:`ManifestInvalidError`, and no message
carries a value of the manifest: a message names the field and the problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import accumulate
from typing import Any, NoReturn

import jsonschema
import jsonschema.validators
from jsonschema.exceptions import ValidationError

from htb.errors import GridError, ManifestInvalidError

# MAX_INPUT (4 MiB): any manifest input, e.g. pretty JSON given to loads;
# MAX_PLAINTEXT (1 MiB): the canonical JSON of a manifest, what gets sealed.
from htb.manifest.envelope import MAX_INPUT, MAX_PLAINTEXT

MANIFEST_VERSION = 1
SCHEMA_FILE = "manifest-v1.schema.json"

MAX_DEPTH = 64  # nested arrays and objects, the top-level object included
MAX_INT_DIGITS = 20  # integer literals; Python's own limit (4300) raises ValueError
_INT_LIMIT = 10**MAX_INT_DIGITS
_MAX_REPORTED_ERRORS = 100  # schema errors looked at; jsonschema is slow on thousands

_BOM = "\ufeff"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: no newline before the end
# Key material is long runs of base32/base64 characters (a writekey: 26, a tub id or
# swissnum: 32, an onion client key: 52); names are words. A Tahoe server id
# (v0- and an Ed25519 public key) is public.
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9]{21}")
_SERVER_ID = re.compile(r"v0-[a-z2-7]{52}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string, escapes included (the unrolled form of "(?:[^"\\]|\\.)*"), or an
# unterminated one up to the end of the text: once started, it always matches, so
# re.sub never rescans the text from a later quote (linear time on '"\\"\\"\\"...').
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}
_HINT_SPLIT = re.compile(r"^pb://[^@/]+@([^/]+)/")
# A NURL's location: host:port (Tahoe makes pb+tor:// ones from tor: hints).
_NURL_SPLIT = re.compile(r"^pb(\+tor)?://[^@/]+@([^/#?]+)/")
UNPARSABLE_FURL = "(a FURL that cannot be parsed)"
UNPARSABLE_NURL = "(a NURL that cannot be parsed)"
UNSHOWABLE_HINT = "(a connection hint that cannot be shown)"

_ROOTCAP = "^URI:DIR2(-RO)?:[a-z2-7]+:[a-z2-7]+$"
_FURL = "^pb://[A-Za-z2-7]+@[!-.0-~]+/[!-~]+$"
_NURL = (
    "^pb(\\+tor)?://[A-Za-z0-9_-]{1,100}@([A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:.]{2,45}\\]):"
    "[0-9]{1,5}/[A-Za-z0-9_-]{1,100}#v=1$"
)
_BASE32_BYTES = (
    "^(?:[a-z2-7]{8})*(?:[a-z2-7][aeimquy4]|[a-z2-7]{3}[aq]|[a-z2-7]{4}[acegikmoqsuwy246]|"
    "[a-z2-7]{6}[aiqy])?$"
)
# 32 bytes in Tahoe's base32 (allmydata.util.base32.b2a): 51 characters and a last
# one that carries a single bit.
_CONVERGENCE = "^[a-z2-7]{51}[aq]$"
# What each pattern of the schema means, said without the value that failed it.
_PATTERN_PROBLEMS = {
    _ROOTCAP: "not a directory capability (URI:DIR2: or URI:DIR2-RO:)",
    _FURL: "not a FURL (pb://<tub id>@<connection hints>/<swissnum>)",
    "^pb://[A-Za-z2-7]{32}@": "not a storage FURL (its tub id must be 32 characters of a-z 2-7)",
    _NURL: "not a NURL (pb:// or pb+tor://<key hash>@<host>:<port>/<swissnum>#v=1)",
    _BASE32_BYTES: "must be whole bytes in Tahoe's base32 (a-z, 2-7)",
    "^[a-z2-7]{102}[aiqy]$": "not an Ed25519 signature in Tahoe's base32 (103 characters)",
    "^[ -~]{1,1000}$": "must be 1 to 1000 printable ASCII characters",
    "^[^\\x00-\\x1f\\x7f]*$": "must not contain control characters",
    "^(?!/)(?!.*(^|/)\\.\\.?(/|$))[^\\x00-\\x1f]{1,1000}$": (
        "must be a relative path of 1 to 1000 characters, without '.' or '..' parts "
        "or control characters"
    ),
    "^(?!.*/\\.\\.?(/|$))/[^\\x00-\\x1f\\x7f]{0,4095}$": (
        "must be an absolute path (starting with /) of at most 4096 characters, without '.' "
        "or '..' parts or control characters"
    ),
    "^[a-z2-7]{56}(\\.onion)?$": "not a v3 onion address (56 base32 characters)",
    "^[A-Z2-7]{52}$": "not an onion client-authorization key (52 base32 characters)",
    "^[A-Za-z0-9_.-]{1,64}$": "must be 1 to 64 characters of A-Z a-z 0-9 _ . -",
    "^[A-Za-z0-9_.:-]+$": "must consist of A-Z a-z 0-9 _ . : -",
    "^pub-v0-[a-z2-7]{52}$": "not a Tahoe public key (pub-v0- and 52 base32 characters)",
    _CONVERGENCE: "not a Tahoe convergence secret (52 lower-case base32 characters, as a "
    "node's private/convergence holds it)",
}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
    "boolean": "true or false",
    "null": "null",
}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("htb.manifest").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _ecma(pattern: str) -> str:
    """``pattern`` with ECMA 262's '$' (JSON Schema's regex dialect): the end of the string.

    Python's '$' also matches before a final newline, so ``re.search("^pb://...$",
    furl + "\\n")`` succeeds: a rootcap, FURL or alias name with a newline at its
    end would pass. ECMA's '$' (without the m flag) is Python's '\\Z'.
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = "\\Z"
        out.append(c)
        i += 1
    return "".join(out)


@cache
def _regexes(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(pattern), re.compile(_ecma(pattern))


def _pattern_keyword(validator: Any, pattern: str, instance: Any, _: Any) -> Iterator[Any]:
    """A string must match both readings of '$': nothing jsonschema refused passes now."""
    if validator.is_type(instance, "string") and not all(
        regex.search(instance) for regex in _regexes(pattern)
    ):
        yield ValidationError("does not match the pattern")  # never shown: see _problem


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _pattern_keyword}
)


@cache
def _validator(pointer: str = "") -> Any:
    """A validator for the whole schema, or for the part at ``pointer`` (``/$defs/furl``)."""
    root = schema()
    part: dict[str, Any] = root
    for token in pointer.split("/")[1:]:
        part = part[token]
    # $ref in a part points into the root's $defs: keep them reachable.
    return _Validator({"$defs": root["$defs"], **part})


def safe_name(name: object) -> str | None:
    """``name`` if it can be shown in a message, else None.

    Shown: 1 to 64 of A-Z a-z 0-9 _ . - (never a capability or a FURL), without a
    run of more than 20 letters and digits (which could be key material pasted
    as a name), or a Tahoe server id.
    """
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        return None
    if _KEY_MATERIAL.search(name) and not _SERVER_ID.fullmatch(name):
        return None
    return name


def _field(path: Iterable[Any]) -> str:
    """A field path for a message: keys that cannot be shown become ``?``."""
    parts = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(f".{safe_name(p) or '?'}")
    return "".join(parts).lstrip(".") or "(top level)"


@dataclass(frozen=True)
class BackupEntry:
    alias: str
    path: str
    local: str
    excludes: tuple[str, ...]

    @property
    def target(self) -> str:
        """The Tahoe path of this entry, e.g. ``docs:laptop/documents``."""
        return f"{self.alias}:{self.path}"


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``data`` is the exact JSON object, extension fields included."""

    data: dict[str, Any]

    @property
    def shares(self) -> tuple[int, int, int]:
        s = self.data["grid"]["shares"]
        return s["needed"], s["happy"], s["total"]

    @property
    def introducers(self) -> dict[str, str]:
        """petname -> FURL."""
        return {k: v["furl"] for k, v in self.data["grid"].get("introducers", {}).items()}

    @property
    def servers(self) -> dict[str, dict[str, Any]]:
        """server id -> {"ann": {...}}, the shape of servers.yaml's ``storage``."""
        servers: dict[str, dict[str, Any]] = self.data["grid"].get("servers", {})
        return servers

    @property
    def grid_managers(self) -> dict[str, str]:
        """name -> Grid Manager public key: the client uploads only to servers they certify."""
        managers: dict[str, str] = self.data["grid"].get("grid_managers", {})
        return managers

    @property
    def aliases(self) -> dict[str, str]:
        aliases: dict[str, str] = self.data["aliases"]
        return aliases

    @property
    def kind(self) -> str:
        """``invitation`` (an operator's: the grid, no capability) or ``full`` (the default)."""
        kind: str = self.data.get("kind", "full")
        return kind

    @property
    def is_invitation(self) -> bool:
        return self.kind == "invitation"

    @property
    def convergence(self) -> str | None:
        """The Tahoe convergence secret every laptop's node uses, if the manifest has one."""
        convergence: str | None = self.data.get("convergence")
        return convergence

    @property
    def backups(self) -> list[BackupEntry]:
        return [
            BackupEntry(b["alias"], b["path"], b["local"], tuple(b.get("excludes", ())))
            for b in self.data["backups"]
        ]

    @property
    def client_auth(self) -> list[dict[str, str]]:
        auth: list[dict[str, str]] = self.data.get("tor", {}).get("client_auth", [])
        return auth

    def furls(self) -> list[str]:
        """Every FURL the client will connect to (introducers and static servers)."""
        furls = list(self.introducers.values())
        furls += [s["ann"]["anonymous-storage-FURL"] for s in self.servers.values()]
        return furls

    def nurls(self) -> list[str]:
        """Every NURL of the static servers (Tahoe's HTTPS storage protocol)."""
        return [
            n for s in self.servers.values() for n in s["ann"].get("anonymous-storage-NURLs", [])
        ]

    def non_onion_hints(self) -> list[str]:
        """Locations that are not Tor onions, of FURLs and NURLs; an onion grid has none.

        Safe to show: only the part between '@' and '/' of a FURL (never its tub
        id or swissnum), a NURL's host:port as a hint (``tcp:host:port``, or
        ``tor:`` for pb+tor://), and a fixed placeholder for a FURL or NURL that
        cannot be parsed or a hint that is not printable.
        """
        bad = []
        for furl in self.furls():
            match = _HINT_SPLIT.match(furl)
            if not match:
                bad.append(UNPARSABLE_FURL)
                continue
            for hint in match.group(1).split(","):
                host = hint.removeprefix("tor:").rsplit(":", 1)[0]
                if not (hint.startswith("tor:") and host.endswith(".onion")):
                    bad.append(_showable(hint))
        for nurl in self.nurls():
            match = _NURL_SPLIT.match(nurl)
            if not match:
                bad.append(UNPARSABLE_NURL)
            elif not match.group(2).rsplit(":", 1)[0].endswith(".onion"):
                bad.append(_showable(("tor:" if match.group(1) else "tcp:") + match.group(2)))
        return bad

    def require_onion_only(self) -> None:
        """Refuse a grid reached otherwise than through onions (FURL hints and NURLs).

        The one rule for ``htb start``/``join``, the app and the ``htb_manifest``
        module (which seals nothing ``htb start`` would refuse).
        """
        hints = self.non_onion_hints()
        if hints:
            # Shown only if it is a bare hint: anything with '@' or '/' may hold a FURL's
            # swissnum or tub id.
            shown = "" if "@" in hints[0] or "/" in hints[0] else f" ({hints[0]})"
            raise GridError(
                f"manifest grid has a non-onion connection hint{shown}: htb joins only "
                "onion grids, where no server's or client's address is revealed"
            )

    def secrets(self) -> list[str]:
        """The values that grant access (rootcaps, FURLs, onion keys, the convergence secret).

        Never log these.
        """
        found = list(self.aliases.values()) + self.furls()
        for server in self.servers.values():
            found += server["ann"].get("anonymous-storage-NURLs", [])
        found += [a["private_key"] for a in self.client_auth]
        if self.convergence is not None:
            found.append(self.convergence)
        return found

    def to_json(self) -> bytes:
        return canonical_json(self.data)


def secret_values(data: Any) -> set[str]:
    """The strings of ``data`` (a manifest's fields, valid or not) that may grant access.

    For masking output (Ansible's ``no_log``): rootcaps, FURLs, NURLs, keys, the
    convergence secret - any string holding 'pb://', 'URI:' or a run of key material.
    Numbers, names and words ('invitation', '256') are not in it, so that masking
    them does not garble messages; no message of htb shows a value anyway.
    """
    found: set[str] = set()
    stack, seen = [data], 0
    while stack and seen <= MAX_PLAINTEXT:  # more values than that: refused as too large
        value, seen = stack.pop(), seen + 1
        if isinstance(value, str):
            if "pb://" in value or "URI:" in value or _KEY_MATERIAL.search(value):
                found.add(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return found


def _showable(hint: str) -> str:
    shown = hint.isprintable() and hint.isascii() and len(hint) <= 300
    return hint if shown else UNSHOWABLE_HINT


def canonical_json(data: dict[str, Any]) -> bytes:
    """One byte string per content: sorted keys, no spaces, raw UTF-8, no trailing newline.

    Never raises on the ``data`` of a :class:`Manifest` (:func:`validate` checked it).
    """
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


# --- reading JSON text -------------------------------------------------------------
def _refuse(what: str, problem: str) -> NoReturn:
    raise ManifestInvalidError(f"{what} is not valid JSON: {problem}")


def _limit(what: str, problem: str) -> NoReturn:
    """Valid JSON that htb does not read."""
    raise ManifestInvalidError(f"{what} JSON refused: {problem}")


def _check_depth(text: str, what: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, without recursion, before json.loads sees it."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return
    # Two passes of C iterators: no list of a few million depths.
    if min(accumulate(map(_BRACKET_DELTA.__getitem__, brackets))) < 0:
        _refuse(what, "a ']' or '}' closes nothing")
    if max(accumulate(map(_BRACKET_DELTA.__getitem__, brackets))) > MAX_DEPTH:
        _limit(what, f"arrays and objects nested more than {MAX_DEPTH} levels deep")


def _int(what: str) -> Any:
    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            _limit(what, f"an integer of more than {MAX_INT_DIGITS} digits")
        return int(literal)

    return parse_int


def _float(what: str) -> Any:
    def parse_float(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            _limit(what, "a number too large for a 64-bit float (it would become Infinity)")
        return value

    return parse_float


def _constant(what: str) -> Any:
    def parse_constant(_: str) -> NoReturn:
        _refuse(what, "NaN or Infinity (not JSON)")

    return parse_constant


def _object(what: str) -> Any:
    def object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    name = safe_name(key)
                    _limit(what, f"the key '{name}' twice in one object" if name else "a key twice")
                seen.add(key)
        return obj

    return object_pairs


def parse_json(text: bytes | str, what: str = "manifest") -> dict[str, Any]:
    """Parse manifest JSON by the reader rules; the result is a JSON object.

    Strict UTF-8 without a BOM; at most MAX_DEPTH levels; integer literals of at
    most MAX_INT_DIGITS digits; no duplicate keys; no NaN/Infinity. Lone
    surrogates are refused by :func:`validate` (they can only come from escapes).
    """
    if len(text) > MAX_INPUT:
        raise ManifestInvalidError(f"{what} is too large to be a manifest (over 4 MiB)")
    if isinstance(text, bytes | bytearray):
        if text.startswith(_BOM.encode()):
            _limit(what, "it starts with a byte order mark (BOM)")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            _refuse(what, f"not UTF-8 text (at byte {exc.start})")
    if text.startswith(_BOM):
        _limit(what, "it starts with a byte order mark (BOM)")
    _check_depth(text, what)
    try:
        data = json.loads(
            text,
            parse_int=_int(what),
            parse_float=_float(what),
            parse_constant=_constant(what),
            object_pairs_hook=_object(what),
        )
    except json.JSONDecodeError as exc:
        _refuse(what, f"{exc.msg} (line {exc.lineno}, column {exc.colno})")
    except RecursionError:  # not reachable after _check_depth; never a traceback anyway
        _limit(what, f"arrays and objects nested more than {MAX_DEPTH} levels deep")
    if not isinstance(data, dict):
        raise ManifestInvalidError(f"{what} is not a JSON object (its top level must be {{...}})")
    return data


def loads(text: bytes | str, *, template: bool = False) -> Manifest:
    """Parse and validate plaintext manifest JSON (pretty-printed, any key order)."""
    data = parse_json(text)
    # parse_json's rules make writing it safe: refuse too much before walking it.
    try:
        too_large = len(canonical_json(data)) > MAX_PLAINTEXT
    except UnicodeEncodeError:  # a lone surrogate: validate says where
        too_large = False
    if too_large:
        _too_large()
    return validate(data, template=template)


# --- validating a JSON value ---------------------------------------------------------
def _at(label: str, sub: str) -> str:
    """``manifest field`` + ``a.b``, or a 2014 field label + a path below it."""
    if label == "manifest field":
        return f"{label} {sub}"
    if sub == "(top level)":
        return label
    return label + ("" if sub.startswith("[") else ".") + sub


def _plain_json(data: Any) -> str:
    """The fast check for the common case (exact JSON types); lone surrogates aside.

    "ok": ``data`` is a tree of dict (str keys), list, str, bool, None, int of at
    most MAX_INT_DIGITS digits and finite float, at most MAX_DEPTH deep. "large":
    more than MAX_PLAINTEXT values (found before walking them all, even in a
    structure that shares a list 2**64 times). "other": :func:`_check_json_value`
    says what is wrong and where (or accepts subclasses, e.g. Ansible's strings).
    """
    stack = [(data, 1)]
    nodes = 1
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "other"
        if type(value) is dict:
            if not all(type(key) is str for key in value):
                return "other"
            items: Iterable[Any] = value.values()
        elif type(value) is list:
            items = value
        else:
            return "other"
        nodes += len(value)
        if nodes > MAX_PLAINTEXT:  # each value takes at least one byte of JSON
            return "large"
        for item in items:
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is int:
                if -_INT_LIMIT < item < _INT_LIMIT:
                    continue
                return "other"
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
                continue
            if kind is float and math.isfinite(item):
                continue
            return "other"
    return "ok"


def _check_json_value(data: Any, label: str) -> None:
    """Refuse what JSON cannot hold or htb cannot write back and read again.

    Without recursion: any depth and even a cyclic structure give an error, never
    a RecursionError. After this, canonical_json(data) cannot raise and
    parse_json reads its output back to an equal value. Slow (it keeps every
    value's path for the message): :func:`validate` calls it only when
    :func:`_plain_json` or encoding found a problem.
    """
    # (value, depth, parent entry, key): the path is rebuilt only for a message.
    stack: list[tuple[Any, int, Any, Any]] = [(data, 1, None, None)]

    def fail(entry: tuple[Any, int, Any, Any], problem: str) -> NoReturn:
        path = []
        while entry[2] is not None:
            path.append(entry[3])
            entry = entry[2]
        raise ManifestInvalidError(f"{_at(label, _field(reversed(path)))}: {problem}")

    nodes = 0
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        nodes += 1
        if nodes > MAX_PLAINTEXT:  # each value takes at least one byte of JSON
            _too_large()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                fail(entry, "a string holds a lone surrogate (\\ud800-\\udfff)")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if abs(value) >= _INT_LIMIT:
                fail(entry, f"an integer of more than {MAX_INT_DIGITS} digits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                fail(entry, "a number that is NaN or infinite (not JSON)")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                fail(entry, f"arrays and objects nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        fail(entry, "a key is not a string")
                    if _SURROGATE.search(key):
                        fail(entry, "a key holds a lone surrogate (\\ud800-\\udfff)")
                    stack.append((item, depth + 1, entry, key))
            else:
                stack.extend((item, depth + 1, entry, i) for i, item in enumerate(value))
        else:
            fail(entry, f"not a JSON value (a Python {type(value).__name__})")


def _problem(err: Any) -> str:
    """What is wrong, from the keyword, the schema and the field names only.

    Never ``err.message``: jsonschema puts the offending value in it.
    """
    keyword, expected = err.validator, err.validator_value
    in_key = "propertyNames" in err.schema_path
    text: str
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        text = "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in types)
    elif keyword == "pattern":
        text = _PATTERN_PROBLEMS.get(expected, "does not match the required form")
    elif keyword == "minLength":
        text = f"must be at least {expected} character{'s' if expected != 1 else ''} long"
    elif keyword == "maxLength":
        text = f"must be at most {expected} characters long"
    elif keyword == "maxItems":
        text = f"must have at most {expected} item{'s' if expected != 1 else ''}"
    elif keyword == "maxProperties":
        text = f"must have at most {expected} field{'s' if expected != 1 else ''}"
    elif keyword == "minimum":
        text = f"must be at least {expected}"
    elif keyword == "maximum":
        text = f"must be at most {expected}"
    elif keyword == "const":
        text = f"must be {json.dumps(expected)}"
    elif keyword == "enum":
        text = "must be one of " + ", ".join(json.dumps(e) for e in expected)
    elif keyword == "required" and isinstance(err.instance, dict):
        missing = [p for p in expected if p not in err.instance]
        text = f"missing required field '{missing[0]}'" if missing else "missing a required field"
    elif keyword == "additionalProperties" and isinstance(err.instance, dict):
        known = set(err.schema.get("properties", {}))
        patterns = list(err.schema.get("patternProperties", {}))
        extra = sorted(
            k for k in err.instance if k not in known and not any(re.search(p, k) for p in patterns)
        )
        names = [n for n in map(safe_name, extra) if n]
        text = f"unexpected field '{names[0]}'" if names else "an unexpected field"
        if "^x-" in patterns:
            text += " (extension fields start with x-)"
    else:
        text = f"does not follow the schema ({keyword})"
    return f"a key {text}" if in_key else text


def _schema_error(errors: Iterable[Any]) -> tuple[str, str] | None:
    """(field path, problem) of the first error by field path, or None if there is none.

    Looks at no more than _MAX_REPORTED_ERRORS errors: jsonschema takes ~30 us each.
    """
    found = []
    for err in errors:
        found.append(err)
        if len(found) >= _MAX_REPORTED_ERRORS:
            break
    if not found:
        return None

    def order(err: Any) -> tuple[list[tuple[int, Any]], str]:
        path = [(0, p) if isinstance(p, int) else (1, str(p)) for p in err.absolute_path]
        return path, str(err.validator)

    first = min(found, key=order)
    if len(found) >= _MAX_REPORTED_ERRORS:
        more = f" (and at least {_MAX_REPORTED_ERRORS - 1} more problems)"
    elif len(found) > 1:
        more = f" (and {len(found) - 1} more problem(s))"
    else:
        more = ""
    return _field(first.absolute_path), _problem(first) + more


def check_part(value: Any, pointer: str, label: str) -> None:
    """Validate ``value`` against the schema part at ``pointer``; errors name ``label``.

    For the 2014 reader: ``check_part(furl, "/$defs/furl", "2014 manifest field
    fields.introducerNodes[0]")``. Raises only ManifestInvalidError.
    """
    _check_json_value(value, label)
    error = _schema_error(_validator(pointer).iter_errors(value))
    if error:
        raise ManifestInvalidError(f"{_at(label, error[0])}: {error[1]}")


def _too_large() -> NoReturn:
    raise ManifestInvalidError(
        f"manifest is too large: over 1 MiB ({MAX_PLAINTEXT} bytes) as canonical JSON"
    )


def validate(data: Any, *, template: bool = False) -> Manifest:
    """Validate a decoded JSON value; the error names the first offending field.

    A ``template`` (input of ``htb new-manifest``) may leave backup aliases undefined;
    an invitation (``kind: invitation``) leaves them all undefined: its ``aliases``
    must be ``{}`` and it has no ``convergence``.
    Raises only ManifestInvalidError, whatever ``data`` is; what it accepts,
    :func:`canonical_json` writes and :func:`loads` reads back.
    """
    if not isinstance(data, dict):
        if not isinstance(data, list | str | int | float | None):
            _check_json_value(data, "manifest field")  # "not a JSON value (a Python ...)"
        raise ManifestInvalidError("manifest is not a JSON object (its top level must be {...})")
    plain = _plain_json(data)
    if plain == "large":
        _too_large()
    if plain == "other":
        _check_json_value(data, "manifest field")
    try:
        size = len(canonical_json(data))
    except (ValueError, TypeError, RecursionError):  # a lone surrogate: say where
        _check_json_value(data, "manifest field")
        raise ManifestInvalidError("manifest is not a JSON value htb can write") from None
    version = data.get("version")
    if version is not None and (version is True or version != MANIFEST_VERSION):
        if isinstance(version, int) and not isinstance(version, bool):
            problem = f"version {version} is not supported"
        else:
            problem = f"must be the integer {MANIFEST_VERSION}"
        raise ManifestInvalidError(
            f"manifest field version: {problem} (this htb reads version {MANIFEST_VERSION})"
        )
    if size > MAX_PLAINTEXT:
        _too_large()
    error = _schema_error(_validator().iter_errors(data))
    if error:
        raise ManifestInvalidError(f"manifest field {error[0]}: {error[1]}")
    manifest = Manifest(data)
    _check_semantics(manifest, template)
    return manifest


def _check_semantics(m: Manifest, template: bool) -> None:
    needed, happy, total = m.shares
    # JSON Schema's "integer" takes 2.0 too; tahoe.cfg would get "2.0".
    if not all(type(n) is int for n in (needed, happy, total)):
        raise ManifestInvalidError("manifest field grid.shares: must be whole numbers")
    if not needed <= happy <= total:
        raise ManifestInvalidError(
            "manifest field grid.shares: needed <= happy <= total does not hold"
        )
    if not m.introducers and not m.servers:
        raise ManifestInvalidError(
            "manifest field grid: needs at least one introducer or one static server"
        )
    if m.is_invitation:
        # An operator's: nothing in it may open anything on the grid.
        if m.aliases:
            raise ManifestInvalidError(
                "manifest field aliases: an invitation holds no capability (aliases must be {})"
            )
        if m.convergence is not None:
            raise ManifestInvalidError(
                "manifest field convergence: an invitation carries no convergence secret"
            )
        return
    for i, entry in enumerate(m.backups):
        if entry.alias not in m.aliases and not template:
            name = safe_name(entry.alias)
            shown = f"'{name}'" if name else "its alias"
            raise ManifestInvalidError(
                f"manifest field backups[{i}].alias: {shown} is not defined in aliases"
            )
