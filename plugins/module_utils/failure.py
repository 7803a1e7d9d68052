# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the htb.grid modules fail: one line an operator can act on, never a secret."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ansible.module_utils.basic import AnsibleModule


class Fail(Exception):
    """A message for fail_json: one line that names paths and options, never a secret."""


@contextlib.contextmanager
def failing_on(module: AnsibleModule, *errors: type[Exception]) -> Iterator[None]:
    """The task fails with the message of a Fail, or of one of errors, raised inside."""
    caught: tuple[type[Exception], ...] = (Fail, *errors)
    try:
        yield
    except caught as exc:
        module.fail_json(msg=str(exc))
