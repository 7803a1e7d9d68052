#!/usr/bin/env python3
"""TEST ONLY: what the client scenario looks at inside the running Tahoe client node.

Runs as root on the Tails-like container; never part of a Tails system.
  probe.py node-dir     the directory of the running `tahoe run` (htb's node)
  probe.py capture OUT  the secrets of the running node's session, one file per kind
                        in OUT (0700; one secret a line): rootcaps (write and read
                        forms), caps (every file and directory cap in the backupdb, and
                        the rootcaps), swissnums (of every FURL and NURL the node holds),
                        convergence, node-keys (node.privkey, node.pem, the lease
                        secret), api-token.
                        Prints only how many of each.
  probe.py snapshot-files ALIAS PATH SNAPSHOT
                        {relative path: sha256 of its file cap} for every file of a
                        snapshot (so that no cap reaches the test's output).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
import urllib.parse
import urllib.request
from pathlib import Path

FURL_SWISSNUM = re.compile(r"pb://[^@\s'\"]+@[^/\s'\"]+/([A-Za-z0-9_-]+)")


def node_dir() -> Path:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        args = [a for a in args if a]
        if "run" in args and any(os.path.basename(a) == "tahoe" for a in args[:3]):
            candidate = Path(args[-1])
            if (candidate / "tahoe.cfg").exists():
                return candidate
    raise SystemExit("probe.py: no running tahoe node")


def get_json(node: Path, path: str):
    url = (node / "node.url").read_text().strip()
    with urllib.request.urlopen(url + path, timeout=120) as resp:  # noqa: S310 - loopback
        return json.load(resp)


def cap_url(cap: str, path: str = "") -> str:
    quoted = "/".join(urllib.parse.quote(p) for p in path.split("/") if p)
    return "uri/" + urllib.parse.quote(cap, safe="") + ("/" + quoted if quoted else "")


def rootcaps(node: Path) -> dict[str, str]:
    out = {}
    for line in (node / "private" / "aliases").read_text().splitlines():
        name, sep, cap = line.partition(":")
        if sep and cap.strip():
            out[name.strip()] = cap.strip()
    return out


def capture(out: Path) -> None:
    node = node_dir()
    private = node / "private"
    found: dict[str, set[str]] = {
        k: set() for k in ("rootcaps", "caps", "swissnums", "convergence", "node-keys", "api-token")
    }
    for cap in rootcaps(node).values():
        found["rootcaps"].add(cap)
        _, info = get_json(node, cap_url(cap) + "?t=json")
        found["rootcaps"].update(c for c in (info.get("rw_uri"), info.get("ro_uri")) if c)
    db = private / "backupdb.sqlite"
    if db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = [
            *con.execute("SELECT filecap FROM caps"),
            *con.execute("SELECT dircap FROM directories"),
        ]
        con.close()
        # tahoe stores some as text, some as blobs.
        found["caps"].update(
            r[0].decode() if isinstance(r[0], bytes) else r[0] for r in rows if r[0]
        )
    found["caps"] |= found["rootcaps"]
    # The LIT cap of a file of a few bytes is short enough to occur by chance (in
    # tahoe's own tests in the virtualenv, say); the sample data has none.
    found["caps"] = {c for c in found["caps"] if len(c) >= 24}
    for f in private.iterdir():
        if f.is_file():
            swissnums = FURL_SWISSNUM.findall(f.read_text(errors="replace"))
            # A random swissnum is 32 characters; a fixed name (old introducers) is no secret.
            found["swissnums"].update(s for s in swissnums if len(s) >= 20)
    for name, kind in (
        ("convergence", "convergence"),
        ("node.privkey", "node-keys"),
        ("secret", "node-keys"),  # the lease secret
        ("api_auth_token", "api-token"),
    ):
        f = private / name
        if f.exists() and f.read_text().strip():
            found[kind].add(f.read_text().strip())
    pem = private / "node.pem"
    if pem.exists():
        # The Tub's private key, not its certificate (public; its first lines are the
        # same in every Foolscap certificate); nor the key's first line (an ASN.1 header).
        key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*?)-----END", pem.read_text(), re.S)
        if key:
            found["node-keys"].update(line for line in key.group(1).split()[1:] if len(line) >= 40)
    os.umask(0o077)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for kind, values in found.items():
        (out / kind).write_text("".join(f"{v}\n" for v in sorted(values) if v.strip()))
    print(json.dumps({kind: len(values) for kind, values in found.items()}, sort_keys=True))


def snapshot_files(alias: str, path: str, snapshot: str) -> None:
    node = node_dir()
    cap = rootcaps(node)[alias]
    out: dict[str, str] = {}
    pending = [("", cap_url(cap, f"{path}/Archives/{snapshot}"))]
    while pending:
        rel, url = pending.pop()
        _, info = get_json(node, url + "?t=json")
        for name, (kind, child) in info.get("children", {}).items():
            child_rel = f"{rel}/{name}" if rel else name
            child_cap = child.get("ro_uri") or child.get("rw_uri")
            if kind == "dirnode":
                pending.append((child_rel, cap_url(child_cap)))
            else:
                out[child_rel] = hashlib.sha256(child_cap.encode()).hexdigest()
    print(json.dumps(out, sort_keys=True, ensure_ascii=False))


def main() -> None:
    verb, *args = sys.argv[1:] or ["?"]
    if verb == "node-dir" and not args:
        print(node_dir())
    elif verb == "capture" and len(args) == 1:
        capture(Path(args[0]))
    elif verb == "snapshot-files" and len(args) == 3:
        snapshot_files(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
