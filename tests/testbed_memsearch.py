"""testbed/gui/memsearch.py for the tests: the test bed's search of a process's memory
and Tahoe's read-only form of a cap. It runs standalone on the Tails-like laptop (no
htb and no tests/ there), so it is loaded from its path, once, for every test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "memsearch", Path(__file__).parents[1] / "testbed" / "gui" / "memsearch.py"
)
assert _spec is not None and _spec.loader is not None
memsearch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memsearch)
