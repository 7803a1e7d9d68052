"""``python -m htb`` is ``htb``."""

import sys

from htb.cli import main

sys.exit(main())
