"""HTB_FAIL_ON_SKIP (set by scripts/test): a skipped test fails the run, listed.

Runs pytest with the hooks of tests/ci_skips.py on a throwaway suite. Mutation: the
hook that changes the exit status removed (or the variable not read) and the first
test fails: the run with skips exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ci_skips

TESTS = Path(__file__).resolve().parents[1]

MODULE_SKIP = 'import pytest\n\npytest.importorskip("no_such_module_anywhere")\n'
PASSING = "def test_passes():\n    assert True\n"
SKIPPING = (
    "import pytest\n\n"
    "def test_skips():\n    pytest.skip('no pip wheel here')\n\n"
    "@pytest.mark.skipif(True, reason='not on this machine')\n"
    "def test_skipped_by_marker():\n    pass\n"
)


def run(suite: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (ci_skips.ENV, "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(TESTS)
    if ci:
        env[ci_skips.ENV] = "1"
    pytest = [sys.executable, "-m", "pytest", "-p", "ci_skips", "-p", "no:cacheprovider", "-q"]
    return subprocess.run(
        [*pytest, "--rootdir", str(suite), str(suite)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_in_ci_a_skip_fails_the_run_and_is_listed(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text(PASSING)
    (tmp_path / "test_skip.py").write_text(SKIPPING)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    done = run(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout
    listed = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED test_")]
    assert listed == [
        "SKIPPED test_module_skip.py: could not import 'no_such_module_anywhere': "
        "No module named 'no_such_module_anywhere'",
        "SKIPPED test_skip.py::test_skips: no pip wheel here",
        "SKIPPED test_skip.py::test_skipped_by_marker: not on this machine",
    ], done.stdout
    assert f"{ci_skips.ENV} is set: a skipped test fails the run" in done.stdout


def test_control_without_the_variable_a_skip_stays_a_skip(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text(PASSING)
    (tmp_path / "test_skip.py").write_text(SKIPPING)
    done = run(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout


def test_control_in_ci_a_run_without_skips_passes(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text(PASSING)
    done = run(tmp_path, ci=True)
    assert done.returncode == 0, done.stdout
    assert "SKIPPED" not in done.stdout


def test_in_ci_a_failing_run_keeps_its_own_status(tmp_path: Path) -> None:
    (tmp_path / "test_skip.py").write_text(SKIPPING)
    (tmp_path / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    assert run(tmp_path, ci=True).returncode == 1
    # No test at all is pytest's 5, which scripts/test counts as a failure.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty, ci=True).returncode == 5
