"""``htb-gui``: the desktop app for the person backing up (GTK 3, PyGObject).

PyGObject is not a pip dependency: on Tails the app's virtualenv is created with
--system-site-packages and uses Debian's python3-gi and gir1.2-gtk-3.0. So GTK
is imported here, when the app starts, and never by ``import htb``.

Configuration, as the ``htb`` command's: $HTB_MANIFEST (the installed
manifest), $HTB_TAHOE, $HTB_TOR_SOCKS_PORT, $HTB_NODE_DIR, $HTB_LOCALEDIR.

Lock ends the process that held the session's secrets: Python cannot wipe its
strings (the passphrase, the manifest's caps and convergence secret, their copies
in freed memory), so after stopping the node the app replaces itself with a fresh
one, locked (:func:`relaunch`): the kernel gives the new image none of the old pages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from htb.gui.core import Config
from htb.gui.events import Failure

# Set only in the environment of the process :func:`relaunch` starts: "locked", or
# "CODE LINE" of the failure that ended the session (shown again by the new one).
LOCKED_ENV = "HTB_GUI_LOCKED"


def relaunch(failure: Failure | None = None) -> NoReturn:
    """Replace this process with the same app, started anew and locked (same pid).

    Only descriptors marked inheritable survive ``exec`` (none of the app's: Python's,
    GTK's and the node's pipe are close-on-exec), so the node's stdin pipe closes too.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    mark = "locked" if failure is None else f"{failure.code} {failure.line}"
    env = {**os.environ, LOCKED_ENV: mark}
    script = sys.orig_argv[1] if len(sys.orig_argv) > 1 else ""
    if os.path.isfile(script) and os.access(script, os.X_OK):
        # The `htb-gui` command itself (its #! names this Python): the process keeps
        # its name in the process list.
        os.execve(script, sys.orig_argv[1:], env)  # noqa: S606 - ourselves
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)  # noqa: S606


def relaunched(mark: str) -> tuple[bool, Failure | None]:
    """What :func:`relaunch` passed on: locked?, and the failure to show again, if any."""
    code, _, line = mark.partition(" ")
    if code.isdigit() and line:
        return True, Failure(line, int(code))
    return mark == "locked", None


def main(argv: Sequence[str] | None = None) -> int:
    # As `htb`: every file htb or a tahoe it starts writes is the user's alone.
    os.umask(0o077)
    # Not passed on to anything this process starts.
    locked, failure = relaunched(os.environ.pop(LOCKED_ENV, ""))
    try:
        from htb.gui import view
    except (ImportError, ValueError) as exc:
        # ValueError: gi is there but not GTK 3 (gi.require_version).
        print(
            f"htb-gui: error: GTK 3 for Python is missing ({type(exc).__name__}): install "
            "python3-gi and gir1.2-gtk-3.0, and create the virtualenv with "
            "--system-site-packages",
            file=sys.stderr,
        )
        return 1
    return view.run(Config.from_env(), locked=locked, failure=failure)


if __name__ == "__main__":
    sys.exit(main())
