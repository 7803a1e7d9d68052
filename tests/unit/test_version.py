"""One version number and one minimum Ansible version, wherever they are written."""

from __future__ import annotations

import re
import subprocess
import sys
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
    # antsibull-changelog's record of the release, and CHANGELOG.md generated from it.
    assert version in load(REPO / "changelogs" / "changelog.yaml")["releases"]
    heading = "v" + version.replace(".", "\\.")  # markdown-escaped, as antsibull writes it
    assert f"\n## {heading}\n" in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")


def test_shipped_content_changes_come_with_a_fragment() -> None:
    """What ships (the collection's files, htb's sources: scripts/shipped-digest) is
    what the last release recorded (scripts/release), or a fragment in
    changelogs/fragments/ says what changed, so that the next release carries it under
    a new version. Mutation: any change to a role, module, playbook or src/htb file
    with changelogs/fragments/ empty fails it (tested on a copy of the tree; a
    fragment, or `scripts/release` of a new version, makes it pass)."""
    recorded_version, recorded = (REPO / "changelogs" / "shipped.sha256").read_text().split()
    assert recorded_version in load(REPO / "changelogs" / "changelog.yaml")["releases"]
    current = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "shipped-digest")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    fragments = sorted((REPO / "changelogs" / "fragments").glob("*.yml"))
    assert current == recorded or fragments, (
        f"the shipped content changed since {recorded_version} and changelogs/fragments/ "
        "is empty: add a fragment (changelogs/config.yaml says how)"
    )


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


def _collections_installed() -> set[str]:
    """namespace.name of every collection the test extra's ansible package carries."""
    import ansible_collections  # the `ansible` package's

    found = set()
    for base in map(Path, ansible_collections.__path__):
        found |= {f"{c.parent.name}.{c.name}" for c in base.glob("*/*") if c.is_dir()}
    return found


# Where the collection's content lives (galaxy.yml ships these).
CONTENT = ("roles", "playbooks", "plugins", "meta")


def test_content_needs_no_other_collection() -> None:
    """galaxy.yml declares no dependency and the controller extra is ansible-core alone:
    nothing shipped may name another collection's plugin (a filter, module, lookup,
    connection) by FQCN. Mutation: `map('community.general.dict_kv', 'host')` in a
    role's task fails it (as it did before grid_client used built-in filters)."""
    others = _collections_installed() - {"ansible.builtin", "ansible.legacy", "htb.grid"}
    assert len(others) > 20, "the test extra's ansible package is not installed"
    fqcn = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
    named = []
    files = [REPO / "site.yml"] + [
        f for d in CONTENT for f in sorted((REPO / d).rglob("*")) if f.is_file()
    ]
    for path in files:
        if path.suffix not in {".yml", ".yaml", ".j2", ".py"} or "__pycache__" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix != ".py" else line
            named += [
                f"{path.relative_to(REPO)}:{n}: {m[0]}"
                for m in fqcn.finditer(code)
                if m[1] in others
            ]
    assert not named, "content needs another collection:\n" + "\n".join(named)
    assert not load(REPO / "galaxy.yml").get("dependencies")
    extra = pyproject()["project"]["optional-dependencies"]["controller"]
    assert [re.match(r"[A-Za-z0-9_.-]+", r)[0] for r in extra] == ["ansible-core"]


def test_test_bed_collections_come_with_the_test_extra() -> None:
    """testbed/requirements.yml names the test bed's collections; the test extra's
    ansible package carries each (no Galaxy needed)."""
    listed = {c["name"] for c in load(REPO / "testbed" / "requirements.yml")["collections"]}
    assert listed
    assert listed <= _collections_installed()
    assert any(
        re.match(r"ansible\b(?!-)", r)
        for r in pyproject()["project"]["optional-dependencies"]["test"]
    )


def test_collection_carries_no_test_bed() -> None:
    """What ansible-galaxy would put in the tarball (its own selection, galaxy.yml's
    build_ignore applied): of tests/ only tests/sanity, none of the test bed, the
    tooling or the sources. Mutation: a file in a new tests/<dir>/ not in build_ignore
    fails it (run: tests/zzprobe/data.txt; a .py there is covered by tests/*.py)."""
    shipped = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "shipped-digest"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    collection = [f for f in shipped if not f.startswith("src/htb/")]
    assert any(f.startswith("roles/") for f in collection)
    test_only = ("testbed/", "extensions/", "scripts/", "src/", "bench/", "inventories/local/")
    wrong = [
        f
        for f in collection
        if f.startswith(test_only) or (f.startswith("tests/") and not f.startswith("tests/sanity/"))
    ]
    assert not wrong, wrong


def test_modules_live_in_the_collection_layout() -> None:
    """The real files are plugins/modules/; library/ (the repository's layout) links to them."""
    links = sorted((REPO / "library").glob("*.py"))
    assert links
    for link in links:
        real = REPO / "plugins" / "modules" / link.name
        assert link.is_symlink() and not real.is_symlink(), link
        assert link.resolve() == real.resolve()
