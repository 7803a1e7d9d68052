#!/usr/bin/python3
"""TEST AND DEMO ONLY: search the memory of a user's processes for secrets.

Reads /proc/PID/mem of every process of the calling user (as another process of
hers could: same uid, no Yama), except itself and the processes named with
--exclude, and counts each secret's occurrences. Standard library only: it runs
with the system's python3 beside gui_story.py, and tests import it.

  memsearch.py capture NODE_DIR OUT_DIR
      Write the secrets of a running client node into OUT_DIR (0700; one file per
      kind, one secret a line): rootcaps (write and read forms), convergence,
      node-keys (node.privkey, the lease secret, the Tub's private key),
      swissnums (of the introducer FURLs and storage NURLs), api-token. Prints counts.
      A line "hex:..." is a secret's raw bytes, as a process holds it once decoded
      (the rootcap's write and read keys, the convergence secret, the node's
      signing key seed and lease secret): Tahoe keeps those, not the text.
  memsearch.py search OUT.json --target KIND=FILE... [--exclude PID...]
      Search every process of this user; write what was searched and the hits.
  memsearch.py node-dir
      The directory of this user's running `tahoe run`, if any.

What is read: every readable region that is anonymous (heap, stacks, Python's
arenas), writable, or of a deleted file. Not read: read-only mappings of files on
disk (libraries, fonts): their bytes are the file's, which file searches cover.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK = 8 << 20
# Mappings the kernel serves that /proc/PID/mem cannot read (or that hold no user data).
SPECIAL = ("[vvar]", "[vvar_vclock]", "[vsyscall]", "[vdso]")
FURL_SWISSNUM = re.compile(r"pb://[^@\s'\"]+@[^/\s'\"]+/([A-Za-z0-9_-]+)")


# --- the secrets ----------------------------------------------------------------------
def read_only_cap(writecap: str) -> str:
    """Tahoe's DIR2-RO form of a DIR2 cap: readkey = SHA256d(netstring(tag) + writekey)[:16]."""
    _, _, writekey, fingerprint = writecap.split(":")
    raw = base64.b32decode(writekey.upper() + "=" * (-len(writekey) % 8))
    tag = b"allmydata_mutable_writekey_to_readkey_v1"
    inner = hashlib.sha256(b"%d:%s," % (len(tag), tag) + raw).digest()
    readkey = hashlib.sha256(inner).digest()[:16]
    return (
        "URI:DIR2-RO:" + base64.b32encode(readkey).decode().rstrip("=").lower() + ":" + fingerprint
    )


def _raw(b32: str) -> str:
    """``hex:`` and the bytes a Tahoe base32 string (lower case, unpadded) decodes to."""
    return "hex:" + base64.b32decode(b32.upper() + "=" * (-len(b32) % 8)).hex()


def capture(node: Path) -> dict[str, set[str]]:
    """The secrets of a client node's directory, by kind."""
    private = node / "private"
    found: dict[str, set[str]] = {
        k: set() for k in ("rootcaps", "convergence", "node-keys", "swissnums", "api-token")
    }
    aliases = private / "aliases"
    for line in aliases.read_text().splitlines() if aliases.exists() else ():
        cap = line.partition(":")[2].strip()
        if cap.startswith("URI:DIR2:"):
            readcap = read_only_cap(cap)
            found["rootcaps"] |= {
                cap,
                readcap,
                _raw(cap.split(":")[2]),
                _raw(readcap.split(":")[2]),
            }
        elif cap:
            found["rootcaps"].add(cap)
    for name, kind in (
        ("convergence", "convergence"),
        ("node.privkey", "node-keys"),
        ("secret", "node-keys"),
        ("api_auth_token", "api-token"),
    ):
        path = private / name
        if path.exists() and path.read_text().strip():
            text = path.read_text().strip()
            found[kind].add(text)
            if name in ("convergence", "secret"):
                found[kind].add(_raw(text))
            elif name == "node.privkey":
                found[kind].add(_raw(text.removeprefix("priv-v0-")))
    pem = private / "node.pem"
    if pem.exists():
        key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*?)-----END", pem.read_text(), re.S)
        if key:  # its lines, but its first (an ASN.1 header, the same in every key)
            found["node-keys"].update(line for line in key.group(1).split()[1:] if len(line) >= 40)
    for path in private.iterdir():
        if path.is_file() and path.suffix in (".yaml", ".furl", "") and path.name != "aliases":
            text = path.read_text(errors="replace")
            found["swissnums"].update(s for s in FURL_SWISSNUM.findall(text) if len(s) >= 20)
    return found


def forms(secret: str) -> list[bytes]:
    """The byte strings a process may hold ``secret`` as (Python keeps non-ASCII text wide)."""
    if secret.startswith("hex:"):
        return [bytes.fromhex(secret[4:])]
    out = [secret.encode()]
    if not secret.isascii():
        out += [secret.encode("utf-16-le"), secret.encode("utf-32-le")]
    return out


def load_targets(specs: Iterable[str]) -> dict[str, list[str]]:
    """``KIND=FILE`` -> {kind: [secret, ...]} (one a line; blank lines skipped)."""
    targets: dict[str, list[str]] = {}
    for spec in specs:
        kind, _, path = spec.partition("=")
        lines = [s.strip() for s in Path(path).read_text().splitlines() if s.strip()]
        targets.setdefault(kind, []).extend(lines)
    return targets


# --- the processes ----------------------------------------------------------------------
def processes(uid: int) -> list[int]:
    """Every process whose real uid is ``uid`` (kernel threads have no memory to read)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        uids = re.search(r"^Uid:\s+(\d+)", status, re.M)
        if uids and int(uids.group(1)) == uid and (entry / "exe").exists():
            out.append(int(entry.name))
    return sorted(out)


def describe(pid: int) -> dict[str, object]:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return {"pid": pid, "comm": "?", "args": []}
    # The first three words say what it is (a path or a module), nothing more is kept.
    return {"pid": pid, "comm": comm, "args": [a.decode(errors="replace") for a in argv[:3] if a]}


def regions(pid: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, name) of every region to read (see the module's docstring)."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        span, perms = fields[0], fields[1]
        name = fields[5] if len(fields) > 5 else ""
        if "r" not in perms or name in SPECIAL:
            continue
        if name.startswith("/") and "w" not in perms and not name.endswith("(deleted)"):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        yield start, end, name


def search_process(
    pid: int, needles: dict[str, list[bytes]]
) -> tuple[dict[str, int], int, list[str]]:
    """(hits by kind, bytes read, regions that could not be read) of process ``pid``."""
    hits: dict[str, int] = {}
    longest = max((len(n) for ns in needles.values() for n in ns), default=1)
    read = 0
    failed: list[str] = []
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for start, end, name in regions(pid):
            offset, tail = start, b""
            while offset < end:
                try:
                    data = os.pread(fd, min(CHUNK, end - offset), offset)
                except OSError as exc:
                    failed.append(f"{name or 'anonymous'} {start:x}-{end:x}: {exc.strerror}")
                    break
                if not data:
                    break
                block = tail + data
                for kind, ns in needles.items():
                    for needle in ns:
                        count = _count(block, needle, len(tail))
                        if count:
                            hits[kind] = hits.get(kind, 0) + count
                read += len(data)
                offset += len(data)
                tail = block[-(longest - 1) :] if longest > 1 else b""
    finally:
        os.close(fd)
    return hits, read, failed


def _count(block: bytes, needle: bytes, overlap: int) -> int:
    """Occurrences of ``needle`` in ``block`` that end beyond its first ``overlap`` bytes."""
    count, at = 0, block.find(needle)
    while at != -1:
        if at + len(needle) > overlap:  # not already counted in the previous block
            count += 1
        at = block.find(needle, at + 1)
    return count


def search(targets: dict[str, list[str]], exclude: Iterable[int] = ()) -> dict[str, object]:
    """Search every process of this user but ``exclude`` and this one."""
    needles = {kind: [f for s in secrets for f in forms(s)] for kind, secrets in targets.items()}
    skip = {os.getpid(), *exclude}
    searched, unreadable = [], []
    hits: dict[str, dict[str, int]] = {}
    for pid in processes(os.getuid()):
        if pid in skip:
            continue
        who = describe(pid)
        try:
            found, read, failed = search_process(pid, needles)
        except FileNotFoundError:
            continue  # it exited meanwhile
        except OSError as exc:
            unreadable.append({**who, "error": exc.strerror})
            continue
        searched.append({**who, "bytes": read, "failed_regions": failed})
        for kind, count in found.items():
            hits.setdefault(kind, {})[f"{who['comm']}[{pid}]"] = count
    return {
        "targets": {kind: len(secrets) for kind, secrets in targets.items()},
        "excluded": sorted(skip),
        "searched": searched,
        "unreadable": unreadable,
        "hits": hits,
    }


def tahoe_nodes(uid: int) -> dict[int, str]:
    """pid -> node directory of every `tahoe run` of ``uid``."""
    out = {}
    for pid in processes(uid):
        try:
            args = [
                a.decode(errors="replace")
                for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if a
            ]
        except OSError:
            continue
        if "run" in args and any(os.path.basename(a) == "tahoe" for a in args[:3]):
            out[pid] = args[-1]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memsearch.py")
    sub = parser.add_subparsers(dest="verb", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("node_dir", type=Path)
    cap.add_argument("out", type=Path)
    find = sub.add_parser("search")
    find.add_argument("out", type=Path)
    find.add_argument("--target", action="append", default=[], metavar="KIND=FILE")
    find.add_argument("--exclude", action="append", default=[], type=int, metavar="PID")
    sub.add_parser("node-dir")
    args = parser.parse_args(argv)
    os.umask(0o077)
    if args.verb == "capture":
        found = capture(args.node_dir)
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        for kind, values in found.items():
            (args.out / kind).write_text("".join(f"{v}\n" for v in sorted(values)))
        print(json.dumps({kind: len(v) for kind, v in found.items()}, sort_keys=True))
    elif args.verb == "search":
        result = search(load_targets(args.target), args.exclude)
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
        print(json.dumps({"hits": result["hits"], "processes": len(result["searched"])}))
    else:
        nodes = tahoe_nodes(os.getuid())
        if not nodes:
            print("memsearch.py: no running tahoe node", file=sys.stderr)
            return 1
        print(next(iter(nodes.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
