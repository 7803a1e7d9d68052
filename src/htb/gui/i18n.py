"""gettext for the desktop app: the ``htb`` domain, English when no catalogue is installed."""

from __future__ import annotations

import gettext
import os

# $HTB_LOCALEDIR for a catalogue outside the system's (a virtualenv on Tails).
_translation = gettext.translation("htb", os.environ.get("HTB_LOCALEDIR"), fallback=True)
_ = _translation.gettext
ngettext = _translation.ngettext
