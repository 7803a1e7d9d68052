"""One version number and one minimum Ansible version, wherever they are written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import htb

REPO = Path(__file__).resolve().parents[2]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    assert match, version
    return int(match[1]), int(match[2])


def test_one_version_number() -> None:
    version = pyproject()["project"]["version"]
    assert load(REPO / "galaxy.yml")["version"] == version
    assert htb.__version__ == version
    assert f"\n## {version}\n" in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")


def test_one_minimum_ansible_version() -> None:
    pins = [
        req
        for req in pyproject()["project"]["optional-dependencies"]["controller"]
        if re.match(r"ansible-core\b", req)
    ]
    assert len(pins) == 1, pins
    floor = re.search(r">=\s*([0-9.]+)", pins[0])
    assert floor, pins[0]
    minimum = major_minor(floor[1])

    runtime = load(REPO / "meta" / "runtime.yml")["requires_ansible"]
    assert re.fullmatch(r">=\s*[0-9.]+", runtime), runtime
    assert major_minor(runtime.lstrip(">= ")) == minimum

    metas = sorted(REPO.glob("roles/*/meta/main.yml")) + sorted(
        REPO.glob("testbed/roles/*/meta/main.yml")
    )
    assert metas
    for meta in metas:
        declared = str(load(meta)["galaxy_info"]["min_ansible_version"])
        assert major_minor(declared) == minimum, meta.relative_to(REPO)


def test_collection_dependencies_are_in_requirements() -> None:
    wanted = load(REPO / "galaxy.yml").get("dependencies") or {}
    listed = {c["name"] for c in load(REPO / "requirements.yml")["collections"]}
    assert set(wanted) <= listed


def test_collection_carries_no_test_bed() -> None:
    ignored = set(load(REPO / "galaxy.yml")["build_ignore"])
    for path in ("testbed", "molecule", "tests", "scripts", "src", "inventories/local"):
        assert path in ignored, path


def test_modules_live_in_the_collection_layout() -> None:
    """The real files are plugins/modules/; library/ (the repository's layout) links to them."""
    links = sorted((REPO / "library").glob("*.py"))
    assert links
    for link in links:
        real = REPO / "plugins" / "modules" / link.name
        assert link.is_symlink() and not real.is_symlink(), link
        assert link.resolve() == real.resolve()
