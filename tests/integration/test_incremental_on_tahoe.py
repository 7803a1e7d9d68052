"""What an incremental `htb backup` asks of the grid and of the passphrase (issue 25, item 4).

Counted through the real code paths, against a real Tahoe grid on 127.0.0.1:
libsodium's Argon2id (the spy calls the real one) and the node's web API requests
(the spy opens the real URL). Over Tor each directory change costs round trips, and
the passphrase's KDF a second of a laptop's time: their counts are the behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id
import pytest
from conftest import GridHarness, make_tree

from htb import cli, tahoe
from htb.manifest import KdfParams, seal

pytestmark = [pytest.mark.tahoe]

PW = "lantern mosaic unpaved fidelity outsmart gurgle quarrel"
CHEAP = KdfParams(opslimit=1, memlimit=8192)


class Spy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kdf_runs = 0
        self.posts: list[str] = []
        real_kdf, real_urlopen = nacl.pwhash.argon2id.kdf, tahoe._urlopen

        def kdf(*args: Any, **kwargs: Any) -> bytes:
            self.kdf_runs += 1
            return real_kdf(*args, **kwargs)

        def urlopen(url: str, timeout: float, data: bytes | None = None) -> Any:
            if data is not None:
                self.posts.append(url.rsplit("?", 1)[-1])
            return real_urlopen(url, timeout, data)

        monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", kdf)
        monkeypatch.setattr(tahoe, "_urlopen", urlopen)

    def reset(self) -> None:
        self.kdf_runs, self.posts = 0, []


def test_incremental_backup_derives_once_and_records_the_top_mode_only_when_it_changes(
    tahoe_grid: GridHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mutations: unsealing twice (e.g. the backupdb's key from the passphrase) makes
    # kdf_runs 2; recording the mode whatever Latest carries makes the second backup's
    # set_children 2; never relinking Latest makes the third's 1 (and the contract test
    # test_every_snapshot_keeps_its_top_mode_across_incremental_backups fail).
    src = tmp_path / "documents"
    make_tree(src)
    node = tmp_path / "node"
    client = tahoe_grid.started_client(node)
    try:
        cap = client.create_alias("incr")
        manifest = tahoe_grid.manifest(
            {"incr": cap}, [{"alias": "incr", "path": "laptop/documents", "local": str(src)}]
        )
        sealed = tmp_path / "manifest.htbm"
        sealed.write_bytes(seal(manifest, PW, kdf=CHEAP))
        monkeypatch.setenv("HTB_PASSPHRASE", PW)
        spy = Spy(monkeypatch)
        backup = ["backup", "-m", str(sealed), "-d", str(node)]

        assert cli.main(backup) == 0  # the first: Latest gets the mode
        assert spy.kdf_runs == 1
        assert sorted(spy.posts) == ["t=set_children", "t=set_children"]
        assert sealed.with_name(sealed.name + ".backupdb").is_file()

        spy.reset()
        (src / "a.txt").write_text("one more line\n")
        assert cli.main(backup) == 0
        assert spy.kdf_runs == 1
        assert spy.posts == []  # the mode did not change: nothing to record

        spy.reset()
        src.chmod(0o750)
        (src / "a.txt").write_text("and another\n")
        assert cli.main(backup) == 0
        assert spy.posts == ["t=set_children", "t=set_children"]  # the mode changed
    finally:
        client.stop()
