# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller-side modules' import of htb, and their one failure when it is missing."""

from __future__ import annotations

import platform
import sys
import traceback
from types import TracebackType

from ansible.module_utils.basic import AnsibleModule

INSTALL = "pip install 'hidden-tahoe-backup[controller]'"
HTB = "htb (hidden-tahoe-backup)"
HTB_AND_NACL = "htb (hidden-tahoe-backup) and PyNaCl"


class ImportGuard:
    """Keeps the ImportError of the imports made in its with block, for require().

    A module imports htb in ``with GUARD:`` at its top, so that Ansible, ansible-doc and
    ansible-test load it where htb is missing; main() calls ``GUARD.require(module,
    reason)`` first, which fails the task there with what to install.
    """

    def __init__(self, library: str = HTB) -> None:
        self.library = library
        self.error: str | None = None
        self.missing = ""

    def __enter__(self) -> ImportGuard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if kind is None or value is None or not issubclass(kind, ImportError):
            return False
        self.error = "".join(traceback.format_exception(kind, value, tb))
        self.missing = str(value)
        return True

    def require(self, module: AnsibleModule, reason: str) -> None:
        """Fail the task if an import failed; reason completes "This is required ..."."""
        if self.error is not None:
            module.fail_json(
                msg=missing_text(self.library, reason, self.missing), exception=self.error
            )


def missing_text(library: str, reason: str, missing: str) -> str:
    """missing_required_lib's text, with the command that installs what is missing."""
    return (
        f"Failed to import the required Python library ({library}) on {platform.node()}'s"
        f" Python {sys.executable} ({missing}). This is required {reason}. Install it into"
        f" that Python with {INSTALL}, or set ansible_python_interpreter to a Python that"
        " has it (on the controller, the virtualenv's: ansible_playbook_python)."
    )
