"""Each role's argument spec and its defaults/main.yml tell the same story.

ansible-doc and the validation of a role's arguments read meta/argument_specs.yml;
the play reads defaults/main.yml. A default documented in one and different in the
other misleads whoever reads the documentation, and an option that is required in the
spec but has a value in defaults/main.yml is never enforced (the role's defaults count
as provided arguments).
"""

from __future__ import annotations

import re
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


# The YAML type each argument-spec `type` accepts for a default (a template is a
# string whatever the type: it is checked when it renders).
_SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _type_ok(value: Any, spec_type: str) -> bool:
    if isinstance(value, str) and "{{" in value:
        return True
    if spec_type in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, _SPEC_TYPES.get(spec_type, (object,)))


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_spec_types_match_their_defaults(role: Path) -> None:
    """A default of another type than the option's (a port list defaulting to a bare
    number, "7" for an int) is converted by the spec in some cases and crashes a task
    in others. Mutation: `type: list` on tor_socks_port (default 9050) fails it."""
    wrong = []
    for entry, spec in _specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            spec_type = option.get("type", "str")
            default = option.get("default")
            if default is None:
                continue
            if not _type_ok(default, spec_type):
                wrong.append(f"{entry}.{name}: type {spec_type}, default {default!r}")
            elif spec_type == "list" and isinstance(default, list) and "elements" in option:
                wrong += [
                    f"{entry}.{name}: elements {option['elements']}, item {item!r}"
                    for item in default
                    if not _type_ok(item, option["elements"])
                ]
    assert not wrong, f"{_role_id(role)}:\n  " + "\n  ".join(wrong)


def _set_by_tasks(node: Any, found: set[str]) -> None:
    """Names a role's tasks set themselves: register, set_fact keys, loop_var, vars."""
    if isinstance(node, list):
        for item in node:
            _set_by_tasks(item, found)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "register" and isinstance(value, str):
            found.add(value)
        elif key in ("set_fact", "ansible.builtin.set_fact", "vars") and isinstance(value, dict):
            found |= set(value)
        elif key == "loop_control" and isinstance(value, dict) and "loop_var" in value:
            found.add(value["loop_var"])
        _set_by_tasks(value, found)


@pytest.mark.parametrize("role", ROLES, ids=_role_id)
def test_role_reads_only_declared_variables(role: Path) -> None:
    """Every variable named with the role's prefix that its tasks, handlers and
    templates read is an option of its argument spec, one of its vars, or set by
    the role itself: a renamed or removed option (issue 24's *_tor_socks_port) left
    behind in a task is caught here, not by a play failing on an undefined variable.
    Mutation: renaming tor_onion_dir in roles/tor/vars/main.yml fails it."""
    declared = {name for spec in _specs(role).values() for name in (spec.get("options") or {})}
    declared |= set(_defaults(role)) | set(_load(role / "vars" / "main.yml") or {})
    reads = set()
    pattern = re.compile(rf"\b{re.escape(role.name)}_[a-z0-9_]+\b")
    for sub in ("tasks", "handlers", "templates"):
        for path in sorted((role / sub).rglob("*")) if (role / sub).is_dir() else []:
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix in (".yml", ".yaml"):
                _set_by_tasks(yaml.safe_load(text), declared)
            reads |= set(pattern.findall(text))
    undeclared = sorted(reads - declared)
    assert not undeclared, f"{_role_id(role)}: read but never declared nor set: {undeclared}"
