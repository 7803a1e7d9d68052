"""The node directory: in RAM by default, closed to others, deleted only if htb built it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from htb import nodedir
from htb.errors import LocalSystemError
from htb.nodedir import UnsafeNodeDirError


def test_default_location_order() -> None:
    uid = os.geteuid()
    env = {"HTB_NODE_DIR": "/x/node", "XDG_RUNTIME_DIR": f"/run/user/{uid}"}
    assert nodedir.default_node_dir(env) == Path("/x/node")
    del env["HTB_NODE_DIR"]
    assert nodedir.default_node_dir(env) == Path(f"/run/user/{uid}/htb-node")
    assert nodedir.default_node_dir({}) == Path(f"/tmp/htb-{uid}/node")
    # The XDG spec: a relative (or empty) $XDG_RUNTIME_DIR is ignored.
    assert nodedir.default_node_dir({"XDG_RUNTIME_DIR": "run"}) == Path(f"/tmp/htb-{uid}/node")
    assert nodedir.default_node_dir({"HTB_NODE_DIR": ""}) == Path(f"/tmp/htb-{uid}/node")


def test_create_makes_a_private_parent_and_node_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    node = tmp_path / "htb-1000" / "node"
    nodedir.create(node)
    assert (node.parent.stat().st_mode & 0o777) == 0o700
    assert (node.stat().st_mode & 0o777) == 0o700
    assert list(node.iterdir()) == []


def test_an_existing_node_dir_is_rebuilt_empty(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    node = tmp_path / "node"
    nodedir.create(node)
    nodedir.mark(node)
    (node / "private").mkdir()
    (node / "private" / "aliases").write_text("docs: URI:DIR2:x:y\n")
    nodedir.create(node)
    assert list(node.iterdir()) == []


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777, 0o1777])
def test_a_parent_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(mode)
    with pytest.raises(UnsafeNodeDirError, match="open to other users"):
        nodedir.create(parent / "node")
    assert not (parent / "node").exists()


def test_a_symlinked_parent_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafeNodeDirError, match="symbolic link"):
        nodedir.create(tmp_path / "link" / "node")
    assert not (real / "node").exists()


def test_a_symlinked_node_dir_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "node").symlink_to(elsewhere)
    with pytest.raises(UnsafeNodeDirError, match="not a directory"):
        nodedir.create(tmp_path / "node")
    with pytest.raises(UnsafeNodeDirError):
        nodedir.remove(tmp_path / "node")
    assert elsewhere.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory of another user needs root")
def test_a_parent_of_another_user_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    parent = tmp_path / "htb-1000"
    parent.mkdir(mode=0o700)
    os.chown(parent, 12345, 12345)
    with pytest.raises(UnsafeNodeDirError, match="another user"):
        nodedir.create(parent / "node")


def test_only_a_directory_htb_built_is_deleted(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "letter.txt").write_text("precious")
    with pytest.raises(UnsafeNodeDirError, match="not a node directory htb built"):
        nodedir.remove(mine)
    with pytest.raises(UnsafeNodeDirError):
        nodedir.create(mine)
    assert (mine / "letter.txt").read_text() == "precious"

    # An empty directory, one with the marker, one an older htb wrote: deleted.
    (tmp_path / "empty").mkdir()
    nodedir.remove(tmp_path / "empty")
    built = tmp_path / "built"
    nodedir.create(built)
    nodedir.mark(built)
    (built / "tahoe.cfg").write_text("[node]\n")
    nodedir.remove(built)
    old = tmp_path / "old"
    old.mkdir()
    (old / "tahoe.cfg").write_text(
        "# Written by htb from the sealed manifest; `htb init` rewrites it.\n[node]\n"
    )
    nodedir.remove(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents"]
    nodedir.remove(tmp_path / "never-existed")  # nothing there is fine


def test_errors_are_local_system_errors() -> None:
    assert issubclass(UnsafeNodeDirError, LocalSystemError)
    assert UnsafeNodeDirError("x").exit_code == 1
