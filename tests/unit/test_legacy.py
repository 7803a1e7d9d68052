"""2014 hidden-tahoe-backup manifests still open, and convert to the current format."""

from __future__ import annotations

import base64
import hashlib
import json

import nacl.secret
import nacl.utils
import pytest

from htb.errors import WrongPassphraseError
from htb.manifest import open_sealed
from htb.manifest.legacy import looks_legacy

PW = "an old passphrase from 2014"
ONION = "bunnyfufufufufuf.onion"
LEGACY = {
    "type": "TahoeLAFSBackupManifest",
    "version": 1,
    "name": "MyTailsBackupManifest",
    "description": "Tails Persistent volume backup",
    "fields": {
        "introducerNodes": [f"pb://TubIDxxxxxxxxxxxxxxxxxxxxxxxxxxx@{ONION}:5432/introducer"],
        "storageNodes": {"StorageNode1": "pb://" + "a" * 32 + "@" + "b" * 16 + ".onion:1234/cc"},
        "snapshotAliases": {"tails_backup": "URI:DIR2:" + "x" * 26 + ":" + "y" * 52},
        "tails_dotfiles": {".bashrc": "/home/amnesia/Persistent/.bashrc"},
        "tasks": [
            {
                "backupAlias": "tails_backup",
                "localDirectory": "/live/persistence/TailsData_unlocked/Persistent",
                "remoteSnapshot": "Persistent",
                "restoreVersion": "Latest",
                "excludes": ["*.iso", "virtenv-*"],
            }
        ],
    },
}


def _seal_2014(key: bytes) -> bytes:
    """secretBox.py --encrypt: base64(nonce || ciphertext), printed with a newline."""
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(key).encrypt(json.dumps(LEGACY).encode(), nonce)
    return base64.b64encode(bytes(sealed)) + b"\n"


def _sha256_key(passphrase: str) -> bytes:
    return hashlib.sha256(passphrase.encode()).digest()


def test_pre_scrypt_manifest_opens_and_converts() -> None:
    sealed = _seal_2014(_sha256_key(PW))
    assert looks_legacy(sealed)
    opened = open_sealed(sealed, PW)
    assert opened.form == "legacy-2014"
    m = opened.manifest
    assert m.introducers == {
        "default": f"pb://TubIDxxxxxxxxxxxxxxxxxxxxxxxxxxx@tor:{ONION}:5432/introducer"
    }
    assert m.servers["StorageNode1"]["ann"]["anonymous-storage-FURL"].startswith(
        "pb://" + "a" * 32 + "@tor:"
    )
    assert m.non_onion_hints() == []
    assert m.aliases == LEGACY["fields"]["snapshotAliases"]
    (entry,) = m.backups
    assert entry.target == "tails_backup:Persistent"
    assert entry.local == "/live/persistence/TailsData_unlocked/Persistent"
    assert entry.excludes == ("*.iso", "virtenv-*")
    assert m.shares == (3, 6, 6)
    assert m.data["x-legacy-tails-dotfiles"] == LEGACY["fields"]["tails_dotfiles"]


@pytest.mark.slow
def test_scrypt_manifest_opens_and_wrong_passphrase_is_refused() -> None:
    k0 = _sha256_key(PW)
    key = hashlib.scrypt(k0, salt=k0[:10], n=2048, r=20, p=1000, maxmem=64 * 1024**2, dklen=32)
    sealed = _seal_2014(key)
    assert open_sealed(sealed, PW).manifest.aliases == LEGACY["fields"]["snapshotAliases"]
    with pytest.raises(WrongPassphraseError, match="2014"):
        open_sealed(_seal_2014(_sha256_key("other")), PW)


def test_legacy_can_be_refused() -> None:
    from htb.errors import NotSealedError

    with pytest.raises(NotSealedError):
        open_sealed(_seal_2014(_sha256_key(PW)), PW, allow_legacy=False)
