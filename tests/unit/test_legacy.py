"""2014 hidden-tahoe-backup manifests still open, and convert to the current format."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import nacl.secret
import nacl.utils
import pytest
from hostile.manifests import legacy_manifest

from htb.errors import ManifestInvalidError, WrongPassphraseError
from htb.manifest import TEST_KDF, open_sealed, seal
from htb.manifest.legacy import (
    RESTORE_VERSIONS,
    convert,
    legacy_loads,
    looks_legacy,
    restore_version_warnings,
)

PW = "an old passphrase from 2014"
ONION = "bunnyfufufufufuf.onion"
LEGACY = legacy_manifest(
    introducer=f"pb://TubIDxxxxxxxxxxxxxxxxxxxxxxxxxxx@{ONION}:5432/introducer",
    storage="pb://" + "a" * 32 + "@" + "b" * 16 + ".onion:1234/cc",
    rootcap="URI:DIR2:" + "x" * 26 + ":" + "y" * 52,
)


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


# --- defect 7: hand-written 2014 manifests ---------------------------------------------
def _legacy(**fields: Any) -> dict[str, Any]:
    """LEGACY with some of its ``fields`` replaced (DROP removes one)."""
    old = copy.deepcopy(LEGACY)
    for key, value in fields.items():
        if value is DROP:
            old["fields"].pop(key)
        else:
            old["fields"][key] = value
    return old


DROP = object()
TASK = LEGACY["fields"]["tasks"][0]


def _task(**changes: Any) -> list[dict[str, Any]]:
    task = copy.deepcopy(TASK)
    for key, value in changes.items():
        if value is DROP:
            task.pop(key)
        else:
            task[key] = value
    return [task]


@pytest.mark.parametrize(
    ("old", "message"),
    [
        pytest.param(
            _legacy(tasks=_task(backupAlias=DROP)),
            "2014 manifest field fields.tasks[0].backupAlias: missing",
            id="defect-7-no-backupAlias",
        ),
        pytest.param(
            _legacy(storageNodes=["pb://" + "a" * 32 + "@b.onion:1/c"]),
            "2014 manifest field fields.storageNodes: must be an object (nickname -> FURL), "
            "not a list",
            id="defect-7-storageNodes-list",
        ),
        pytest.param(
            _legacy(tasks=["tails_backup:Persistent"]),
            "2014 manifest field fields.tasks[0]: must be an object (a task), not a string",
            id="defect-7-task-string",
        ),
        pytest.param(
            _legacy(tasks=_task(remoteSnapshot=DROP)),
            "2014 manifest field fields.tasks[0].remoteSnapshot: missing",
            id="no-remoteSnapshot",
        ),
        pytest.param(
            _legacy(tasks=_task(localDirectory=7)),
            "2014 manifest field fields.tasks[0].localDirectory: must be a string",
            id="localDirectory-number",
        ),
        pytest.param(
            _legacy(tasks=_task(localDirectory="relative")),
            "2014 manifest field fields.tasks[0].localDirectory: must be an absolute path",
            id="localDirectory-relative",
        ),
        pytest.param(
            _legacy(tasks=_task(remoteSnapshot="../up")),
            "2014 manifest field fields.tasks[0].remoteSnapshot: must be a relative path",
            id="remoteSnapshot-escape",
        ),
        pytest.param(
            _legacy(tasks=_task(backupAlias="nosuch")),
            "2014 manifest field fields.tasks[0].backupAlias: 'nosuch' is not defined in "
            "fields.snapshotAliases",
            id="alias-undefined",
        ),
        pytest.param(
            _legacy(tasks=_task(excludes=["*.iso", 3])),
            "2014 manifest field fields.tasks[0].excludes[1]: must be a string",
            id="excludes-number",
        ),
        pytest.param(
            _legacy(tasks=_task(excludes={"a": 1})),
            "2014 manifest field fields.tasks[0].excludes: must be a list of patterns or one "
            "pattern, not an object",
            id="excludes-object",
        ),
        pytest.param(
            _legacy(tasks=_task(excludes="")),
            "2014 manifest field fields.tasks[0].excludes[0]: must be at least 1 character long",
            id="excludes-empty-string",
        ),
        pytest.param(
            _legacy(tasks=_task(restoreVersion=2)),
            "2014 manifest field fields.tasks[0].restoreVersion: must be a string",
            id="restoreVersion-number",
        ),
        pytest.param(
            _legacy(tasks={"backupAlias": "tails_backup"}),
            "2014 manifest field fields.tasks: must be a list (of task objects), not an object",
            id="tasks-object",
        ),
        pytest.param(
            _legacy(introducerNodes="pb://x@y/z"),
            "2014 manifest field fields.introducerNodes: must be a list (of FURL strings), "
            "not a string",
            id="introducers-string",
        ),
        pytest.param(
            _legacy(introducerNodes=[{"furl": "pb://x@y/z"}]),
            "2014 manifest field fields.introducerNodes[0]: must be a string",
            id="introducer-object",
        ),
        pytest.param(
            _legacy(introducerNodes=["http://example.org/"]),
            "2014 manifest field fields.introducerNodes[0]: not a FURL",
            id="introducer-not-furl",
        ),
        pytest.param(
            _legacy(storageNodes={"StorageNode1": 5}),
            "2014 manifest field fields.storageNodes.StorageNode1: must be a string",
            id="storage-node-number",
        ),
        pytest.param(
            _legacy(storageNodes={"Storage Node 1": "pb://" + "a" * 32 + "@b.onion:1/c"}),
            "2014 manifest field fields.storageNodes: a nickname must be 1 to 200 characters",
            id="nickname-space",
        ),
        pytest.param(
            _legacy(introducerNodes=DROP, storageNodes=DROP),
            "2014 manifest field fields: needs at least one of introducerNodes or storageNodes",
            id="no-grid",
        ),
        pytest.param(
            _legacy(snapshotAliases=["URI:DIR2:x:y"]),
            "2014 manifest field fields.snapshotAliases: must be an object (alias -> directory "
            "capability), not a list",
            id="aliases-list",
        ),
        pytest.param(
            _legacy(snapshotAliases={"tails_backup": None}),
            "2014 manifest field fields.snapshotAliases.tails_backup: must be a string",
            id="alias-null",
        ),
        pytest.param(
            _legacy(snapshotAliases={"tails backup": "URI:DIR2:a:b"}),
            "2014 manifest field fields.snapshotAliases: an alias must be 1 to 64",
            id="alias-name",
        ),
        pytest.param(
            {**LEGACY, "fields": []},
            "2014 manifest field fields: must be an object, not a list",
            id="fields-list",
        ),
        pytest.param(
            {k: v for k, v in LEGACY.items() if k != "fields"},
            "2014 manifest field fields: missing",
            id="no-fields",
        ),
        pytest.param(
            {**LEGACY, "name": ["x"]},
            "2014 manifest field name: must be a string",
            id="name-list",
        ),
        pytest.param(
            {**LEGACY, "type": "Other"},
            "not a 2014 hidden-tahoe-backup manifest",
            id="type",
        ),
    ],
)
def test_defect_7_every_2014_field_is_checked(old: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestInvalidError) as info:
        convert(old)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_defect_7_one_exclude_string_is_one_pattern() -> None:
    (entry,) = convert(_legacy(tasks=_task(excludes="*.iso"))).backups
    assert entry.excludes == ("*.iso",)
    (entry,) = convert(_legacy(tasks=_task(excludes=[]))).backups
    assert entry.excludes == ()
    (entry,) = convert(_legacy(tasks=_task(excludes=DROP))).backups
    assert entry.excludes == ()


def test_defect_7_a_restore_version_is_kept_and_warned_about() -> None:
    tasks = _task(restoreVersion="Archives/2014-05-01_12:00:00Z")
    tasks += _task(remoteSnapshot="dotgnupg")  # Latest
    tasks += _task(remoteSnapshot="dotssh", restoreVersion=DROP)
    m = convert(_legacy(tasks=tasks))
    assert m.data[RESTORE_VERSIONS] == {"tails_backup:Persistent": "Archives/2014-05-01_12:00:00Z"}
    assert restore_version_warnings(m) == [
        "2014 task 1 restores version Archives/2014-05-01_12:00:00Z; htb restores Latest "
        "unless you pass --snapshot"
    ]
    assert restore_version_warnings(convert(LEGACY)) == []
    assert RESTORE_VERSIONS not in convert(LEGACY).data
    # the extension field survives sealing and opening
    sealed = seal(m, "x", kdf=TEST_KDF)
    assert open_sealed(sealed, "x").manifest.data[RESTORE_VERSIONS] == m.data[RESTORE_VERSIONS]


def test_defect_7_unprintable_restore_version_is_refused() -> None:
    """It is printed in a warning: no terminal escapes, no second line."""
    for version in ["a\x1b[2Jb", "Latest\nhtb: fake message", "", "v" * 201]:
        with pytest.raises(ManifestInvalidError, match=r"tasks\[0\]\.restoreVersion: must be"):
            convert(_legacy(tasks=_task(restoreVersion=version)))
    m = convert(_legacy(tasks=_task(restoreVersion="Archives/x")))
    m.data[RESTORE_VERSIONS]["tails_backup:Persistent"] = "a\x1b[2J"  # a hand-made v1 file
    (line,) = restore_version_warnings(m)
    assert "\x1b" not in line


def test_defect_7_storage_nodes_keyed_by_nickname_with_tor_hints() -> None:
    m = convert(
        _legacy(
            storageNodes={
                "n1": "pb://" + "a" * 32 + "@" + "b" * 16 + ".onion:1234,10.0.0.1:99/cc",
                "n:2": "pb://" + "d" * 32 + "@tor:" + "e" * 56 + ".onion:1/ff",
            }
        )
    )
    assert m.servers == {
        "n1": {
            "ann": {
                "nickname": "n1",
                "anonymous-storage-FURL": "pb://"
                + "a" * 32
                + "@tor:"
                + "b" * 16
                + ".onion:1234,tcp:10.0.0.1:99/cc",
            }
        },
        "n:2": {
            "ann": {
                "nickname": "n:2",
                "anonymous-storage-FURL": "pb://" + "d" * 32 + "@tor:" + "e" * 56 + ".onion:1/ff",
            }
        },
    }
    assert m.non_onion_hints() == ["tcp:10.0.0.1:99"]


def test_defect_7_optional_fields_may_be_absent() -> None:
    m = convert(_legacy(storageNodes=DROP, tasks=DROP, snapshotAliases=DROP))
    assert (m.backups, m.aliases, m.servers) == ([], {}, {})
    assert set(m.introducers) == {"default"}


def test_defect_4_hostile_2014_json_is_refused() -> None:
    for plaintext, problem in [
        (b"[" * 100_000, "nested more than 64"),
        (b'{"type":' + b"1" * 5000 + b"}", "more than 20 digits"),
        (b'{"type":1,"type":2}', "twice"),
        (b"[]", "not a JSON object"),
    ]:
        with pytest.raises(ManifestInvalidError, match=problem):
            legacy_loads(plaintext)


SECRET_SWISS = "swissnumSECRET" + "s" * 18
SECRET_FURL = f"pb://tubidSECRET{'t' * 21}@{'b' * 16}.onion:1234/{SECRET_SWISS}"
SECRET_CAP = "URI:DIR2:" + "writekeysecret" + "w" * 12 + ":" + "fingerprintsecret" + "f" * 35


@pytest.mark.parametrize(
    "old",
    [
        _legacy(introducerNodes=[SECRET_FURL + " "]),
        _legacy(introducerNodes=[SECRET_FURL.replace("pb://", "pb:/")]),
        _legacy(storageNodes={"n": SECRET_FURL + "\n"}),
        _legacy(storageNodes={SECRET_FURL: SECRET_FURL}),
        _legacy(storageNodes=[SECRET_FURL]),
        _legacy(snapshotAliases={"tails_backup": SECRET_CAP + " "}),
        _legacy(snapshotAliases={SECRET_CAP: SECRET_CAP}),
        _legacy(snapshotAliases={"tails_backup": [SECRET_CAP]}),
        _legacy(tasks=_task(backupAlias=SECRET_CAP)),
        _legacy(tasks=_task(remoteSnapshot="/" + SECRET_CAP)),
        _legacy(tasks=_task(localDirectory=SECRET_CAP)),
        _legacy(tasks=[SECRET_CAP]),
        _legacy(tasks=_task(restoreVersion=[SECRET_CAP])),
        {**_legacy(), "name": SECRET_CAP * 10},
    ],
)
def test_defect_8_2014_messages_never_echo_a_secret(old: dict[str, Any]) -> None:
    old["fields"].setdefault("snapshotAliases", {})
    with pytest.raises(ManifestInvalidError) as info:
        convert(old)
    message = str(info.value)
    for secret in (SECRET_FURL, SECRET_SWISS, SECRET_CAP, "SECRET", "secret"):
        assert secret not in message, message


def test_defect_7_through_a_sealed_2014_file() -> None:
    old = _legacy(tasks=_task(excludes="*.iso", restoreVersion="Archives/x"))
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_sha256_key(PW)).encrypt(json.dumps(old).encode(), nonce)
    m = open_sealed(base64.b64encode(bytes(box)) + b"\n", PW).manifest
    assert m.backups[0].excludes == ("*.iso",)
    assert m.data[RESTORE_VERSIONS] == {"tails_backup:Persistent": "Archives/x"}
    broken = _legacy(tasks=_task(backupAlias=DROP))
    box = nacl.secret.SecretBox(_sha256_key(PW)).encrypt(json.dumps(broken).encode(), nonce)
    with pytest.raises(ManifestInvalidError, match=r"fields\.tasks\[0\]\.backupAlias: missing"):
        open_sealed(base64.b64encode(bytes(box)) + b"\n", PW)


def test_a_restore_version_that_could_be_a_secret_is_not_shown() -> None:
    cap = "URI:DIR2:" + "q" * 26 + ":" + "r" * 52
    m = convert(_legacy(tasks=_task(restoreVersion=cap)))
    (line,) = restore_version_warnings(m)
    assert "q" * 21 not in line
    assert "(a name that cannot be shown)" in line
