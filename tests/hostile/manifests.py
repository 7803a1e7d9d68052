"""The originals: valid manifests, current and 2014, and their canonical JSON."""

from __future__ import annotations

import json
from typing import Any

from hostile.leaks import (
    CLIENT_AUTH_KEY,
    INTRO_FURL,
    INTRO_SWISS,
    INTRO_TUBID,
    NURL,
    ROOTCAP,
    SERVER_FURL,
    SERVER_TUBID,
    SHARED_CAP,
)


def manifest_rich() -> dict[str, Any]:
    """A valid manifest holding every kind of secret."""
    return {
        "version": 1,
        "name": "alice\u2019s laptop",
        "description": "Tails Persistent, documents and photos",
        "grid": {
            "introducers": {"default": {"furl": INTRO_FURL}},
            "servers": {
                "v0-" + "k" * 52: {
                    "ann": {
                        "nickname": "storage1",
                        "anonymous-storage-FURL": SERVER_FURL,
                        "anonymous-storage-NURLs": [NURL],
                        # Whole bytes in Tahoe's base32 (52 characters end in a or q).
                        "permutation-seed-base32": "m" * 51 + "a",
                    }
                }
            },
            "shares": {"needed": 2, "happy": 3, "total": 3},
        },
        "aliases": {"docs": ROOTCAP, "shared": SHARED_CAP},
        "backups": [
            {
                "alias": "docs",
                "path": "laptop/docs",
                "local": "/home/amnesia/Persistent",
                "excludes": ["*.iso", "virtenv-*"],
            },
            {"alias": "shared", "path": "photos", "local": "/home/amnesia/Pictures"},
        ],
        "tor": {"client_auth": [{"onion": "c" * 56, "private_key": CLIENT_AUTH_KEY}]},
        "x-note": {"written-by": "test", "n": [1, 2, 3]},
    }


def manifest_small() -> dict[str, Any]:
    return {
        "version": 1,
        "grid": {
            "introducers": {"default": {"furl": INTRO_FURL}},
            "shares": {"needed": 1, "happy": 1, "total": 1},
        },
        "aliases": {"docs": ROOTCAP},
        "backups": [{"alias": "docs", "path": "d", "local": "/d"}],
    }


def manifest_servers_only() -> dict[str, Any]:
    data = manifest_rich()
    del data["grid"]["introducers"]
    data["name"] = "серверы ✓"
    return data


def legacy_manifest(
    introducer: str = f"pb://{INTRO_TUBID}@{'b' * 16}.onion:5432/{INTRO_SWISS}",
    storage: str = f"pb://{SERVER_TUBID}@{'h' * 16}.onion:1234/xx",
    rootcap: str = ROOTCAP,
) -> dict[str, Any]:
    """A 2014 manifest, as the original tool's ``json.dumps`` wrote it (by default with
    the secrets the leak tests search for)."""
    return {
        "type": "TahoeLAFSBackupManifest",
        "version": 1,
        "name": "MyTailsBackupManifest",
        "description": "Tails Persistent volume backup",
        "fields": {
            "introducerNodes": [introducer],
            "storageNodes": {"StorageNode1": storage},
            "snapshotAliases": {"tails_backup": rootcap},
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


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
