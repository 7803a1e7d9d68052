"""htb.nodeconfig.grid_files: the one writer of a node's introducers.yaml and servers.yaml.

JSON text, which Tahoe reads as YAML: the tests read it back with PyYAML (and with
Tahoe's own reader) and compare with what went in, and check the files htb's node
gets are those bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ONION_FURL, manifest_data

from htb.certified import announcements
from htb.manifest import validate
from htb.nodeconfig import grid_files
from htb.tahoe import TahoeClient

TAHOE_PYTHON = Path(os.environ.get("HTB_TAHOE", "/nonexistent")).with_name("python")
STORAGE_FURL = "pb://" + "e" * 32 + "@tor:" + "f" * 56 + ".onion:3457/" + "g" * 32
# Every character Python has, in one value: the astral ones (which PyYAML reads back
# as two surrogates when JSON escapes them), C0/C1 controls, NEL and the Unicode line
# separators (which YAML folds when raw), the BOM, U+FFFE and lone surrogates.
EVERY_CHARACTER = "".join(map(chr, range(0x30000))) + "\U0010ffff"


def announcement(nickname: str = "storage-ffffffff") -> dict[str, Any]:
    return {
        "anonymous-storage-FURL": STORAGE_FURL,
        "nickname": nickname,
        "permutation-seed-base32": "aaaa",
        "scalars": [None, True, -(10**19)],
    }


def test_the_shape_tahoe_reads() -> None:
    files = grid_files({"introducer-cccccccc": ONION_FURL}, {"v0-x": {"ann": announcement()}})
    assert yaml.safe_load(files["introducers.yaml"] or "") == {
        "introducers": {"introducer-cccccccc": {"furl": ONION_FURL}}
    }
    assert yaml.safe_load(files["servers.yaml"] or "") == {
        "storage": {"v0-x": {"ann": announcement()}}
    }
    # JSON as well: htb.certified reads servers.yaml with json.loads.
    assert json.loads(files["servers.yaml"] or "") == {"storage": {"v0-x": {"ann": announcement()}}}


def test_any_text_comes_back_equal() -> None:
    # Mutation (run): json.dumps with its default ensure_ascii=True (what tahoe.py wrote
    # before) fails here: the astral characters come back as surrogate pairs.
    ann = announcement(nickname=EVERY_CHARACTER)
    text = grid_files({}, {"v0-x": {"ann": ann}})["servers.yaml"] or ""
    assert yaml.safe_load(text.encode("utf-8")) == {"storage": {"v0-x": {"ann": ann}}}


@pytest.mark.tahoe
def test_tahoes_own_reader_reads_them(tmp_path: Path) -> None:
    if not TAHOE_PYTHON.exists():
        pytest.skip("no tahoe-lafs virtualenv (HTB_TAHOE)")
    # Mutation (run): the raw text, without escaping what PyYAML cannot take, fails here.
    ann = announcement(nickname="\U0001f600 \x85 \u2028 caf\u00e9")
    files = grid_files({"p": ONION_FURL}, {"v0-x": {"ann": ann}})
    for name, text in files.items():
        (tmp_path / name).write_text(text or "", encoding="utf-8")
    read = subprocess.run(
        [
            str(TAHOE_PYTHON),
            "-c",
            "import json, sys\nfrom allmydata.util import yamlutil\n"
            "print(json.dumps([yamlutil.safe_load(open(p, 'rb')) for p in sys.argv[1:]]))",
            str(tmp_path / "introducers.yaml"),
            str(tmp_path / "servers.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(read.stdout) == [
        {"introducers": {"p": {"furl": ONION_FURL}}},
        {"storage": {"v0-x": {"ann": ann}}},
    ]


def test_the_same_grid_gives_the_same_bytes() -> None:
    # The role's second run changes nothing: the order facts arrive in does not count.
    # Mutation (run): json.dumps without sort_keys fails here.
    one = grid_files({"a": ONION_FURL, "b": STORAGE_FURL}, {"v0-1": {"ann": announcement()}})
    other = grid_files(
        {"b": STORAGE_FURL, "a": ONION_FURL},
        {"v0-1": {"ann": dict(reversed(announcement().items()))}},
    )
    assert one == other


def test_an_empty_part_removes_its_file() -> None:
    assert grid_files({}, {}) == {"introducers.yaml": None, "servers.yaml": None}
    assert grid_files({"p": ONION_FURL}, {})["servers.yaml"] is None
    assert grid_files({}, {"v0-x": {"ann": announcement()}})["introducers.yaml"] is None


def test_htbs_node_gets_those_bytes(tmp_path: Path) -> None:
    node = tmp_path / "node"
    client = TahoeClient(node_dir=node, tahoe="/bin/false")
    grid = {
        "introducers": {"default": {"furl": ONION_FURL}},
        "servers": {"v0-x": {"ann": announcement()}},
        "shares": {"needed": 1, "happy": 1, "total": 1},
    }
    manifest = validate(manifest_data(grid=grid))
    client.write_manifest(manifest, None)
    expected = grid_files({"default": ONION_FURL}, {"v0-x": {"ann": announcement()}})
    for name, text in expected.items():
        assert (node / "private" / name).read_text(encoding="utf-8") == text
        assert (node / "private" / name).stat().st_mode & 0o777 == 0o600
    assert announcements(node) == {"v0-x": announcement()}  # htb's reader of servers.yaml

    # A manifest without static servers: the old servers.yaml goes.
    client.write_manifest(validate(manifest_data()), None)
    assert not (node / "private" / "servers.yaml").exists()
