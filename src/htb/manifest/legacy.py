"""Reading manifests sealed by the original hidden-tahoe-backup (2014).

Its ``secretBox.py`` wrote ``base64(nonce || SecretBox ciphertext)`` with no
header. The key was ``scrypt(k0, salt=k0[:10], N=2048, r=20, p=1000)`` with
``k0 = sha256(passphrase)``; before its last commit, plainly ``k0``. Both are
tried. Weaknesses the current format fixes: the salt is derived from the
passphrase (same passphrase, same key: precomputation works), and nothing
records the format or the KDF, so neither can ever be raised.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import nacl.exceptions
import nacl.secret

from htb.errors import ManifestInvalidError, NotSealedError, WrongPassphraseError
from htb.manifest.schema import (
    MANIFEST_VERSION,
    Manifest,
    check_part,
    parse_json,
    safe_name,
    validate,
)

_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
NONCE_LEN = nacl.secret.SecretBox.NONCE_SIZE
_SERVER_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,200}")  # fullmatch
LATEST = "Latest"
RESTORE_VERSIONS = "x-legacy-restore-versions"  # "<alias>:<path>" -> 2014 restoreVersion


def legacy_keys(passphrase: str) -> Iterator[bytes]:
    """The keys the original tool could have used, the cheap one first (scrypt: ~11 s)."""
    k0 = hashlib.sha256(passphrase.encode("utf-8")).digest()
    yield k0
    yield hashlib.scrypt(k0, salt=k0[:10], n=2048, r=20, p=1000, maxmem=64 * 1024**2, dklen=32)


def looks_legacy(data: bytes) -> bool:
    """Base64 text long enough to hold a nonce and a tag, and nothing else."""
    stripped = data.strip()
    if not stripped or not _B64.match(stripped):
        return False
    try:
        raw = base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= NONCE_LEN + nacl.secret.SecretBox.MACBYTES


def legacy_unseal(data: bytes, passphrase: str) -> bytes:
    """Decrypt an original hidden-tahoe-backup manifest; returns its JSON bytes."""
    if not looks_legacy(data):
        raise NotSealedError("not a hidden-tahoe-backup (2014) sealed manifest")
    raw = base64.b64decode(b"".join(data.strip().split()))
    nonce, ciphertext = raw[:NONCE_LEN], raw[NONCE_LEN:]
    for key in legacy_keys(passphrase):
        try:
            return nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
        except nacl.exceptions.CryptoError:
            continue
    raise WrongPassphraseError(
        "this 2014 hidden-tahoe-backup manifest does not open with that passphrase "
        "(or it was altered: that format cannot tell the two apart)"
    )


def _tor_hint(hint: str) -> str:
    """``xxx.onion:5432`` meant "via Tor" in 2014; say so explicitly now."""
    if hint.startswith(("tor:", "tcp:")):
        return hint
    host = hint.rsplit(":", 1)[0]
    return f"tor:{hint}" if host.endswith(".onion") else f"tcp:{hint}"


def _convert_furl(furl: str) -> str:
    match = re.match(r"^(pb://[^@]+@)([^/]+)(/.*)$", furl, re.DOTALL)
    if not match:
        return furl  # check_part names the field
    hints = ",".join(_tor_hint(h) for h in match.group(2).split(","))
    return f"{match.group(1)}{hints}{match.group(3)}"


def _key(where: str, key: str) -> str:
    """``where.key``, the key shown only if it is a plain name."""
    return f"{where}.{safe_name(key) or '?'}"


def _bad(where: str, problem: str) -> NoReturn:
    raise ManifestInvalidError(f"2014 manifest field {where}: {problem}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        _bad(where, "must be a string")
    return value


def _furl(value: Any, where: str) -> str:
    furl = _convert_furl(_string(value, where))
    check_part(furl, "/$defs/furl", f"2014 manifest field {where}")
    return furl


def _object(container: dict[str, Any], key: str, where: str, shape: str) -> dict[str, Any]:
    value = container.get(key, {})
    if not isinstance(value, dict):
        _bad(f"{where}.{key}", f"must be an object ({shape}), not {_kind(value)}")
    return value


def _list(container: dict[str, Any], key: str, where: str, shape: str) -> list[Any]:
    value = container.get(key, [])
    if not isinstance(value, list):
        _bad(f"{where}.{key}", f"must be a list ({shape}), not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """The JSON type of a value, to say what was found (never the value)."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _introducers(f: dict[str, Any]) -> dict[str, Any]:
    furls = _list(f, "introducerNodes", "fields", "of FURL strings")
    return {
        ("default" if i == 0 else f"introducer{i}"): {
            "furl": _furl(furl, f"fields.introducerNodes[{i}]")
        }
        for i, furl in enumerate(furls)
    }


def _servers(f: dict[str, Any]) -> dict[str, Any]:
    """Keyed by nickname: the 2014 format has no server ids."""
    nodes = _object(f, "storageNodes", "fields", "nickname -> FURL")
    servers = {}
    for nick, furl in nodes.items():
        if not _SERVER_KEY.fullmatch(nick):
            _bad(
                "fields.storageNodes",
                "a nickname must be 1 to 200 characters of A-Z a-z 0-9 _ . : - "
                "(it becomes the server's key)",
            )
        where = _key("fields.storageNodes", nick)
        servers[nick] = {"ann": {"nickname": nick, "anonymous-storage-FURL": _furl(furl, where)}}
    return servers


def _aliases(f: dict[str, Any]) -> dict[str, str]:
    aliases = _object(f, "snapshotAliases", "fields", "alias -> directory capability")
    for alias, cap in aliases.items():
        if not safe_name(alias):
            _bad("fields.snapshotAliases", "an alias must be 1 to 64 of A-Z a-z 0-9 _ . -")
        where = _key("fields.snapshotAliases", alias)
        check_part(
            _string(cap, where),
            "/properties/aliases/additionalProperties",
            f"2014 manifest field {where}",
        )
    return dict(aliases)


def _task(task: Any, i: int, aliases: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """One ``backups[]`` entry, and the task's restoreVersion unless it is "Latest"."""
    where = f"fields.tasks[{i}]"
    if not isinstance(task, dict):
        _bad(where, f"must be an object (a task), not {_kind(task)}")
    entry: dict[str, Any] = {}
    for old, new in (
        ("backupAlias", "alias"),
        ("remoteSnapshot", "path"),
        ("localDirectory", "local"),
    ):
        if old not in task:
            _bad(f"{where}.{old}", "missing")
        value = _string(task[old], f"{where}.{old}")
        check_part(
            value,
            f"/properties/backups/items/properties/{new}",
            f"2014 manifest field {where}.{old}",
        )
        entry[new] = value
    if entry["alias"] not in aliases:
        _bad(f"{where}.backupAlias", f"'{entry['alias']}' is not defined in fields.snapshotAliases")
    excludes = task.get("excludes", [])
    if isinstance(excludes, str):
        excludes = [excludes]  # one pattern, never its characters
    if not isinstance(excludes, list):
        _bad(
            f"{where}.excludes", f"must be a list of patterns or one pattern, not {_kind(excludes)}"
        )
    for j, pattern in enumerate(excludes):
        field = f"{where}.excludes[{j}]"
        check_part(
            _string(pattern, field),
            "/properties/backups/items/properties/excludes/items",
            f"2014 manifest field {field}",
        )
    if excludes:
        entry["excludes"] = list(excludes)
    version = _string(task.get("restoreVersion", LATEST), f"{where}.restoreVersion")
    if not (version.isprintable() and 1 <= len(version) <= 200):
        # It is shown in a warning: no control characters, no line breaks.
        _bad(f"{where}.restoreVersion", "must be printable text of 1 to 200 characters")
    return entry, (None if version == LATEST else version)


def convert(old: dict[str, Any]) -> Manifest:
    """Map the 2014 JSON (``fields.introducerNodes`` etc.) onto manifest version 1.

    Every field is type-checked; an error names the 2014 field, never its value.
    """
    if old.get("type") != "TahoeLAFSBackupManifest":
        raise ManifestInvalidError(
            "not a 2014 hidden-tahoe-backup manifest (type TahoeLAFSBackupManifest)"
        )
    if "fields" not in old:
        _bad("fields", "missing")
    f = old["fields"]
    if not isinstance(f, dict):
        _bad("fields", f"must be an object, not {_kind(f)}")
    introducers = _introducers(f)
    servers = _servers(f)
    if not introducers and not servers:
        _bad("fields", "needs at least one of introducerNodes or storageNodes")
    aliases = _aliases(f)
    backups = []
    versions: dict[str, str] = {}
    for i, task in enumerate(_list(f, "tasks", "fields", "of task objects")):
        entry, version = _task(task, i, aliases)
        backups.append(entry)
        if version is not None:
            versions[f"{entry['alias']}:{entry['path']}"] = version
    grid: dict[str, Any] = {
        # The original always wrote 3-of-6 with happy = total.
        "shares": {"needed": 3, "happy": 6, "total": 6},
    }
    if introducers:
        grid["introducers"] = introducers
    if servers:
        grid["servers"] = servers
    new: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "grid": grid,
        "aliases": aliases,
        "backups": backups,
    }
    for key in ("name", "description"):
        if key in old:
            check_part(_string(old[key], key), f"/properties/{key}", f"2014 manifest field {key}")
            new[key] = old[key]
    if f.get("tails_dotfiles"):
        new["x-legacy-tails-dotfiles"] = f["tails_dotfiles"]
    if versions:
        new[RESTORE_VERSIONS] = versions
    try:
        return validate(new)
    except ManifestInvalidError as exc:
        raise ManifestInvalidError(f"2014 manifest, once converted: {exc}") from None


# Snapshot names are timestamps such as 2026-11-26_22:33:24Z (2014: Archives/<name>).
_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9_.:+/-]{1,100}")
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9]{21}")


def _shown_version(version: str) -> bool:
    return bool(_SNAPSHOT_NAME.fullmatch(version)) and not _KEY_MATERIAL.search(version)


def restore_version_warnings(manifest: Manifest) -> list[str]:
    """One line per 2014 task whose restoreVersion was not "Latest" (for unseal/convert).

    N counts tasks from 1. V is shown only if it looks like a snapshot name (a
    hand-written file may hold anything there, a capability pasted by mistake too).
    """
    versions = manifest.data.get(RESTORE_VERSIONS)
    if not isinstance(versions, dict):
        return []
    lines = []
    for n, entry in enumerate(manifest.backups, 1):
        version = versions.get(entry.target)
        if isinstance(version, str):
            shown = version if _shown_version(version) else "(a name that cannot be shown)"
            lines.append(
                f"2014 task {n} restores version {shown}; htb restores Latest unless you "
                "pass --snapshot"
            )
    return lines


def legacy_loads(plaintext: bytes) -> Manifest:
    """The 2014 JSON, read by the same rules as a manifest's (depth, numbers, keys...)."""
    return convert(parse_json(plaintext, "2014 manifest"))
