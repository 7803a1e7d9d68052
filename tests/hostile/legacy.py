"""2014 manifests: the reference reading and hostile 2014 JSON structures."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from hostile.cases import _DELETE, WRONG_TYPES, _deep_set
from hostile.expect import Expect, refuse
from hostile.format import BOM, CONTENT, TAG_LEN
from hostile.leaks import INTRO_FURL, INTRO_SWISS, INTRO_TUBID, ROOTCAP, SERVER_FURL
from hostile.manifests import legacy_manifest


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


LEGACY_OPEN = Expect("open", (), "valid-2014")
LEGACY_BAD = refuse(CONTENT, "2014-field")
LEGACY_EITHER = Expect("either", CONTENT, "2014-undecided")


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
