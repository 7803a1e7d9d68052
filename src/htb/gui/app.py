"""``htb-gui``: the desktop app for the person backing up (GTK 3, PyGObject).

PyGObject is not a pip dependency: on Tails the app's virtualenv is created with
--system-site-packages and uses Debian's python3-gi and gir1.2-gtk-3.0. So GTK
is imported here, when the app starts, and never by ``import htb``.

Configuration, as the ``htb`` command's: $HTB_MANIFEST (the installed
manifest), $HTB_TAHOE, $HTB_TOR_SOCKS_PORT, $HTB_NODE_DIR, $HTB_LOCALEDIR.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from htb.gui.core import Config


def main(argv: Sequence[str] | None = None) -> int:
    # As `htb`: every file htb or a tahoe it starts writes is the user's alone.
    os.umask(0o077)
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
    return view.run(Config.from_env())


if __name__ == "__main__":
    sys.exit(main())
