"""Hostile inputs for htb's whole reading path, and the judge of what htb does with them.

One implementation, shared by ``tests/unit/test_fuzz.py`` (a fast slice in CI) and
``bench/fuzz.py`` (100 000 inputs and more). Issue 13: hostile input never crashes htb
and never leaks through it.

* :class:`Corpus` builds, from a seed, the originals (manifests sealed binary and
  armored with the cheap test KDF, 2014 manifests sealed with ``sha256(passphrase)``)
  and every input: a fixed list (truncations at every length, header field edits,
  armor edits, hostile plaintexts sealed properly, 2014 JSON structures, size limits)
  then random mutations. ``corpus.case(i)`` is random access and reproducible: the
  random case ``i`` comes from ``random.Random(f"{seed}:{i}")`` alone.
* The expectation of each input comes from a reference reading of the rules in
  notes/issue13-design.md written here independently of the product (binary check
  order, armor lines, JSON rules, the schema file for content): ``open`` (exit 0:
  e.g. text around the armor block, a re-wrap, CRLF, quoting), ``refuse`` (with the
  documented exit codes) or ``either`` where the rules leave the choice open.
* :class:`Runner` drives ``htb.cli.main(["unseal", PATH])`` / ``htb.cli.main(["seal",
  PLAIN, ...])`` in-process with ``$HTB_PASSPHRASE`` set, stdout/stderr captured as
  bytes. Two guards: Argon2id calls outside the design's cost bounds are stopped
  (reported as a failure, never run); in-bound but costly calls (a hostile header may
  ask for 512 MiB) run with the cheap cost instead: the header no longer matches its
  check value either way, so the outcome (wrong passphrase, exit 3) is the same. The
  2014 scrypt fallback (~11 s) is likewise replaced by a cheap key that fails the same
  way, unless ``real_scrypt``.
* :func:`judge` lists the problems of one outcome: uncaught exception, a mutated input
  accepted, a valid one refused, a wrong exit code, not exactly one ``htb: error:``
  line, a secret in the output, a key derived for an input the header checks refuse.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import hashlib
import inspect
import io
import itertools
import json
import os
import random
import re
import struct
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import nacl.exceptions
import nacl.pwhash
import nacl.secret

# --- the limits and format, as the design states them ------------------------------
MAX_INPUT = 4 * 1024 * 1024
MAX_PLAINTEXT = 1024 * 1024
MAGIC = b"HTBM"
PREFIX_LEN = 78
TAG_LEN = 16
HEADER = struct.Struct(">4sBBIQ16s24sI")
ARMOR_BEGIN = b"-----BEGIN HTB SEALED MANIFEST-----"
ARMOR_END = b"-----END HTB SEALED MANIFEST-----"
B64_LINE = re.compile(rb"[A-Za-z0-9+/=]*")
OPS_MAX, MEM_MIN, MEM_MAX, PRODUCT_MAX = 16, 8192, 512 * 1024**2, 2 * 1024**3
TEST_OPS, TEST_MEM = 1, 8192  # htb.manifest.TEST_KDF
BOM = b"\xef\xbb\xbf"

SEALED = (3,)  # exit code of sealed-file problems
CONTENT = (4,)  # exit code of invalid manifest content

# --- recognizable secrets: none may ever appear in htb's output --------------------
PASSPHRASE = "quokka lantern mosaic leakpassword fidelity outsmart gurgle"
WRONG_PASSPHRASE = "leakwrongpass mosaic unpaved quokka tundra"
NEW_PASSPHRASE = "leaknewpass velvet sprocket marmot tundra quartz nimbus"
WEAK_PASSPHRASE = "leakweakpass1"
WRITEKEY = "leakwritekey" + "q" * 14  # 26 base32 characters: 16 bytes
FINGERPRINT = "leakfingerprint" + "r" * 37  # 52 base32 characters: 32 bytes
ROOTCAP = f"URI:DIR2:{WRITEKEY}:{FINGERPRINT}"
SHARED_CAP = "URI:DIR2-RO:leakreadonlyb" + "s" * 13 + ":leaksharedfp" + "t" * 40
ONION = "c" * 56 + ".onion"
INTRO_TUBID = "leaktubidintro" + "a" * 18
INTRO_SWISS = "leakswissintro" + "b" * 18
INTRO_FURL = f"pb://{INTRO_TUBID}@tor:{ONION}:3457/{INTRO_SWISS}"
SERVER_TUBID = "leaktubidserver" + "d" * 17
SERVER_SWISS = "leakswissserver" + "e" * 17
SERVER_FURL = f"pb://{SERVER_TUBID}@tor:{ONION}:3458/{SERVER_SWISS}"
NURL_HASH = "leaknurlhash" + "f" * 31
NURL_SWISS = "leaknurlswiss" + "g" * 19
# Tahoe 1.20's form of an onion NURL (schema: $defs/nurl).
NURL = f"pb+tor://{NURL_HASH}@{ONION}:3459/{NURL_SWISS}#v=1"
CLIENT_AUTH_KEY = "LEAKCLIENTAUTHKEY" + "Q" * 35  # 52 characters [A-Z2-7]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def read_only_cap(writecap: str) -> str:
    """Tahoe's DIR2-RO form: readkey = SHA256d(netstring(tag) + writekey)[:16]."""
    _, _, writekey, fingerprint = writecap.split(":")
    raw = base64.b32decode(writekey.upper() + "=" * (-len(writekey) % 8))
    tag = b"allmydata_mutable_writekey_to_readkey_v1"
    inner = hashlib.sha256(b"%d:%s," % (len(tag), tag) + raw).digest()
    readkey = hashlib.sha256(inner).digest()[:16]
    return f"URI:DIR2-RO:{_b32(readkey)}:{fingerprint}"


ROOTCAP_RO = read_only_cap(ROOTCAP)

#: Whole secrets, then the parts that identify them; searched case-insensitively.
SECRETS: tuple[str, ...] = (
    PASSPHRASE,
    WRONG_PASSPHRASE,
    NEW_PASSPHRASE,
    WEAK_PASSPHRASE,
    ROOTCAP,
    ROOTCAP_RO,
    SHARED_CAP,
    INTRO_FURL,
    SERVER_FURL,
    NURL,
    CLIENT_AUTH_KEY,
    WRITEKEY,
    FINGERPRINT,
    ROOTCAP_RO.split(":")[2],
    INTRO_TUBID,
    INTRO_SWISS,
    SERVER_TUBID,
    SERVER_SWISS,
    NURL_HASH,
    NURL_SWISS,
    "leakpassword",
    "leakwrongpass",
    "leaknewpass",
    "leakwritekey",
    "leakfingerprint",
    "leaktubid",
    "leakswiss",
    "leaknurl",
    "leakclientauth",
    "leakreadonly",
    "leakshared",
)


def leaks(text: bytes | str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The secrets (or recognizable parts of them) found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    low = text.lower()
    return [s for s in secrets if s.lower() in low]


def manifest_rich() -> dict[str, Any]:
    """A valid manifest holding every kind of secret."""
    return {
        "version": 1,
        "name": "alice\u2019s laptop",
        "description": "Tails Persistent, documents and photos",
        "grid": {
            "introducers": {"default": {"furl": INTRO_FURL}},
            "servers": {
                "v0-" + "k" * 52: {
                    "ann": {
                        "nickname": "storage1",
                        "anonymous-storage-FURL": SERVER_FURL,
                        "anonymous-storage-NURLs": [NURL],
                        # Whole bytes in Tahoe's base32 (52 characters end in a or q).
                        "permutation-seed-base32": "m" * 51 + "a",
                    }
                }
            },
            "shares": {"needed": 2, "happy": 3, "total": 3},
        },
        "aliases": {"docs": ROOTCAP, "shared": SHARED_CAP},
        "backups": [
            {
                "alias": "docs",
                "path": "laptop/docs",
                "local": "/home/amnesia/Persistent",
                "excludes": ["*.iso", "virtenv-*"],
            },
            {"alias": "shared", "path": "photos", "local": "/home/amnesia/Pictures"},
        ],
        "tor": {"client_auth": [{"onion": "c" * 56, "private_key": CLIENT_AUTH_KEY}]},
        "x-note": {"written-by": "test", "n": [1, 2, 3]},
    }


def manifest_small() -> dict[str, Any]:
    return {
        "version": 1,
        "grid": {
            "introducers": {"default": {"furl": INTRO_FURL}},
            "shares": {"needed": 1, "happy": 1, "total": 1},
        },
        "aliases": {"docs": ROOTCAP},
        "backups": [{"alias": "docs", "path": "d", "local": "/d"}],
    }


def manifest_servers_only() -> dict[str, Any]:
    data = manifest_rich()
    del data["grid"]["introducers"]
    data["name"] = "серверы ✓"
    return data


def legacy_manifest() -> dict[str, Any]:
    """A 2014 manifest, as the original tool's ``json.dumps`` wrote it."""
    return {
        "type": "TahoeLAFSBackupManifest",
        "version": 1,
        "name": "MyTailsBackupManifest",
        "description": "Tails Persistent volume backup",
        "fields": {
            "introducerNodes": [f"pb://{INTRO_TUBID}@{'b' * 16}.onion:5432/{INTRO_SWISS}"],
            "storageNodes": {"StorageNode1": f"pb://{SERVER_TUBID}@{'h' * 16}.onion:1234/xx"},
            "snapshotAliases": {"tails_backup": ROOTCAP},
            "tails_dotfiles": {".bashrc": "/home/amnesia/Persistent/.bashrc"},
            "tasks": [
                {
                    "backupAlias": "tails_backup",
                    "localDirectory": "/live/persistence/TailsData_unlocked/Persistent",
                    "remoteSnapshot": "Persistent",
                    "restoreVersion": "Latest",
                    "excludes": ["*.iso", "virtenv-*"],
                }
            ],
        },
    }


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- sealing, independently of the product ----------------------------------------
_REAL_KDF = nacl.pwhash.argon2id.kdf
_REAL_SCRYPT = hashlib.scrypt


def seal_bytes(
    plaintext: bytes, rng: random.Random, *, passphrase: str = PASSPHRASE, ops: int = 1
) -> bytes:
    """The binary envelope of docs/manifest-format.md, with rng-drawn salt and nonce."""
    salt, nonce = rng.randbytes(16), rng.randbytes(24)
    header = HEADER.pack(MAGIC, 1, 1, ops, TEST_MEM, salt, nonce, len(plaintext) + TAG_LEN)
    secret = unicodedata.normalize("NFC", passphrase).encode()
    master = _REAL_KDF(32, secret, salt, opslimit=ops, memlimit=TEST_MEM)
    check = hashlib.blake2b(header, digest_size=16, key=master, person=b"htb-check-v1").digest()
    key = hashlib.blake2b(header, digest_size=32, key=master, person=b"htb-box-v1").digest()
    return header + check + nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext


def armor_checksum(blob: bytes) -> bytes:
    return base64.b64encode(hashlib.blake2b(blob, digest_size=6).digest())


def armor(blob: bytes, width: int = 64) -> bytes:
    body = base64.b64encode(blob)
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return b"\n".join([ARMOR_BEGIN, b"", *lines, b"=" + armor_checksum(blob), ARMOR_END, b""])


def legacy_key(passphrase: str = PASSPHRASE) -> bytes:
    return hashlib.sha256(passphrase.encode()).digest()


def seal_legacy(plaintext: bytes, rng: random.Random, width: int = 0) -> bytes:
    """secretBox.py --encrypt: base64(nonce || SecretBox(sha256(passphrase))), a newline."""
    nonce = rng.randbytes(24)
    raw = nonce + nacl.secret.SecretBox(legacy_key()).encrypt(plaintext, nonce).ciphertext
    text = base64.b64encode(raw)
    if width:
        text = b"\n".join(text[i : i + width] for i in range(0, len(text), width))
    return text + b"\n"


# --- expectations ------------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    """What htb must do with an input: ``open`` (exit 0), ``refuse`` or ``either``."""

    outcome: str
    codes: tuple[int, ...] = ()
    reason: str = ""
    pre_kdf: bool = False  # refused before any key derivation (size, header, armor)
    check: str = ""  # name of an extra check of a successful output (CHECKS)

    def merge(self, other: Expect) -> Expect:
        if (self.outcome, self.codes) == (other.outcome, other.codes):
            return self
        codes = tuple(sorted(set(self.codes) | set(other.codes)))
        return Expect("either", codes, f"{self.reason}|{other.reason}")


OPEN = Expect("open", (), "valid")


def refuse(codes: tuple[int, ...], reason: str, *, pre_kdf: bool = False) -> Expect:
    return Expect("refuse", codes, reason, pre_kdf)


def cost_ok(ops: int, mem: int) -> bool:
    return (
        1 <= ops <= OPS_MAX
        and MEM_MIN <= mem <= MEM_MAX
        and mem % 1024 == 0
        and (ops * mem <= PRODUCT_MAX)
    )


def ref_binary(blob: bytes) -> tuple[str, bool]:
    """The design's check order up to the KDF: (reason, refused before the KDF)."""
    if len(blob) > MAX_INPUT:
        return "too-large", True
    if blob[:4] != MAGIC:
        return "not-sealed", True
    if len(blob) < 5:
        return "truncated", True
    if blob[4] != 1:
        return "version", True
    if len(blob) < PREFIX_LEN:
        return "truncated", True
    _, _, kdf_id, ops, mem, _, _, n = HEADER.unpack_from(blob)
    if kdf_id != 1:
        return "kdf-id", True
    if not cost_ok(ops, mem):
        return "kdf-cost", True
    if n < TAG_LEN:
        return "impossible-length", True
    if n > MAX_PLAINTEXT + TAG_LEN:
        return "too-large", True
    if len(blob) < PREFIX_LEN + n:
        return "truncated", True
    if len(blob) > PREFIX_LEN + n:
        return "trailing-bytes", True
    return "kdf", False


#: Soft check of the message for each reason (reported, never a test failure).
MESSAGE_WORDS = {
    "too-large": r"too large",
    "not-sealed": r"not (a )?sealed|not an? (htb )?manifest|HTBM",
    "truncated": r"truncated",
    "version": r"version",
    "kdf-id": r"key.derivation|KDF",
    "kdf-cost": r"cost|KDF",
    "impossible-length": r"impossible|damaged",
    "trailing-bytes": r"damaged|trailing|unexpected bytes",
    "wrong-passphrase": r"wrong passphrase",
    "tampered": r"altered|tampered|damaged",
}


@dataclass
class ArmorRules:
    cr_at_eof: bool = False  # also drop a CR ending the last line (no LF after it)
    strip_then_cr: bool = False  # drop trailing blanks first, then one CR


def _norm_line(line: bytes, has_lf: bool, rules: ArmorRules) -> bytes:
    if rules.strip_then_cr:
        line = line.rstrip(b" \t")
        if line.endswith(b"\r") and (has_lf or rules.cr_at_eof):
            line = line[:-1]
    elif line.endswith(b"\r") and (has_lf or rules.cr_at_eof):
        line = line[:-1]
    return line.lstrip(b" \t>").rstrip(b" \t")


def _begin_line(data: bytes, rules: ArmorRules) -> int | None:
    """Offset just after the first BEGIN line (after its LF), or None."""
    pos = 0
    while (k := data.find(ARMOR_BEGIN, pos)) >= 0:
        start = data.rfind(b"\n", 0, k) + 1
        end = data.find(b"\n", k)
        has_lf = end >= 0
        end = end if has_lf else len(data)
        if _norm_line(data[start:end], has_lf, rules) == ARMOR_BEGIN:
            return end + 1 if has_lf else len(data) + 1
        pos = k + 1
    return None


def ref_dearmor(data: bytes, rules: ArmorRules) -> tuple[str, bytes | None, bool]:
    """(reason, blob, canonical): reason "no-begin" if there is no block at all."""
    after = _begin_line(data, rules)
    if after is None:
        return "no-begin", None, True
    raw = data[after:].split(b"\n") if after <= len(data) else []
    body, end_found = [], False
    for i, line in enumerate(raw):
        norm = _norm_line(line, i < len(raw) - 1, rules)
        if norm == ARMOR_END:
            end_found = True
            break
        if norm:
            body.append(norm)
    if not end_found:
        return "armor-no-end", None, True
    if not body or not body[-1].startswith(b"="):
        return "armor-no-checksum", None, True
    checksum = body.pop()
    if not all(B64_LINE.fullmatch(line) for line in body):
        return "armor-bad-char", None, True
    joined = b"".join(body)
    try:
        blob = binascii.a2b_base64(joined, strict_mode=True)
    except binascii.Error:
        return "armor-bad-base64", None, True
    if checksum != b"=" + armor_checksum(blob):
        return "armor-checksum", None, True
    return "armor-ok", blob, base64.b64encode(blob) == joined


def ref_legacy_raw(data: bytes) -> bytes | None:
    """The 2014 form: base64 text (whitespace anywhere) of nonce || box, else None."""
    text = data.strip(b" \t\r\n")
    if not text or not re.fullmatch(rb"[A-Za-z0-9+/=\s]+", text):
        return None
    try:
        raw = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= 24 + TAG_LEN else None


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


# --- inputs ------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    kind: str  # binary, armored, legacy-2014, sealed-plaintext, seal-plaintext, size
    op: str  # the mutation, e.g. "bitflip@117"
    data: bytes
    expect: Expect
    verb: str = "unseal"  # or "seal" (data is the plaintext file), "seal-stdin"
    index: int = -1


KINDS = ("binary", "armored", "legacy-2014", "sealed-plaintext", "seal-plaintext", "size")

LEGACY_OPEN = Expect("open", (), "valid-2014")
LEGACY_BAD = refuse(CONTENT, "2014-field")
LEGACY_EITHER = Expect("either", CONTENT, "2014-undecided")


def _deep_set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


WRONG_TYPES: tuple[Any, ...] = (None, True, 0, -1, 1.5, "", "s", [], {}, [1], {"a": 1})


def legacy_structures() -> list[tuple[str, bytes, Expect]]:
    """2014 JSON structures (sealed properly with the cheap 2014 key): name, JSON, expect."""
    base = legacy_manifest()
    f = ("fields",)
    task = (*f, "tasks", 0)
    bad_furl = f"pb://{INTRO_TUBID}@bad hint.onion:1/{INTRO_SWISS}"
    edits: list[tuple[str, tuple[Any, ...], Any, Expect]] = [
        ("valid", (), None, LEGACY_OPEN),
        ("type-missing", ("type",), _DELETE, LEGACY_BAD),
        ("type-wrong", ("type",), "Other", LEGACY_BAD),
        ("fields-missing", f, _DELETE, LEGACY_BAD),
        ("introducers-missing", (*f, "introducerNodes"), _DELETE, LEGACY_OPEN),
        ("introducers-empty", (*f, "introducerNodes"), [], LEGACY_OPEN),
        ("introducers-string", (*f, "introducerNodes"), INTRO_FURL, LEGACY_BAD),
        ("introducers-object", (*f, "introducerNodes"), {"a": INTRO_FURL}, LEGACY_BAD),
        ("introducer-bad-hint", (*f, "introducerNodes", 0), bad_furl, LEGACY_BAD),
        ("introducer-not-pb", (*f, "introducerNodes", 0), "http://" + INTRO_SWISS, LEGACY_BAD),
        ("storage-missing", (*f, "storageNodes"), _DELETE, LEGACY_OPEN),
        ("storage-empty", (*f, "storageNodes"), {}, LEGACY_OPEN),
        ("storage-list", (*f, "storageNodes"), [SERVER_FURL], LEGACY_BAD),
        ("storage-nick-space", (*f, "storageNodes"), {"bad nick": SERVER_FURL}, LEGACY_BAD),
        ("storage-nick-empty", (*f, "storageNodes"), {"": SERVER_FURL}, LEGACY_BAD),
        ("storage-nick-long", (*f, "storageNodes"), {"n" * 201: SERVER_FURL}, LEGACY_BAD),
        ("storage-nick-newline", (*f, "storageNodes"), {"a\nb": SERVER_FURL}, LEGACY_BAD),
        ("storage-nick-secret", (*f, "storageNodes"), {ROOTCAP + " x": SERVER_FURL}, LEGACY_BAD),
        ("aliases-missing", (*f, "snapshotAliases"), _DELETE, LEGACY_BAD),
        ("aliases-list", (*f, "snapshotAliases"), [ROOTCAP], LEGACY_BAD),
        ("alias-cap-space", (*f, "snapshotAliases", "tails_backup"), ROOTCAP + " ", LEGACY_BAD),
        ("alias-name-bad", (*f, "snapshotAliases"), {"a b": ROOTCAP}, LEGACY_BAD),
        ("tasks-missing", (*f, "tasks"), _DELETE, LEGACY_OPEN),
        ("tasks-empty", (*f, "tasks"), [], LEGACY_OPEN),
        ("tasks-string", (*f, "tasks"), "Persistent", LEGACY_BAD),
        ("tasks-object", (*f, "tasks"), {"backupAlias": "tails_backup"}, LEGACY_BAD),
        ("task-string", task, "tails_backup", LEGACY_BAD),
        ("task-list", task, [], LEGACY_BAD),
        ("task-null", task, None, LEGACY_BAD),
        ("task-local-relative", (*task, "localDirectory"), "relative/dir", LEGACY_BAD),
        ("task-alias-undefined", (*task, "backupAlias"), "nope", LEGACY_BAD),
        ("excludes-string", (*task, "excludes"), "*.iso", LEGACY_OPEN),
        ("excludes-empty", (*task, "excludes"), [], LEGACY_OPEN),
        ("excludes-missing", (*task, "excludes"), _DELETE, LEGACY_OPEN),
        ("excludes-ints", (*task, "excludes"), [1, 2], LEGACY_BAD),
        ("excludes-empty-string-item", (*task, "excludes"), [""], LEGACY_BAD),
        ("excludes-object", (*task, "excludes"), {"a": "b"}, LEGACY_BAD),
        ("excludes-number", (*task, "excludes"), 5, LEGACY_BAD),
        ("excludes-true", (*task, "excludes"), True, LEGACY_BAD),
        ("excludes-null", (*task, "excludes"), None, LEGACY_EITHER),
        ("restore-version-old", (*task, "restoreVersion"), "2014-05-01_12:00:00Z", LEGACY_OPEN),
        ("restore-version-missing", (*task, "restoreVersion"), _DELETE, LEGACY_OPEN),
        ("restore-version-furl", (*task, "restoreVersion"), INTRO_FURL, LEGACY_OPEN),
        ("restore-version-rootcap", (*task, "restoreVersion"), ROOTCAP, LEGACY_OPEN),
        ("restore-version-escape", (*task, "restoreVersion"), "\x1b[2J\nx", LEGACY_EITHER),
        ("restore-version-number", (*task, "restoreVersion"), 5, LEGACY_BAD),
        ("restore-version-list", (*task, "restoreVersion"), ["Latest"], LEGACY_BAD),
        ("name-number", ("name",), 5, LEGACY_EITHER),
        ("description-long", ("description",), "d" * 3000, LEGACY_BAD),
        ("dotfiles-string", (*f, "tails_dotfiles"), "x", LEGACY_EITHER),
    ]
    for key in ("backupAlias", "remoteSnapshot", "localDirectory"):
        edits.append((f"task-{key}-missing", (*task, key), _DELETE, LEGACY_BAD))
        edits += [
            (f"task-{key}-{type(v).__name__}", (*task, key), v, LEGACY_BAD)
            for v in (None, 1, [], {})
        ]
    for value in WRONG_TYPES:
        name = type(value).__name__
        edits.append((f"fields-{name}", f, value, LEGACY_BAD))
    out = []
    for name, path, value, expect in edits:
        data = base if not path else _deep_set(base, path, value)
        out.append((name, json.dumps(data).encode(), expect))
    checks = {"excludes-string": "excludes-one-pattern", "restore-version-old": "restore-version"}
    out = [
        (n, d, Expect(e.outcome, e.codes, e.reason, check=checks[n]) if n in checks else e)
        for n, d, e in out
    ]
    text = json.dumps(base)
    out += [
        ("top-list", b"[]", LEGACY_BAD),
        ("top-string", b'"TahoeLAFSBackupManifest"', LEGACY_BAD),
        ("top-number", b"1", LEGACY_BAD),
        ("top-null", b"null", LEGACY_BAD),
        ("empty", b"", LEGACY_BAD),
        ("not-json", b"hello", LEGACY_BAD),
        (
            "invalid-utf8",
            text.replace("Tails", "T\udcffails").encode("utf-8", "surrogateescape"),
            LEGACY_BAD,
        ),
        ("deep-100000", b"[" * 100_000, LEGACY_BAD),
        ("deep-100000-closed", b"[" * 100_000 + b"]" * 100_000, LEGACY_BAD),
        (
            "bigint-5000",
            text.replace('"version": 1', '"version": ' + "9" * 5000).encode(),
            LEGACY_BAD,
        ),
        ("nan", text.replace('"version": 1', '"version": NaN').encode(), LEGACY_EITHER),
        ("dup-key", text.replace("{", '{"type": "x", ', 1).encode(), LEGACY_EITHER),
        ("lone-surrogate", text.replace("MyTails", "My\\ud800Tails").encode(), LEGACY_EITHER),
        ("bom", BOM + text.encode(), LEGACY_EITHER),
    ]
    return out


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


# --- mutations ---------------------------------------------------------------------
def _bitflip(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "bitflip-empty", data
    b = bytearray(data)
    pos = rng.randrange(len(b))
    b[pos] ^= 1 << rng.randrange(8)
    return f"bitflip@{pos}", bytes(b)


def _byteset(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "byteset-empty", data
    pos = rng.randrange(len(data))
    return f"byteset@{pos}", data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]


def _insert(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    pos = rng.randrange(len(data) + 1)
    junk = rng.choice([rng.randbytes(rng.randint(1, 8)), b"\n", b"\r", b"=", b"A", b"\x00"])
    return f"insert@{pos}", data[:pos] + junk + data[pos:]


def _delete(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "delete-empty", data
    pos = rng.randrange(len(data))
    n = rng.choice([1, 1, 2, 3, rng.randint(1, 64)])
    return f"delete@{pos}+{n}", data[:pos] + data[pos + n :]


def _truncate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    n = rng.randrange(len(data) + 1)
    return f"truncate@{n}", data[:n]


def _duplicate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    if not data:
        return "duplicate-empty", data
    a = rng.randrange(len(data))
    b = rng.randint(a, min(len(data), a + 64))
    return f"duplicate@{a}:{b}", data[:b] + data[a:b] + data[b:]


def _append(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    junk = rng.choice([b"\n", b"\x00", rng.randbytes(rng.randint(1, 32)), data[:16]])
    return "append", data + junk


def _prepend(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    junk = rng.choice([b"\n", b" ", rng.randbytes(rng.randint(1, 32)), b"HTBM"])
    return "prepend", junk + data


BYTE_OPS: tuple[Callable[[random.Random, bytes], tuple[str, bytes]], ...] = (
    _bitflip,
    _bitflip,
    _bitflip,
    _byteset,
    _insert,
    _delete,
    _truncate,
    _duplicate,
    _append,
    _prepend,
)

_FIELDS = {  # name: (offset, struct format)
    "version": (4, ">B"),
    "kdf-id": (5, ">B"),
    "opslimit": (6, ">I"),
    "memlimit": (10, ">Q"),
    "ct-len": (58, ">I"),
}
_INTERESTING = {
    "version": [0, 2, 255],
    "kdf-id": [0, 2, 255],
    "opslimit": [0, 2, 3, 16, 17, 64, 2**31, 2**32 - 1],
    "memlimit": [
        0,
        1,
        1023,
        8191,
        8193,
        9216,
        2**20,
        2**20 + 1,
        256 * 2**20,
        MEM_MAX - 1,
        MEM_MAX,
        MEM_MAX + 1024,
        2 * 2**30,
        2**32,
        2**63,
        2**64 - 1,
    ],
    "ct-len": [*range(16), 16, 17, MAX_PLAINTEXT + 16, MAX_PLAINTEXT + 17, 2**31, 2**32 - 1],
}


def header_edit(blob: bytes, name: str, value: int, fit: bool) -> bytes:
    """Set one header field; ``fit``: make the file length agree with ct-len if feasible."""
    offset, fmt = _FIELDS[name]
    size = struct.calcsize(fmt)
    out = blob[:offset] + struct.pack(fmt, value) + blob[offset + size :]
    if fit:
        n = struct.unpack_from(">I", out, 58)[0]
        if PREFIX_LEN + n <= MAX_INPUT + 1:
            body = out[PREFIX_LEN:]
            out = out[:PREFIX_LEN] + (body + b"\0" * max(0, n - len(body)))[:n]
    return out


def header_edits(blob: bytes) -> Iterator[tuple[str, bytes]]:
    for name, values in _INTERESTING.items():
        for value in values:
            for fit in (False, True) if name == "ct-len" else (False,):
                yield (
                    f"header:{name}={value}{'+fit' if fit else ''}",
                    header_edit(blob, name, value, fit),
                )
    # Costs at the edges of what a reader runs: 2 GiB passes x memory, and just above.
    for ops, mem in ((4, MEM_MAX), (5, MEM_MAX), (8, 256 * 2**20), (9, 256 * 2**20), (16, 2**27)):
        yield (
            f"header:cost={ops}x{mem}",
            header_edit(header_edit(blob, "opslimit", ops, False), "memlimit", mem, False),
        )
    yield "header:version=2+truncated", header_edit(blob, "version", 2, False)[:40]
    yield "header:magic-lower", b"htbm" + blob[4:]
    yield "header:magic-only", MAGIC
    yield "header:magic+version", MAGIC + b"\x01"
    yield "header:short-3", MAGIC[:3]
    yield "header:prefix-only", blob[:PREFIX_LEN]
    yield "header:check-zero", blob[:62] + b"\0" * 16 + blob[PREFIX_LEN:]
    yield "header:salt-zero", blob[:18] + b"\0" * 16 + blob[34:]
    yield "header:nonce-zero", blob[:34] + b"\0" * 24 + blob[58:]
    yield "header:tag-zero", blob[:PREFIX_LEN] + b"\0" * 16 + blob[PREFIX_LEN + 16 :]
    yield "header:body-swapped-ends", blob[:PREFIX_LEN] + blob[-1:] + blob[PREFIX_LEN:-1]
    yield "header:doubled", blob + blob
    yield "header:trailing-newline", blob + b"\n"


_ARMOR_JUNK = [
    "é",
    "\u00a0",
    "\u200b",
    "\uff21",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x00",
    "\ufeff",
    "-",
    "*",
    " ",
    "\t",
    ">",
    "\r",
    "\x1b[2J",
    "Ω",
    "😀",
]


def _lines(text: bytes) -> list[bytes]:
    return text.split(b"\n")


def armor_edits(text: bytes, other: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Deliberate armor edits of ``text`` (``other``: another armored manifest)."""
    lines = _lines(text)
    begin, end = lines.index(ARMOR_BEGIN), lines.index(ARMOR_END)
    check = end - 1
    body = base64.b64encode(binascii.a2b_base64(b"".join(lines[begin + 1 : check])))

    def join(ls: list[bytes]) -> bytes:
        return b"\n".join(ls)

    def rewrap(
        width: int, *, sep: bytes = b"\n", prefix: bytes = b"", suffix: bytes = b""
    ) -> bytes:
        chunks = [body[i : i + width] for i in range(0, len(body), width)]
        ls = [ARMOR_BEGIN, *chunks, lines[check], ARMOR_END, b""]
        return sep.join(prefix + line + suffix for line in ls)

    yield "armor:identity", text
    for width in (1, 4, 63, 65, 76, 200, 10**6):
        yield f"armor:rewrap-{width}", rewrap(width)
    yield "armor:crlf", rewrap(64, sep=b"\r\n")
    yield "armor:cr-only", rewrap(64, sep=b"\r")
    yield "armor:double-cr", rewrap(64, suffix=b"\r\r")
    yield "armor:cr-then-space", rewrap(64, suffix=b"\r ")
    yield "armor:space-then-cr", rewrap(64, sep=b" \r\n")
    yield "armor:quoted", rewrap(64, prefix=b"> ")
    yield "armor:quoted-deep", rewrap(64, prefix=b"> > >")
    yield "armor:indented-tabs", rewrap(64, prefix=b"\t \t")
    yield "armor:trailing-blanks", rewrap(64, suffix=b" \t ")
    yield "armor:nbsp-indent", rewrap(64, prefix="\u00a0".encode())
    yield "armor:ideographic-space", rewrap(64, prefix="\u3000".encode())
    for sep in ("\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e"):
        yield f"armor:sep-U+{ord(sep):04X}", rewrap(64, sep=sep.encode())
        yield (
            f"armor:sep-U+{ord(sep):04X}-before-begin",
            (b"hello" + sep.encode() + b"world\n" + text),
        )
        yield f"armor:sep-U+{ord(sep):04X}-joins-begin", b"hello" + sep.encode() + text
    yield "armor:no-begin", join(lines[:begin] + lines[begin + 1 :])
    yield "armor:no-end", join(lines[:end] + lines[end + 1 :])
    yield "armor:no-checksum", join(lines[:check] + lines[check + 1 :])
    yield "armor:checksum-only-eq", join([*lines[:check], b"=", *lines[end:]])
    yield "armor:checksum-twice", join([*lines[:end], lines[check], *lines[end:]])
    yield (
        "armor:checksum-first",
        join([*lines[: begin + 1], lines[check], *lines[begin + 1 : check], *lines[end:]]),
    )
    yield "armor:begin-twice", join([*lines[: begin + 1], *lines[begin:]])
    yield "armor:end-twice", join([*lines[: end + 1], *lines[end:]])
    yield "armor:end-before-begin", join([ARMOR_END, *lines])
    yield (
        "armor:swapped-markers",
        text.replace(ARMOR_BEGIN, b"@@").replace(ARMOR_END, ARMOR_BEGIN).replace(b"@@", ARMOR_END),
    )
    for header in (b"Version: 1", b"Comment: hi", b"Hash: SHA256", b"version1"):
        yield (
            f"armor:header-{header.decode()}",
            join([*lines[: begin + 1], header, *lines[begin + 1 :]]),
        )
    yield "armor:begin-lowercase", text.replace(ARMOR_BEGIN, ARMOR_BEGIN.lower())
    yield "armor:begin-extra-dash", text.replace(ARMOR_BEGIN, ARMOR_BEGIN + b"-")
    yield "armor:begin-trailing-x", text.replace(ARMOR_BEGIN, ARMOR_BEGIN + b"x")
    yield "armor:begin-inline", b"see: " + text
    yield "armor:end-inline", text.replace(ARMOR_END, b"x" + ARMOR_END)
    yield "armor:empty-lines", join([line + b"\n" for line in lines])
    yield "armor:text-around", b"Hi,\nhere it is:\n\n" + text + b"\n-- \nBob\n\xff\xfe\x00"
    yield (
        "armor:utf8-around",
        "Привет 😀\n".encode() + text + "\n\u043f\u043e\u043a\u0430\n".encode(),
    )
    yield "armor:no-final-newline", text.rstrip(b"\n")
    yield "armor:two-blocks", text + other
    yield "armor:other-first", other + text
    yield "armor:damaged-first-block", text.replace(body[:8], body[:8][::-1], 1) + other
    yield "armor:nested", join([*lines[: begin + 1], *_lines(other), *lines[begin + 1 :]])
    yield "armor:garbage-line", join([*lines[: begin + 2], b"AAAA", *lines[begin + 2 :]])
    yield (
        "armor:garbage-b64-line",
        join([*lines[:check], base64.b64encode(rng.randbytes(30)), *lines[check:]]),
    )
    yield "armor:padding-middle", join([*lines[: begin + 2], b"QQ==", *lines[begin + 2 :]])
    yield "armor:unpadded", join([ARMOR_BEGIN, body.rstrip(b"="), lines[check], ARMOR_END])
    yield (
        "armor:base64url",
        join([ARMOR_BEGIN, body.replace(b"+", b"-").replace(b"/", b"_"), lines[check], ARMOR_END]),
    )
    yield "armor:empty-block", join([ARMOR_BEGIN, ARMOR_END])
    yield "armor:only-checksum-block", join([ARMOR_BEGIN, lines[check], ARMOR_END])
    yield "armor:quoted-begin-only", text.replace(ARMOR_BEGIN, b">> " + ARMOR_BEGIN)
    for junk in _ARMOR_JUNK:
        tag = f"U+{ord(junk[0]):04X}"
        cl = lines[check]
        yield (
            f"armor:in-body-{tag}",
            join(
                [
                    *lines[: begin + 2],
                    lines[begin + 2][:10] + junk.encode() + lines[begin + 2][10:],
                    *lines[begin + 3 :],
                ]
            ),
        )
        yield (
            f"armor:in-checksum-{tag}",
            join([*lines[:check], cl[:4] + junk.encode() + cl[4:], *lines[check + 1 :]]),
        )
        yield (
            f"armor:checksum-replaced-{tag}",
            join([*lines[:check], cl[:-1] + junk.encode(), *lines[check + 1 :]]),
        )
        yield f"armor:in-begin-{tag}", text.replace(b"SEALED", b"SEALED" + junk.encode(), 1)
        yield f"armor:before-begin-{tag}", junk.encode() + b"\n" + text
    yield (
        "armor:checksum-case",
        join([*lines[:check], lines[check].swapcase(), *lines[check + 1 :]]),
    )
    yield (
        "armor:checksum-of-other",
        join(
            [*lines[:check], _lines(other)[_lines(other).index(ARMOR_END) - 1], *lines[check + 1 :]]
        ),
    )
    # the last base64 character, changed in its unused low bits (non-canonical encoding)
    last = body.rstrip(b"=")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    idx = alphabet.index(last[-1:])
    pad = len(body) - len(last)
    if pad:
        tweaked = last[:-1] + alphabet[idx ^ 1 : (idx ^ 1) + 1] + b"=" * pad
        yield "armor:non-canonical-bits", join([ARMOR_BEGIN, tweaked, lines[check], ARMOR_END])


def _b64_char_edit(rng: random.Random, text: bytes) -> tuple[str, bytes]:
    """Change one base64 character of an armored or 2014 text to another one."""
    positions = [i for i, ch in enumerate(text) if chr(ch).isalnum() or ch in b"+/"]
    pos = rng.choice(positions)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = rng.choice([c for c in alphabet if c != text[pos]])
    return f"b64char@{pos}", text[:pos] + bytes([new]) + text[pos + 1 :]


def _text_op(rng: random.Random, text: bytes, other: bytes) -> tuple[str, bytes]:
    """Line-level edits of an armored text that keep or break the block."""
    lines = _lines(text)
    op = rng.randrange(12)
    if op == 0 and not (ARMOR_BEGIN in lines and ARMOR_END in lines):
        op = 11
    if op == 0:  # rewrap at a random width (must open)
        begin, end = lines.index(ARMOR_BEGIN), lines.index(ARMOR_END)
        body = b"".join(lines[begin + 1 : end - 1])
        w = rng.randint(1, 120)
        chunks = [body[i : i + w] for i in range(0, len(body), w)]
        return f"rewrap-{w}", b"\n".join([*lines[:begin], ARMOR_BEGIN, *chunks, *lines[end - 1 :]])
    if op == 1:  # quote / indent / trailing blanks on random lines (must open)
        pre = rng.choice([b"> ", b">", b"  ", b"\t", b" > > "])
        post = rng.choice([b"", b" ", b"\t", b"\r"])
        return "quote-lines", b"\n".join(
            (pre if rng.random() < 0.5 else b"") + line + (post if rng.random() < 0.3 else b"")
            for line in lines
        )
    if op == 2:  # text before and after (must open unless it makes a BEGIN line)
        before = rng.choice([b"", b"Hi\n", rng.randbytes(20) + b"\n", "é\u2028\n".encode()])
        after = rng.choice([b"", b"\nbye", rng.randbytes(40), other])
        return "surround", before + text + after
    if op == 3:  # remove a random line
        i = rng.randrange(len(lines))
        return f"drop-line-{i}", b"\n".join(lines[:i] + lines[i + 1 :])
    if op == 4:  # duplicate a random line
        i = rng.randrange(len(lines))
        return f"dup-line-{i}", b"\n".join([*lines[: i + 1], *lines[i:]])
    if op == 5:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        ls = list(lines)
        ls[i], ls[j] = ls[j], ls[i]
        return f"swap-lines-{i}-{j}", b"\n".join(ls)
    if op == 6:  # a junk character somewhere
        junk = rng.choice(_ARMOR_JUNK).encode()
        pos = rng.randrange(len(text) + 1)
        return f"junk@{pos}", text[:pos] + junk + text[pos:]
    if op == 7:
        return _b64_char_edit(rng, text)
    if op == 8:  # blank lines (must open)
        i = rng.randrange(len(lines))
        return f"blank-line-{i}", b"\n".join([*lines[:i], b"", b"  ", *lines[i:]])
    if op == 9:  # CRLF everywhere (must open)
        return "crlf", text.replace(b"\n", b"\r\n")
    if op == 10:  # a header line
        i = rng.randrange(len(lines))
        return f"header-line-{i}", b"\n".join([*lines[:i], b"Version: 1", *lines[i:]])
    name, data = rng.choice(BYTE_OPS)(rng, text)
    return name, data


# --- the corpus ----------------------------------------------------------------------
class Corpus:
    """Originals, the registry of what each sealed blob holds, and every input."""

    def __init__(self, seed: int, *, fast: bool = False) -> None:
        self.seed = seed
        self.fast = fast
        rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
        self.contents: dict[bytes, Expect] = {}  # binary blob -> what opening it gives
        self.legacy_contents: dict[bytes, Expect] = {}  # 2014 plaintext -> expectation
        self.binaries: list[bytes] = []
        for data in (manifest_small(), manifest_rich(), manifest_servers_only()):
            blob = self.seal(canonical(data), OPEN, rng)
            self.binaries.append(blob)
        self.armored = [armor(b) for b in self.binaries]
        self.legacy: list[bytes] = []
        lm = json.dumps(legacy_manifest()).encode()
        self.legacy_contents[lm] = LEGACY_OPEN
        self.legacy = [seal_legacy(lm, rng), seal_legacy(lm, rng, width=76)]
        self.originals = {
            "binary": self.binaries,
            "armored": self.armored,
            "legacy-2014": self.legacy,
        }
        self._fixed: list[Case] | None = None

    def seal(self, plaintext: bytes, expect: Expect, rng: random.Random) -> bytes:
        blob = seal_bytes(plaintext, rng)
        self.contents[blob] = expect
        return blob

    # -- the oracle --
    def _blob_expect(self, blob: bytes) -> Expect:
        reason, pre_kdf = ref_binary(blob)
        if reason != "kdf":
            return refuse(SEALED, reason, pre_kdf=pre_kdf)
        known = self.contents.get(blob)
        if known is not None:
            return known
        prefix = blob[:PREFIX_LEN]
        same_header = any(b[:PREFIX_LEN] == prefix for b in self.contents)
        return refuse(SEALED, "tampered" if same_header else "wrong-passphrase")

    def _armor_expect(self, data: bytes) -> Expect | None:
        """None if no rule reading finds a BEGIN line; several readings where CRs differ."""
        variants = [ArmorRules()]
        if b"\r" in data:
            variants += [ArmorRules(True, False), ArmorRules(False, True), ArmorRules(True, True)]
        results: list[Expect | None] = []
        for rules in variants:
            reason, blob, canonical_b64 = ref_dearmor(data, rules)
            if reason == "no-begin":
                results.append(None)
            elif blob is None:
                results.append(refuse(SEALED, reason, pre_kdf=True))
            else:
                e = self._blob_expect(blob)
                if not canonical_b64:
                    e = e.merge(refuse(SEALED, "non-canonical-base64", pre_kdf=True))
                results.append(e)
        if all(r is None for r in results):
            return None
        merged = [r or refuse(SEALED, "no-begin") for r in results]
        result = merged[0]
        for r in merged[1:]:
            result = result.merge(r)
        return result

    def expect_unseal(self, data: bytes) -> Expect:
        if len(data) > MAX_INPUT:
            return refuse(SEALED, "too-large", pre_kdf=True)
        armored = self._armor_expect(data)
        if data.startswith(MAGIC):
            binary = self._blob_expect(data)
            return binary if armored is None else binary.merge(armored)
        if armored is not None:
            return armored
        raw = ref_legacy_raw(data)
        if raw is None:
            return refuse(SEALED, "not-sealed")
        try:
            plaintext = nacl.secret.SecretBox(legacy_key()).decrypt(raw[24:], raw[:24])
        except nacl.exceptions.CryptoError:
            return refuse(SEALED, "2014-wrong-passphrase")
        e = self.legacy_contents.get(plaintext, LEGACY_EITHER)
        if b"\x0b" in data or b"\x0c" in data:  # whitespace the rules do not name
            e = e.merge(refuse(SEALED, "not-sealed"))
        return e

    # -- inputs --
    def fixed(self) -> list[Case]:
        if self._fixed is None:
            self._fixed = [
                Case(c.kind, c.op, c.data, c.expect, c.verb, i)
                for i, c in enumerate(self._build_fixed())
            ]
        return self._fixed

    def case(self, index: int) -> Case:
        fixed = self.fixed()
        if index < len(fixed):
            return fixed[index]
        rng = random.Random(f"{self.seed}:{index}")  # noqa: S311
        c = self._random_case(rng)
        return Case(c.kind, c.op, c.data, c.expect, c.verb, index)

    def _unseal_case(self, kind: str, op: str, data: bytes) -> Case:
        return Case(kind, op, data, self.expect_unseal(data))

    def _build_fixed(self) -> Iterator[Case]:
        rng = random.Random(f"{self.seed}:fixed")  # noqa: S311
        fast = self.fast
        # every original opens
        for kind, texts in self.originals.items():
            for i, t in enumerate(texts):
                yield self._unseal_case(kind, f"original-{i}", t)
        # truncations at every length (the fast slice: one binary, sampled others)
        for kind, texts in self.originals.items():
            for j, t in enumerate(texts):
                if fast and j > 0:
                    continue
                step = 1 if not fast or kind == "binary" else 7
                for n in range(0, len(t), step):
                    yield self._unseal_case(kind, f"truncate@{n}", t[:n])
        # header field edits
        for blob in self.binaries[:1] if fast else self.binaries:
            for op, data in header_edits(blob):
                yield self._unseal_case("binary", op, data)
                if not fast:
                    yield self._unseal_case("armored", op, armor(data))
        # binary splices at chosen points
        a, b = self.binaries[0], self.binaries[1]
        for i in (0, 4, 5, 62, 78, 100, len(a)):
            for j in (0, 4, 62, 78, 100, len(b) - 10, len(b)):
                yield self._unseal_case("binary", f"splice@{i}:{j}", a[:i] + b[j:])
        # armor edits
        for t, other in ((self.armored[0], self.armored[1]), (self.armored[1], self.armored[0])):
            for op, data in armor_edits(t, other, rng):
                yield self._unseal_case("armored", op, data)
            if fast:
                break
        # 2014: whitespace variants that must open, and JSON structures
        lm = json.dumps(legacy_manifest()).encode()
        for op, data in self._legacy_variants(lm, rng):
            yield self._unseal_case("legacy-2014", op, data)
        for name, plaintext, expect in legacy_structures():
            self.legacy_contents[plaintext] = expect
            yield self._unseal_case("legacy-2014", f"json:{name}", seal_legacy(plaintext, rng))
        # hostile plaintexts: sealed properly (unseal) and given to `htb seal`
        plaintexts = hostile_plaintexts()
        wrong = wrong_type_plaintexts(manifest_rich())
        if fast:
            wrong = random.Random(f"{self.seed}:wrong").sample(wrong, 120)  # noqa: S311
        for name, plaintext in plaintexts + wrong:
            yield self._sealed_case(f"json:{name}", plaintext, rng)
            yield Case(
                "seal-plaintext",
                f"json:{name}",
                plaintext,
                ref_content(plaintext, plain_file=True),
                "seal",
            )
        yield from self._size_cases(rng)

    def _sealed_case(self, op: str, plaintext: bytes, rng: random.Random) -> Case:
        blob = seal_bytes(plaintext, rng)
        expect = ref_content(plaintext)
        self.contents[blob] = expect
        return Case("sealed-plaintext", op, blob, self._blob_expect(blob))

    def _legacy_variants(self, lm: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
        text = seal_legacy(lm, rng).strip()
        for width in (1, 4, 64, 76, 77):
            yield (
                f"rewrap-{width}",
                b"\n".join(text[i : i + width] for i in range(0, len(text), width)),
            )
        yield "crlf", b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + b"\r\n"
        yield "no-newline", text
        yield "surrounding-blanks", b"\n\n  " + text + b"  \n\t\n"
        yield "tabs-inside", text[:30] + b"\t" + text[30:]
        yield "vertical-tab-inside", text[:30] + b"\x0b" + text[30:]
        yield "nbsp-inside", text[:30] + "\u00a0".encode() + text[30:]
        yield "short-40", base64.b64encode(rng.randbytes(40))
        yield "short-39", base64.b64encode(rng.randbytes(39))
        yield "just-equals", b"=" * 64
        yield "wrong-key", base64.b64encode(rng.randbytes(300))
        yield "urlsafe", text.replace(b"+", b"-").replace(b"/", b"_")
        yield "padding-inside", text[:40] + b"==" + text[40:]
        yield "two-manifests", text + b"\n" + text

    def _size_cases(self, rng: random.Random) -> Iterator[Case]:
        blob, text, leg = self.binaries[0], self.armored[0], self.legacy[0]

        def pad_to(data: bytes, size: int, filler: bytes) -> bytes:
            return (filler * (size // len(filler) + 1))[: size - len(data)] + data

        yield self._unseal_case("size", "binary+padding>MAX_INPUT", blob + b"\0" * MAX_INPUT)
        yield self._unseal_case("size", "armored-at-MAX_INPUT", pad_to(text, MAX_INPUT, b"x\n"))
        yield self._unseal_case(
            "size", "armored-over-MAX_INPUT", pad_to(text, MAX_INPUT + 1, b"x\n")
        )
        yield self._unseal_case("size", "armored-5MiB", pad_to(text, 5 * 2**20, b"y\n"))
        yield self._unseal_case("size", "2014-at-MAX_INPUT", pad_to(leg, MAX_INPUT, b"\n"))
        yield self._unseal_case("size", "2014-over-MAX_INPUT", pad_to(leg, MAX_INPUT + 1, b"\n"))
        yield self._unseal_case("size", "garbage-over-MAX_INPUT", b"A" * (MAX_INPUT + 1))
        yield self._unseal_case(
            "size", "header-ct-len-too-large", header_edit(blob, "ct-len", MAX_PLAINTEXT + 17, True)
        )
        base = manifest_rich()
        exact = _padded_plaintext(base, MAX_PLAINTEXT)
        over = _padded_plaintext(base, MAX_PLAINTEXT + 1)
        for name, plain in (
            ("plaintext-at-MAX_PLAINTEXT", exact),
            ("plaintext-over-MAX_PLAINTEXT", over),
        ):
            yield dataclasses.replace(self._sealed_case(name, plain, rng), kind="size")
        for name, plain in (
            ("seal-at-MAX_PLAINTEXT", exact),
            ("seal-over-MAX_PLAINTEXT", over),
            ("seal-3MiB", _padded_plaintext(base, 3 * 2**20)),
            ("seal-over-MAX_INPUT", _padded_plaintext(base, MAX_INPUT + 1)),
            ("seal-5MiB-garbage", b"[" * (5 * 2**20)),
        ):
            yield Case("size", name, plain, ref_content(plain, plain_file=True), "seal")
            yield Case(
                "size", name + "-stdin", plain, ref_content(plain, plain_file=True), "seal-stdin"
            )

    def _random_case(self, rng: random.Random) -> Case:
        roll = rng.random()
        if roll < 0.25:
            src = rng.choice(self.binaries)
            if rng.random() < 0.15:
                other = rng.choice(self.binaries + self.armored)
                i, j = rng.randrange(len(src) + 1), rng.randrange(len(other) + 1)
                return self._unseal_case("binary", f"splice@{i}:{j}", src[:i] + other[j:])
            if rng.random() < 0.1:
                name = rng.choice(list(_INTERESTING))
                value = rng.choice([*_INTERESTING[name], rng.randrange(2**8)])
                if name == "memlimit" and rng.random() < 0.5:
                    value = rng.randrange(2**64)
                op, data = (
                    f"header:{name}={value}",
                    header_edit(src, name, value, rng.random() < 0.5),
                )
                return self._unseal_case("binary", op, data)
            data, names = src, []
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                name, data = rng.choice(BYTE_OPS)(rng, data)
                names.append(name)
            return self._unseal_case("binary", "+".join(names), data)
        if roll < 0.55:
            src = rng.choice(self.armored)
            other = rng.choice(self.armored)
            if rng.random() < 0.1:
                i, j = rng.randrange(len(src) + 1), rng.randrange(len(other) + 1)
                return self._unseal_case("armored", f"splice@{i}:{j}", src[:i] + other[j:])
            name, data = _text_op(rng, src, other)
            if rng.random() < 0.2 and data:
                name2, data = _text_op(rng, data, other)
                name = f"{name}+{name2}"
            return self._unseal_case("armored", name, data)
        if roll < 0.65:
            if rng.random() < 0.5:
                data = _mutate_json(rng, legacy_manifest())
                self.legacy_contents.setdefault(data, LEGACY_EITHER)
                return self._unseal_case("legacy-2014", "json-mutation", seal_legacy(data, rng))
            src = rng.choice(self.legacy)
            if rng.random() < 0.5:
                lines = src.strip()
                w = rng.randint(1, 100)
                sep = rng.choice([b"\n", b"\r\n", b" ", b"\t", b"\n\n"])
                data = sep.join(lines[i : i + w] for i in range(0, len(lines), w))
                return self._unseal_case("legacy-2014", f"rewrap-{w}", data)
            name, data = rng.choice((*BYTE_OPS, _b64_char_edit))(rng, src)
            return self._unseal_case("legacy-2014", name, data)
        data = _mutate_json(rng, rng.choice([manifest_rich(), manifest_small()]))
        if roll < 0.85:
            c = self._sealed_case("json-mutation", data, rng)
            return c
        return Case(
            "seal-plaintext", "json-mutation", data, ref_content(data, plain_file=True), "seal"
        )


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


# --- running htb -----------------------------------------------------------------
class KdfGuardError(BaseException):
    """Argon2id asked to run outside the design's cost bounds: stopped, reported."""


@dataclass
class Stats:
    kdf_calls: int = 0
    kdf_substituted: int = 0
    kdf_out_of_bounds: int = 0
    scrypt_calls: int = 0
    scrypt_stubbed: int = 0


@dataclass
class Outcome:
    code: int | None
    stdout: bytes
    stderr: bytes
    error: str = ""  # an uncaught exception: "Type: message"
    where: str = ""  # where it was raised, in htb's code
    seconds: float = 0.0
    kdf_calls: int = 0
    scrypt_calls: int = 0
    output_file: bytes | None = None


_KDF_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(_REAL_KDF).parameters.items()
    if p.default is not inspect.Parameter.empty
}


class Runner:
    """Runs htb.cli.main on inputs, in this process, guarded; see the module docstring."""

    def __init__(self, workdir: Path, *, real_scrypt: bool = False) -> None:
        self.workdir = workdir
        self.real_scrypt = real_scrypt
        self.stats = Stats()
        workdir.mkdir(parents=True, exist_ok=True)
        self.input = workdir / "input"
        self.output = workdir / "output.htb"

    def _kdf(self, size: int, password: bytes, salt: bytes, *args: Any, **kwargs: Any) -> Any:
        bound = dict(_KDF_DEFAULTS)
        bound.update(zip(("opslimit", "memlimit", "encoder"), args, strict=False))
        bound.update(kwargs)
        ops, mem = bound["opslimit"], bound["memlimit"]
        self.stats.kdf_calls += 1
        if not cost_ok(ops, mem):
            self.stats.kdf_out_of_bounds += 1
            raise KdfGuardError(f"Argon2id called with opslimit={ops} memlimit={mem}")
        if ops * mem > 4 * 2**20:
            self.stats.kdf_substituted += 1
            bound["opslimit"], bound["memlimit"] = TEST_OPS, TEST_MEM
        return _REAL_KDF(size, password, salt, **bound)

    def _scrypt(self, password: bytes, **kwargs: Any) -> bytes:
        self.stats.scrypt_calls += 1
        if self.real_scrypt:
            return _REAL_SCRYPT(password, **kwargs)
        self.stats.scrypt_stubbed += 1
        size = kwargs.get("dklen", 64)
        return hashlib.blake2b(password, digest_size=size, person=b"htb-fuzz-scrypt").digest()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Runner]:
        saved = nacl.pwhash.argon2id.kdf, hashlib.scrypt, os.environ.get("HTB_PASSPHRASE")
        nacl.pwhash.argon2id.kdf = self._kdf
        hashlib.scrypt = self._scrypt  # type: ignore[assignment]
        os.environ["HTB_PASSPHRASE"] = PASSPHRASE
        try:
            yield self
        finally:
            nacl.pwhash.argon2id.kdf, hashlib.scrypt = saved[0], saved[1]
            if saved[2] is None:
                os.environ.pop("HTB_PASSPHRASE", None)
            else:
                os.environ["HTB_PASSPHRASE"] = saved[2]

    def argv(self, case: Case) -> list[str]:
        if case.verb == "unseal":
            return ["unseal", str(self.input)]
        source = "-" if case.verb == "seal-stdin" else str(self.input)
        return [
            "seal",
            source,
            "-o",
            str(self.output),
            "--kdf-opslimit",
            "1",
            "--kdf-memlimit",
            "1",
        ]

    def run(self, case: Case) -> Outcome:
        if case.verb == "seal-stdin":
            self.input.write_bytes(b"")
        else:
            self.input.write_bytes(case.data)
        self.output.unlink(missing_ok=True)
        before = self.stats.kdf_calls, self.stats.scrypt_calls
        out = capture(lambda: _main(self.argv(case)), stdin=case.data)
        out.kdf_calls = self.stats.kdf_calls - before[0]
        out.scrypt_calls = self.stats.scrypt_calls - before[1]
        if case.verb != "unseal" and self.output.exists():
            out.output_file = self.output.read_bytes()
        return out


def _main(argv: list[str]) -> int:
    from htb import cli

    return cli.main(argv)


def capture(call: Callable[[], int | None], stdin: bytes = b"") -> Outcome:
    """Run ``call`` with stdin/stdout/stderr in memory (bytes underneath, like a pipe)."""
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="backslashreplace", write_through=True)
    inp = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = inp, out, err
    start = time.perf_counter()
    code: int | None = None
    error = where = ""
    try:
        code = call()
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        where = _where(exc)
    finally:
        with contextlib.suppress(Exception):
            out.flush()
            err.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    return Outcome(
        code, out_b.getvalue(), err_b.getvalue(), error, where, time.perf_counter() - start
    )


def _where(exc: BaseException) -> str:
    """The innermost frame in htb's own code (src/htb), else the innermost one."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if re.search(r"[/\\](src|site-packages)[/\\]htb[/\\]", f.filename)]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path = frame.filename
    if "/src/" in path:
        path = path.split("/src/", 1)[1]
    return f"{path}:{frame.lineno} in {frame.name}"


# --- judging ---------------------------------------------------------------------
def _valid_json_output(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"), parse_constant=_constant)
    except (ValueError, _Bad):
        return False
    return True


def _check_excludes(out: Outcome) -> bool:
    return json.loads(out.stdout)["backups"][0].get("excludes") == ["*.iso"]


def _check_restore_version(out: Outcome) -> bool:
    data = json.loads(out.stdout)
    versions = data.get("x-legacy-restore-versions", {})
    return "2014-05-01_12:00:00Z" in versions.values() and b"restores version" in out.stderr


CHECKS: dict[str, Callable[[Outcome], bool]] = {
    "excludes-one-pattern": _check_excludes,
    "restore-version": _check_restore_version,
}


def judge(case: Case, out: Outcome) -> list[str]:
    """The hard problems with one outcome (empty: as the rules say)."""
    problems = []
    e = case.expect
    if out.error:
        return [f"uncaught {out.error.split(':')[0]} at {out.where}"]
    if out.code == 0:
        if e.outcome == "refuse":
            problems.append(f"accepted (expected exit {'/'.join(map(str, e.codes))}: {e.reason})")
        elif case.verb == "unseal" and not _valid_json_output(out.stdout):
            problems.append("opened, but stdout is not strict JSON")
        elif case.verb != "unseal" and not out.output_file:
            problems.append("sealed, but wrote no output file")
        elif e.check and not CHECKS[e.check](out):
            problems.append(f"opened, but check {e.check} failed")
    else:
        if e.outcome == "open":
            problems.append(f"refused a valid input with exit {out.code}")
        elif out.code not in e.codes:
            problems.append(f"exit {out.code}, expected {'/'.join(map(str, e.codes))} ({e.reason})")
        lines = out.stderr.split(b"\n")
        if not (len(lines) == 2 and lines[1] == b"" and lines[0].startswith(b"htb: error: ")):
            problems.append("stderr is not exactly one 'htb: error: ...' line")
        if out.stdout:
            problems.append("refused, but wrote to stdout")
        if e.pre_kdf and out.kdf_calls:
            problems.append(f"derived a key before refusing ({e.reason})")
    found = leaks(out.stderr) + (leaks(out.stdout) if out.code else [])
    if found:
        problems.append(f"leaked {found[0][:24]}...")
    return problems


def soft_findings(case: Case, out: Outcome) -> list[str]:
    """Message wording the design suggests (reported, not a failure)."""
    if out.error or out.code in (0, None) or case.verb != "unseal":
        return []
    words = MESSAGE_WORDS.get(case.expect.reason)
    if words and not re.search(words, out.stderr.decode("utf-8", "replace"), re.IGNORECASE):
        return [f"message for {case.expect.reason} lacks /{words}/"]
    return []


# --- running many, grouping the failures ------------------------------------------
@dataclass
class Tally:
    """Figures of a run, per kind, and the failures grouped with their smallest input."""

    count: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    must_open: dict[str, int] = field(default_factory=dict)
    opened: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    uncaught: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    groups: dict[str, tuple[int, Case, Outcome, list[str]]] = field(default_factory=dict)
    soft: dict[str, int] = field(default_factory=dict)
    slowest: list[tuple[float, str, int]] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def add(self, case: Case, out: Outcome, problems: list[str], soft: list[str]) -> None:
        k = case.kind
        self.count[k] = self.count.get(k, 0) + 1
        self.seconds[k] = self.seconds.get(k, 0.0) + out.seconds
        code = "uncaught" if out.error else str(out.code)
        self.codes.setdefault(k, {})
        self.codes[k][code] = self.codes[k].get(code, 0) + 1
        if case.expect.outcome == "open":
            self.must_open[k] = self.must_open.get(k, 0) + 1
            self.opened[k] = self.opened.get(k, 0) + (out.code == 0)
        if out.code == 0 and case.expect.outcome == "refuse":
            self.accepted[k] = self.accepted.get(k, 0) + 1
        if out.error:
            self.uncaught[k] = self.uncaught.get(k, 0) + 1
        if problems:
            self.failed[k] = self.failed.get(k, 0) + 1
            key = f"{k}: {problems[0]}"
            old = self.groups.get(key)
            if old is None:
                self.groups[key] = (1, case, out, problems)
            else:
                n, best, best_out, best_p = old
                if len(case.data) < len(best.data):
                    best, best_out, best_p = case, out, problems
                self.groups[key] = (n + 1, best, best_out, best_p)
        for s in soft:
            key = f"{k}: {s}"
            self.soft[key] = self.soft.get(key, 0) + 1
        self.slowest.append((out.seconds, f"{k} {case.op}"[:80], case.index))
        self.slowest = sorted(self.slowest, reverse=True)[:5]

    def merge(self, other: Tally) -> None:
        for name in (
            "count",
            "seconds",
            "must_open",
            "opened",
            "accepted",
            "uncaught",
            "failed",
            "soft",
        ):
            mine, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for k, codes in other.codes.items():
            mine_codes = self.codes.setdefault(k, {})
            for code, n in codes.items():
                mine_codes[code] = mine_codes.get(code, 0) + n
        for key, (n, case, out, problems) in other.groups.items():
            old = self.groups.get(key)
            if old is None:
                self.groups[key] = (n, case, out, problems)
            else:
                best = (case, out, problems) if len(case.data) < len(old[1].data) else old[1:]
                self.groups[key] = (old[0] + n, *best)
        self.slowest = sorted(self.slowest + other.slowest, reverse=True)[:5]
        for name in vars(self.stats):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(other.stats, name))

    @property
    def total(self) -> int:
        return sum(self.count.values())

    def report(self) -> str:
        lines = [
            f"{'kind':18} {'inputs':>7} {'seconds':>8} {'must open':>9} {'opened':>6} "
            f"{'accepted':>8} {'uncaught':>8} {'failed':>6}  exit codes"
        ]
        for k in sorted(self.count, key=lambda k: KINDS.index(k) if k in KINDS else 99):
            codes = ", ".join(f"{c}: {n}" for c, n in sorted(self.codes[k].items()))
            lines.append(
                f"{k:18} {self.count[k]:7} {self.seconds[k]:8.1f} {self.must_open.get(k, 0):9} "
                f"{self.opened.get(k, 0):6} {self.accepted.get(k, 0):8} "
                f"{self.uncaught.get(k, 0):8} {self.failed.get(k, 0):6}  {codes}"
            )
        lines.append(
            f"{'total':18} {self.total:7} {sum(self.seconds.values()):8.1f} "
            f"{sum(self.must_open.values()):9} {sum(self.opened.values()):6} "
            f"{sum(self.accepted.values()):8} {sum(self.uncaught.values()):8} "
            f"{sum(self.failed.values()):6}"
        )
        s = self.stats
        lines.append(
            f"Argon2id calls: {s.kdf_calls} (costly in-bound ones run cheap: {s.kdf_substituted};"
            f" stopped outside the bounds: {s.kdf_out_of_bounds}); 2014 scrypt fallbacks: "
            f"{s.scrypt_calls} (cheap stand-in: {s.scrypt_stubbed})"
        )
        lines.append(
            "slowest: " + "; ".join(f"{t:.2f} s {name} (#{i})" for t, name, i in self.slowest)
        )
        return "\n".join(lines)

    def failures(self, limit: int = 60) -> str:
        out = []
        for key, (n, case, o, problems) in sorted(self.groups.items(), key=lambda kv: -kv[1][0])[
            :limit
        ]:
            err = o.error or o.stderr.decode("utf-8", "backslashreplace").strip()[:300]
            out.append(
                f"[{n}x] {key}\n    smallest: #{case.index} op={case.op!r} verb={case.verb} "
                f"{len(case.data)} bytes, expected {case.expect.outcome} "
                f"{case.expect.codes} ({case.expect.reason}); exit {o.code}; "
                f"{'also: ' + '; '.join(problems[1:]) + '; ' if problems[1:] else ''}"
                f"output: {err!r}\n    data[:120]={case.data[:120]!r}"
            )
        soft = [f"  [{n}x] {k}" for k, n in sorted(self.soft.items(), key=lambda kv: -kv[1])]
        if soft:
            out.append("message wording (soft, not failures):\n" + "\n".join(soft[:20]))
        return "\n".join(out)


_CORPORA: dict[tuple[int, bool], Corpus] = {}


def corpus_for(seed: int, *, fast: bool = False) -> Corpus:
    """One corpus per seed and size in a process (forked workers inherit it built)."""
    key = (seed, fast)
    if key not in _CORPORA:
        _CORPORA[key] = Corpus(seed, fast=fast)
        _CORPORA[key].fixed()
    return _CORPORA[key]


def run_cases(cases: list[Case], workdir: Path, *, real_scrypt: bool = False) -> Tally:
    runner = Runner(workdir, real_scrypt=real_scrypt)
    tally = Tally()
    with runner.installed():
        for case in cases:
            out = runner.run(case)
            tally.add(case, out, judge(case, out), soft_findings(case, out))
    tally.stats = runner.stats
    return tally


def run_range(seed: int, start: int, stop: int, workdir: Path, *, fast: bool = False) -> Tally:
    """Run inputs ``start`` to ``stop`` of the corpus of ``seed``; return their tally."""
    corpus = corpus_for(seed, fast=fast)
    return run_cases([corpus.case(i) for i in range(start, stop)], workdir)


def _run_scrypt_case(args: tuple[int, int, int, str]) -> Tally:
    seed, n, k, workdir = args
    return run_cases([real_scrypt_cases(seed, n)[k]], Path(workdir), real_scrypt=True)


def run_real_scrypt(seed: int, n: int, workdir: Path, *, jobs: int) -> Tally:
    """The 2014 inputs of :func:`real_scrypt_cases`, ``jobs`` at a time."""
    import multiprocessing

    corpus_for(seed)
    tasks = [(seed, n, k, str(workdir / f"scrypt{k}")) for k in range(n)]
    total = Tally()
    with multiprocessing.get_context("fork").Pool(max(1, jobs)) as pool:
        for tally in pool.imap_unordered(_run_scrypt_case, tasks):
            total.merge(tally)
    return total


def real_scrypt_cases(seed: int, n: int) -> list[Case]:
    """2014 files whose ciphertext is altered: the reader falls back to the ~11 s scrypt."""
    corpus = corpus_for(seed)
    cases = []
    for k in range(n):
        rng = random.Random(f"{seed}:scrypt:{k}")  # noqa: S311
        op, data = _b64_char_edit(rng, rng.choice(corpus.legacy))
        cases.append(Case("legacy-2014-scrypt", op, data, corpus.expect_unseal(data), index=-1 - k))
    return cases


def _run_chunk(args: tuple[int, int, int, str, bool]) -> Tally:
    seed, start, stop, workdir, fast = args
    return run_range(seed, start, stop, Path(workdir), fast=fast)


def run_parallel(
    seed: int,
    count: int,
    workdir: Path,
    *,
    jobs: int,
    fast: bool = False,
    chunk: int = 500,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Inputs 0..count in ``jobs`` forked processes (each its own corpus, same seed)."""
    import multiprocessing

    corpus_for(seed, fast=fast)  # built once, before the workers fork
    tasks = [
        (seed, s, min(s + chunk, count), str(workdir / f"w{s}"), fast)
        for s in range(0, count, chunk)
    ]
    total = Tally()
    if jobs <= 1:
        for t in tasks:
            total.merge(_run_chunk(t))
            if progress:
                progress(total)
        return total
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs, maxtasksperchild=20) as pool:
        for tally in pool.imap_unordered(_run_chunk, tasks):
            total.merge(tally)
            if progress:
                progress(total)
    return total
