"""Each role's argument spec and its defaults/main.yml tell the same story.

ansible-doc and the validation of a role's arguments read meta/argument_specs.yml;
the play reads defaults/main.yml. A default documented in one and different in the
other misleads whoever reads the documentation, and an option that is required in the
spec but has a value in defaults/main.yml is never enforced (the role's defaults count
as provided arguments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(
    p for base in ("roles", "testbed/roles") for p in (REPO / base).iterdir() if p.is_dir()
)

# (role, variable) of a spec option without a default that defaults/main.yml may still
# set, and why. Empty: none today.
IN_DEFAULTS_WITHOUT_SPEC_DEFAULT: dict[tuple[str, str], str] = {}

_ABSENT = object()


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else None


def _specs(role: Path) -> dict[str, Any]:
    """Entry point name -> its spec, from meta/argument_specs.yml or meta/main.yml."""
    spec = _load(role / "meta" / "argument_specs.yml")
    if spec is None:
        spec = _load(role / "meta" / "main.yml") or {}
    return spec.get("argument_specs") or {}


def _defaults(role: Path) -> dict[str, Any]:
    return _load(role / "defaults" / "main.yml") or {}


def _same(a: Any, b: Any) -> bool:
    """Equal as parsed YAML, type included (true is not 1, "7" is not 7)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _role_id(role: Path) -> str:
    return str(role.relative_to(REPO))


def test_every_role_has_an_argument_spec() -> None:
    assert ROLES
    missing = [_role_id(r) for r in ROLES if not _specs(r)]
    assert not missing, f"roles without meta/argument_specs.yml: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_spec_defaults_are_the_defaults(role: Path) -> None:
    defaults = _defaults(role)
    wrong = []
    for entry, spec in _specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            if "default" not in option:
                continue
            actual = defaults.get(name, _ABSENT)
            if actual is _ABSENT:
                wrong.append(f"{entry}.{name}: default {option['default']!r} in the spec only")
            elif not _same(option["default"], actual):
                wrong.append(
                    f"{entry}.{name}: spec {option['default']!r}, defaults/main.yml {actual!r}"
                )
    assert not wrong, f"{_role_id(role)}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_every_default_is_documented(role: Path) -> None:
    documented = {name for spec in _specs(role).values() for name in (spec.get("options") or {})}
    undocumented = sorted(set(_defaults(role)) - documented)
    assert not undocumented, f"{_role_id(role)}: not in meta/argument_specs.yml: {undocumented}"


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_options_without_default_are_not_in_defaults(role: Path) -> None:
    defaults = _defaults(role)
    wrong = sorted(
        f"{entry}.{name}"
        for entry, spec in _specs(role).items()
        for name, option in (spec.get("options") or {}).items()
        if "default" not in option
        and name in defaults
        and (role.name, name) not in IN_DEFAULTS_WITHOUT_SPEC_DEFAULT
    )
    assert not wrong, (
        f"{_role_id(role)}: in defaults/main.yml, but no default in the spec "
        f"(a required option with a default is never enforced): {wrong}"
    )
