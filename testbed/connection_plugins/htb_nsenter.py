# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST AND DEMO ONLY: community.docker.nsenter, with pipelining.

community.docker.nsenter declares ``has_pipelining = False`` although its
exec_command already feeds ``in_data`` to the command's stdin (its put_file relies
on it). Without pipelining every module call writes its AnsiballZ file, arguments
included (passphrases, onion keys, FURLs), into the container's remote_tmp. This
plugin is the same connection with pipelining allowed, so that the test bed runs
modules the way the operator's SSH connection does with ansible.cfg's pipelining.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleError
from ansible_collections.community.docker.plugins.connection.nsenter import (
    Connection as NsenterConnection,
)

DOCUMENTATION = r"""
name: htb_nsenter
short_description: community.docker.nsenter with pipelining (test bed only)
description:
  - Runs commands in a container's namespaces with nsenter, by the PID of its systemd,
    as community.docker.nsenter does; module code and arguments go through the
    command's stdin when pipelining is on, never into a file in the container.
  - A become method that asks for a password is refused while pipelining (the parent
    plugin would read the password from a pty that replaces stdin).
author: hidden-tahoe-backup grid authors
options:
  nsenter_pid:
    description: PID whose namespaces are entered (the container's systemd).
    type: int
    default: 1
    vars:
      - name: ansible_nsenter_pid
    env:
      - name: ANSIBLE_NSENTER_PID
    ini:
      - section: nsenter_connection
        key: nsenter_pid
extends_documentation_fragment:
  - connection_pipelining
"""


class Connection(NsenterConnection):  # type: ignore[misc]
    """community.docker.nsenter that pipelines."""

    transport = "htb_nsenter"
    has_pipelining = True

    def exec_command(
        self, cmd: Any, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        if in_data is not None and sudoable and self.become and self.become.expect_prompt():
            raise AnsibleError(
                "htb_nsenter: pipelining cannot pass through a become password prompt"
                " (set ansible_pipelining: false for this host, or become without a password)"
            )
        result: tuple[int, bytes, bytes] = super().exec_command(
            cmd, in_data=in_data, sudoable=sudoable
        )
        return result
