"""The manifest's plaintext: JSON validated against manifest-v1.schema.json."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from htb.errors import ManifestInvalidError

MANIFEST_VERSION = 1
SCHEMA_FILE = "manifest-v1.schema.json"

_HINT_SPLIT = re.compile(r"^pb://[^@]+@([^/]+)/")


@cache
def schema() -> dict[str, Any]:
    text = resources.files("htb.manifest").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _field(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
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
    def aliases(self) -> dict[str, str]:
        aliases: dict[str, str] = self.data["aliases"]
        return aliases

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

    def non_onion_hints(self) -> list[str]:
        """Connection hints that are not Tor onions; an onion grid has none."""
        bad = []
        for furl in self.furls():
            match = _HINT_SPLIT.match(furl)
            for hint in match.group(1).split(",") if match else [furl]:
                host = hint.removeprefix("tor:").rsplit(":", 1)[0]
                if not (hint.startswith("tor:") and host.endswith(".onion")):
                    bad.append(hint)
        return bad

    def secrets(self) -> list[str]:
        """The values that grant access (rootcaps, FURLs, onion keys): never log these."""
        found = list(self.aliases.values()) + self.furls()
        for server in self.servers.values():
            found += server["ann"].get("anonymous-storage-NURLs", [])
        found += [a["private_key"] for a in self.client_auth]
        return found

    def to_json(self) -> bytes:
        return canonical_json(self.data)


def canonical_json(data: dict[str, Any]) -> bytes:
    """One byte string per content: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def validate(data: Any, *, template: bool = False) -> Manifest:
    """Validate a decoded JSON value; the error names the first offending field.

    A ``template`` (input of ``htb new-manifest``) may leave backup aliases undefined.
    """
    if isinstance(data, dict) and data.get("version") not in (None, MANIFEST_VERSION):
        raise ManifestInvalidError(
            f"manifest field version: {data.get('version')!r} is not supported "
            f"(this htb reads version {MANIFEST_VERSION})"
        )
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        err = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ManifestInvalidError(
            f"manifest field {_field(err.absolute_path)}: {err.message}{more}"
        )
    manifest = Manifest(data)
    _check_semantics(manifest, template)
    return manifest


def _check_semantics(m: Manifest, template: bool) -> None:
    needed, happy, total = m.shares
    if not needed <= happy <= total:
        raise ManifestInvalidError(
            f"manifest field grid.shares: needed ({needed}) <= happy ({happy}) <= total "
            f"({total}) does not hold"
        )
    if not m.introducers and not m.servers:
        raise ManifestInvalidError(
            "manifest field grid: needs at least one introducer or one static server"
        )
    for i, entry in enumerate(m.backups):
        if entry.alias not in m.aliases and not template:
            raise ManifestInvalidError(
                f"manifest field backups[{i}].alias: '{entry.alias}' is not defined in aliases"
            )


def loads(text: bytes | str, *, template: bool = False) -> Manifest:
    """Parse and validate plaintext manifest JSON."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestInvalidError(f"manifest is not valid JSON: {exc}") from None
    return validate(data, template=template)
