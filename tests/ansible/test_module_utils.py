"""The modules' shared code (plugins/module_utils): the one private-file writer of the
modules that run on a node, and the controller-side modules' import guard of htb."""

from __future__ import annotations

import os
import stat
import venv
from pathlib import Path
from types import ModuleType

import pytest
from localplay import REPO, play, results

pytestmark = pytest.mark.ansible


@pytest.fixture
def node_files(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # As ansible.cfg resolves htb.grid: the checkout's link collections/.../htb/grid.
    monkeypatch.syspath_prepend(str(REPO / "collections"))
    from ansible_collections.htb.grid.plugins.module_utils import node_files as module

    return module


@pytest.fixture
def htb_import(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "collections"))
    from ansible_collections.htb.grid.plugins.module_utils import htb_import as module

    return module


def test_owner_and_mode_come_before_the_first_byte(
    tmp_path: Path, node_files: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write finds the file already 0640 (mkstemp's own mode is 0600), of its owner.
    Mutation: fchmod (or fchown) after f.write fails it - the first write sees 0600."""
    seen: list[tuple[int, int, int]] = []
    real_fdopen = os.fdopen

    def watched(fd: int, *args: object, **kwargs: object) -> object:
        f = real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]
        real_write = f.write

        def write(data: bytes) -> int:
            st = os.fstat(f.fileno())
            seen.append((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
            return real_write(data)

        f.write = write
        return f

    monkeypatch.setattr(os, "fdopen", watched)
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    target = tmp_path / "introducers.yaml"
    node_files.write_private(str(target), b"furl", uid, gid, 0o640)
    assert seen == [(0o640, uid, gid)]
    st = target.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, uid, gid)
    assert target.read_bytes() == b"furl"


def test_a_new_file_never_replaces_one(tmp_path: Path, node_files: ModuleType) -> None:
    """replace=False leaves a file that is there (and no temporary file); control: the
    same call with replace=True replaces it. Mutation: os.replace in place of os.link in
    _place_new fails it."""
    target = tmp_path / "node.pem"
    target.write_bytes(b"the host's own key")
    ids = (os.getuid(), os.getgid())
    with pytest.raises(FileExistsError):
        node_files.write_private(str(target), b"archived key", *ids, 0o600, replace=False)
    assert target.read_bytes() == b"the host's own key"
    assert os.listdir(tmp_path) == ["node.pem"]
    node_files.write_private(str(target), b"archived key", *ids, 0o600)
    assert target.read_bytes() == b"archived key"
    assert os.listdir(tmp_path) == ["node.pem"]


def test_without_hard_links_a_new_file_still_replaces_none(
    tmp_path: Path, node_files: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem that refuses link(): the writer renames, after checking once more.
    Mutation: dropping that check (a bare os.replace) fails the first assertion."""

    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    ids = (os.getuid(), os.getgid())
    there = tmp_path / "there"
    there.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        node_files.write_private(str(there), b"new", *ids, 0o600, replace=False)
    assert there.read_bytes() == b"old"
    node_files.write_private(str(tmp_path / "new"), b"new", *ids, 0o600, replace=False)
    assert (tmp_path / "new").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["new", "there"]


def test_the_guard_keeps_import_errors_only(htb_import: ModuleType) -> None:
    """Another error inside the guard is not swallowed. Mutation: catching Exception
    in ImportGuard.__exit__ fails it."""
    guard = htb_import.ImportGuard()
    with guard:
        import htb_no_such_module  # noqa: F401
    assert guard.error and "htb_no_such_module" in guard.missing
    with pytest.raises(ZeroDivisionError), htb_import.ImportGuard():
        _ = 1 / 0


def test_a_controller_module_without_htb_says_what_to_install(tmp_path: Path) -> None:
    """Run by a Python without htb, the module fails with the one command that installs
    it; control: the same task with the Python that has htb succeeds. Mutation: leaving
    INSTALL out of htb_import.missing_text fails it."""
    task = {
        "htb_client_config": {
            "socks_port": "tcp:127.0.0.1:9050",
            "shares_needed": 1,
            "shares_happy": 1,
            "shares_total": 1,
        }
    }
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    run = play(tmp_path, task, interpreter=str(bare / "bin" / "python"))
    (res,) = results(run)
    assert run.returncode != 0 and res["failed"]
    assert "pip install 'hidden-tahoe-backup[controller]'" in res["msg"]
    assert "htb (hidden-tahoe-backup)" in res["msg"] and "No module named 'htb'" in res["msg"]
    (control,) = results(play(tmp_path, task))
    assert not control.get("failed") and control["config"]["connections"] == {"tcp": "tor"}
