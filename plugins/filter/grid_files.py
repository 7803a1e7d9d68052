# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter htb.grid.grid_files: a Tahoe node's introducers.yaml and servers.yaml.

The text comes from htb.nodeconfig.grid_files, the one writer of these files, which
htb uses for the activist's node: the role and htb write the same bytes for the same
grid. Filters run on the controller, where the controller extra installs htb. The
documentation is grid_files.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

INSTALL = "pip install 'hidden-tahoe-backup[controller]'"


def grid_files(grid: Mapping[str, Any]) -> dict[str, str | None]:
    """``{"introducers.yaml": text or None, "servers.yaml": text or None}`` of ``grid``.

    ``grid`` is the description tahoe_node's tasks_from grid sets (the fact
    tahoe_node_grid, the manifest's ``grid`` shape): ``introducers`` (petname to
    ``{furl}``) and ``servers`` (server id to ``{ann}``); other keys are ignored.
    ``None``: the file is to be removed. No FURL is ever part of an error message.
    """
    # Imported here, so that ansible-doc, ansible-test and a play that never uses the
    # filter load this file where htb is missing.
    try:
        from htb.nodeconfig import grid_files as htb_grid_files
    except ImportError as exc:
        raise AnsibleFilterError(
            f"htb.grid.grid_files needs the htb package on the controller ({exc}): "
            f"{INSTALL}, in the Python that runs ansible-playbook"
        ) from None
    if not isinstance(grid, Mapping):
        raise AnsibleFilterError(
            f"htb.grid.grid_files takes the grid description, not a {type(grid).__name__}"
        )
    introducers = grid.get("introducers") or {}
    servers = grid.get("servers") or {}
    if not isinstance(introducers, Mapping) or not isinstance(servers, Mapping):
        raise AnsibleFilterError("htb.grid.grid_files: introducers and servers must be mappings")
    furls = {}
    for petname, entry in introducers.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("furl"), str):
            raise AnsibleFilterError(
                f"htb.grid.grid_files: introducer {petname!s} is not {{furl: FURL}}"
            )
        furls[str(petname)] = str(entry["furl"])
    for server_id, entry in servers.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("ann"), Mapping):
            raise AnsibleFilterError(
                f"htb.grid.grid_files: server {server_id!s} is not {{ann: announcement}}"
            )
    return htb_grid_files(furls, {str(k): v for k, v in servers.items()})


class FilterModule:
    """htb.grid's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"grid_files": grid_files}
