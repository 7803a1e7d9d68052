"""In CI a skipped test fails the run: scripts/test sets ``HTB_FAIL_ON_SKIP=1``.

A skipped test proves nothing, and the README and the threat model rely on the tests
they name: with the variable set, a run that would pass but skipped any test exits 1
and lists each skip with its reason. Without it (a run by hand) a skip stays a skip.
tests/conftest.py imports these hooks; tests/unit/test_ci_skips.py runs them as a
plugin (``-p ci_skips``) on a throwaway suite.
"""

from __future__ import annotations

import os

import pytest

ENV = "HTB_FAIL_ON_SKIP"
_skipped: list[str] = []


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")  # (file, line, "Skipped: why")
    return str(longrepr)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A whole module skipped (``pytest.importorskip``, ``pytest.skip`` at import)."""
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {_reason(report)}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(f"{report.nodeid}: {_reason(report)}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Only a run that would pass turns into a failure: any other status says more.
    if enabled() and _skipped and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if enabled() and _skipped:
        terminalreporter.section(f"{ENV} is set: a skipped test fails the run", red=True)
        for line in _skipped:
            terminalreporter.line(f"SKIPPED {line}")
