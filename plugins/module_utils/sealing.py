# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sealing options of the modules that seal a file under a passphrase.

htb_grid_manager, htb_identity_archive and htb_manifest take them; their documentation
is the doc fragment htb.grid.sealing (plugins/doc_fragments/sealing.py).
"""

from __future__ import annotations

import copy
from typing import Any

_SEALING_OPTIONS: dict[str, dict[str, Any]] = {
    "passphrase": {"type": "str", "no_log": True},
    "passphrase_file": {"type": "path"},
    "allow_weak_passphrase": {"type": "bool", "default": False},
    "kdf_opslimit": {"type": "int"},
    "kdf_memlimit_mib": {"type": "int"},
}


def sealing_argument_spec() -> dict[str, dict[str, Any]]:
    """The options' argument spec, a copy of its own for each module to extend."""
    return copy.deepcopy(_SEALING_OPTIONS)
