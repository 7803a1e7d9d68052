"""The judge: the problems of one outcome, and soft findings on its message."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from hostile.cases import Case
from hostile.leaks import leaks
from hostile.plaintexts import _Bad, _constant
from hostile.runner import Outcome

#: Soft check of the message for each reason (reported, never a test failure).
MESSAGE_WORDS = {
    "too-large": r"too large",
    "not-sealed": r"not (a )?sealed|not an? (htb )?manifest|HTBM",
    "truncated": r"truncated",
    "version": r"version",
    "kdf-id": r"key.derivation|KDF",
    "kdf-cost": r"cost|KDF",
    "impossible-length": r"impossible|damaged",
    "trailing-bytes": r"damaged|trailing|unexpected bytes",
    "wrong-passphrase": r"wrong passphrase",
    "tampered": r"altered|tampered|damaged",
}


# --- judging ---------------------------------------------------------------------
def _valid_json_output(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"), parse_constant=_constant)
    except (ValueError, _Bad):
        return False
    return True


def _check_excludes(out: Outcome) -> bool:
    return json.loads(out.stdout)["backups"][0].get("excludes") == ["*.iso"]


def _check_restore_version(out: Outcome) -> bool:
    data = json.loads(out.stdout)
    versions = data.get("x-legacy-restore-versions", {})
    return "2014-05-01_12:00:00Z" in versions.values() and b"restores version" in out.stderr


CHECKS: dict[str, Callable[[Outcome], bool]] = {
    "excludes-one-pattern": _check_excludes,
    "restore-version": _check_restore_version,
}


def judge(case: Case, out: Outcome) -> list[str]:
    """The hard problems with one outcome (empty: as the rules say)."""
    problems = []
    e = case.expect
    if out.error:
        return [f"uncaught {out.error.split(':')[0]} at {out.where}"]
    if out.code == 0:
        if e.outcome == "refuse":
            problems.append(f"accepted (expected exit {'/'.join(map(str, e.codes))}: {e.reason})")
        elif case.verb == "unseal" and not _valid_json_output(out.stdout):
            problems.append("opened, but stdout is not strict JSON")
        elif case.verb != "unseal" and not out.output_file:
            problems.append("sealed, but wrote no output file")
        elif e.check and not CHECKS[e.check](out):
            problems.append(f"opened, but check {e.check} failed")
    else:
        if e.outcome == "open":
            problems.append(f"refused a valid input with exit {out.code}")
        elif out.code not in e.codes:
            problems.append(f"exit {out.code}, expected {'/'.join(map(str, e.codes))} ({e.reason})")
        lines = out.stderr.split(b"\n")
        if not (len(lines) == 2 and lines[1] == b"" and lines[0].startswith(b"htb: error: ")):
            problems.append("stderr is not exactly one 'htb: error: ...' line")
        if out.stdout:
            problems.append("refused, but wrote to stdout")
        if e.pre_kdf and out.kdf_calls:
            problems.append(f"derived a key before refusing ({e.reason})")
    found = leaks(out.stderr) + (leaks(out.stdout) if out.code else [])
    if found:
        problems.append(f"leaked {found[0][:24]}...")
    return problems


def soft_findings(case: Case, out: Outcome) -> list[str]:
    """Message wording the design suggests (reported, not a failure)."""
    if out.error or out.code in (0, None) or case.verb != "unseal":
        return []
    words = MESSAGE_WORDS.get(case.expect.reason)
    if words and not re.search(words, out.stderr.decode("utf-8", "replace"), re.IGNORECASE):
        return [f"message for {case.expect.reason} lacks /{words}/"]
    return []
