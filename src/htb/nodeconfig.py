"""The one definition of a hide-IP Tahoe client's settings, and of a node's grid files.

A client that reaches the grid only through Tor and listens nowhere: no IP address
revealed, no Tub listener, no location to announce, every TCP connection through
Tor's SOCKS port. Written into tahoe.cfg by htb (:meth:`htb.tahoe.TahoeClient.configure`)
and by the Ansible role grid_client (through the module htb_client_config, which
calls :func:`tor_client_config` on the controller), so both nodes are configured
by the same code.

The grid a node joins, ``private/introducers.yaml`` and ``private/servers.yaml``, is
written from :func:`grid_files` alone: by htb (:meth:`htb.tahoe.TahoeClient.
write_manifest`), by the tahoe_node role (through the filter htb.grid.grid_files) and
by the tests' grid (:mod:`htb.testing.devgrid`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

Sections = dict[str, dict[str, str]]


def tor_client_config(
    socks_port: str,
    control_port: str | None,
    shares: tuple[int, int, int],
    force_foolscap: bool = False,
    grid_managers: Mapping[str, str] | None = None,
) -> Sections:
    """tahoe.cfg sections, as ``{section: {option: value}}``, of a Tor-only client.

    ``socks_port`` and ``control_port`` are Tahoe endpoints (``tcp:127.0.0.1:9050``);
    ``shares`` is (needed, happy, total). Without a control port the node speaks
    Foolscap only (``force_foolscap``), whatever ``force_foolscap`` says. With
    ``grid_managers`` (name -> public key) the node uploads only to storage servers
    certified by one of them (:func:`grid_manager_sections`).
    """
    needed, happy, total = shares
    # Tahoe 1.20 speaks its HTTPS storage protocol over Tor only through a control
    # port; without one the client must speak Foolscap only.
    if not 1 <= needed <= happy <= total:
        raise ValueError(f"shares must satisfy 1 <= needed <= happy <= total, not {shares}")
    tor = {"enabled": "true", "socks.port": socks_port}
    foolscap = force_foolscap or not control_port
    if control_port and not force_foolscap:
        tor["control.port"] = control_port
    return {
        **grid_manager_sections(grid_managers),
        "node": {
            "reveal-IP-address": "false",
            # A client never listens: nothing to announce, nothing to find.
            "tub.port": "disabled",
            "tub.location": "disabled",
        },
        "connections": {"tcp": "tor"},
        "tor": tor,
        "client": {
            "shares.needed": str(needed),
            "shares.happy": str(happy),
            "shares.total": str(total),
            "force_foolscap": "true" if foolscap else "false",
        },
    }


def grid_manager_sections(grid_managers: Mapping[str, str] | None) -> Sections:
    """``[grid_managers]``, or nothing: without it Tahoe uploads to any server announced.

    Tahoe reads the section only at start and treats an empty one as none, so the
    caller replaces the section whole.
    """
    return {"grid_managers": dict(grid_managers)} if grid_managers else {}


# What PyYAML (Tahoe's reader) refuses in a document, or reads as a line break inside
# a quoted string: written as a JSON escape instead, which YAML reads back the same.
_NOT_YAML_TEXT = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def _yaml_text(document: Mapping[str, Any]) -> str:
    """``document`` as JSON, which is YAML: what Tahoe's yaml.safe_load reads back equal.

    Sorted keys, so the same grid gives the same bytes (the role's second run
    changes nothing); characters as themselves (an escaped astral character comes
    back from PyYAML as two surrogates) except those PyYAML cannot take raw.
    """
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return _NOT_YAML_TEXT.sub(lambda m: f"\\u{ord(m[0]):04x}", text) + "\n"


def grid_files(
    introducers: Mapping[str, str], servers: Mapping[str, Mapping[str, Any]]
) -> dict[str, str | None]:
    """The text of each grid file of a node under ``private/``; ``None``: remove the file.

    ``introducers``: petname -> FURL (as :attr:`htb.manifest.Manifest.introducers`);
    ``servers``: server id -> its entry, ``{"ann": announcement}`` (as
    :attr:`htb.manifest.Manifest.servers`). A file whose part is empty is removed (Tahoe
    reads a missing file as none), so a node that stops using a part forgets it.
    """
    intro = {"introducers": {petname: {"furl": furl} for petname, furl in introducers.items()}}
    return {
        "introducers.yaml": _yaml_text(intro) if introducers else None,
        "servers.yaml": _yaml_text({"storage": dict(servers)}) if servers else None,
    }
