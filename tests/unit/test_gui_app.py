"""The desktop app's entry point without GTK: `import htb` never needs PyGObject."""

from __future__ import annotations

import subprocess
import sys

import pytest

from htb.gui import app


def test_importing_htb_and_the_core_needs_no_gi() -> None:
    code = (
        "import sys, htb, htb.cli, htb.session, htb.gui, htb.gui.core, htb.gui.app; "
        "sys.exit('gi' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_gtk_it_says_what_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "gi", None)  # import gi raises ImportError
    for name in ("htb.gui.view", "htb.gui.widgets", "htb.gui.dialogs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert app.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("htb-gui: error: GTK 3 for Python is missing")
    assert "python3-gi" in err and len(err.strip().splitlines()) == 1


def test_the_console_script_is_declared() -> None:
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    data = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["htb-gui"] == "htb.gui.app:main"
