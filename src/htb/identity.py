"""The operator's identity archive: what makes each server node itself, sealed.

A node's identity is its onion service keys (Tor) and its Tahoe node's certificate,
Ed25519 key and FURL files: restore them on an empty machine before the node's first
start and it comes back at the same onion with the same FURL and server ID, so
every manifest in circulation keeps working. The archive is the project's sealed
envelope (``htb.manifest.envelope``) under the operator's passphrase, holding::

    {"htb": "identity-archive", "version": 1,
     "hosts": {<inventory host>: {"tor": {<service>: {<file>: <base64>}},
                                  "tahoe": {<node>: {<path>: <base64>}}}},
     "grid_manager_key": <base64 of the sealed key file>}        (optional)

Contents stay base64 (Tor's secret key is binary); nothing here decodes them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from htb.errors import IdentityArchiveError, SealError
from htb.manifest.envelope import DEFAULT_KDF, KdfParams, seal, unseal

_KIND = "identity-archive"
_VERSION = 1
# Names become directory names on a host: plain ones only.
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_PATH = re.compile(r"^(?:[A-Za-z0-9_.-]{1,128}/)?[A-Za-z0-9_.-]{1,128}$")

Identity = dict[str, dict[str, dict[str, str]]]


def _bad(what: str) -> IdentityArchiveError:
    return IdentityArchiveError(f"identity archive: {what}")


def _check_files(files: Any, where: str) -> dict[str, str]:
    if not isinstance(files, dict) or not files:
        raise _bad(f"{where} has no files")
    for path, content in files.items():
        if not isinstance(path, str) or not _PATH.match(path) or ".." in path.split("/"):
            raise _bad(f"{where} names a file that is not a plain relative path")
        if not isinstance(content, str):
            raise _bad(f"{where}/{path} is not base64 text")
        try:
            base64.b64decode(content, validate=True)
        except binascii.Error:
            raise _bad(f"{where}/{path} is not base64 text") from None
    return files


def check_identity(identity: Any, host: str) -> Identity:
    """One host's identity as htb_node_identity reads it; raises with one line."""
    if not isinstance(identity, dict) or set(identity) - {"tor", "tahoe"}:
        raise _bad(f"{host}: an identity has only the parts tor and tahoe")
    for part, nodes in identity.items():
        if not isinstance(nodes, dict):
            raise _bad(f"{host}: {part} is not a mapping")
        for name, files in nodes.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise _bad(f"{host}: {part} names a node that is not a plain name")
            _check_files(files, f"{host}: {part}/{name}")
    return identity


def _check_host(host: Any) -> str:
    if not isinstance(host, str) or not _NAME.match(host):
        raise _bad("a host name is not a plain name")
    return host


def seal_archive(
    hosts: dict[str, Identity],
    grid_manager_key: bytes | None,
    passphrase: str,
    kdf: KdfParams = DEFAULT_KDF,
) -> bytes:
    """The archive file's bytes."""
    data: dict[str, Any] = {
        "htb": _KIND,
        "version": _VERSION,
        "hosts": {_check_host(h): check_identity(i, h) for h, i in sorted(hosts.items())},
    }
    if grid_manager_key is not None:
        data["grid_manager_key"] = base64.b64encode(grid_manager_key).decode("ascii")
    return seal(json.dumps(data, sort_keys=True).encode("utf-8"), passphrase, kdf)


def open_archive(blob: bytes, passphrase: str) -> tuple[dict[str, Identity], bytes | None]:
    """The hosts' identities and the Grid Manager's sealed key file, if any."""
    try:
        plain = unseal(blob, passphrase)
    except SealError as exc:
        raise _bad(str(exc)) from None
    try:
        data = json.loads(plain)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("htb") != _KIND:
        raise _bad("that sealed file is not an identity archive (a manifest or a key?)")
    if data.get("version") != _VERSION:
        raise _bad(f"version {data.get('version')!r} is not one this htb reads")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict):
        raise _bad("it has no hosts")
    opened = {_check_host(h): check_identity(i, h) for h, i in hosts.items()}
    key = data.get("grid_manager_key")
    if key is None:
        return opened, None
    try:
        return opened, base64.b64decode(key, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise _bad("its Grid Manager key is not base64") from None
