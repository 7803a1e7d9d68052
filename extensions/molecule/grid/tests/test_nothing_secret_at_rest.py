"""Nothing secret at rest on the controller or the nodes, nothing paired in the output.

prepare.yml started testbed/files/capture_writes.py on the controller (Ansible's
local temporary directory and remote_tmp, both the scenario's own) and in every
container (remote_tmp, root's ~/.ansible, /tmp, /var/tmp): it hard-linked every
file written there as it appeared, so what Ansible deleted at the end of a task is
still there to search. Converge and idempotence then ran site.yml (through
testbed/playbooks/grid.yml) and playbooks/manifests.yml with --diff
(ANSIBLE_DIFF_ALWAYS) and pipelining, into the -vvv log.

ANSIBLE_KEEP_REMOTE_FILES cannot keep them instead: it turns pipelining off
(ansible-core's ConnectionBase.is_pipelining_enabled), so it would prove nothing.

No test prints a secret: a failure names the kind of secret and the file.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import testinfra
import yaml
from grid_paths import node_dir  # testinfra/common (the verifier's PYTHONPATH)
from testinfra.utils.ansible_runner import AnsibleRunner

from htb import gridmanager, identity

INVENTORY = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
LOG = EPHEMERAL / "ansible-vvv.log"  # converge and idempotence, -vvv, --diff
NODES = [n for n in INVENTORY.get_hosts("all") if n not in INVENTORY.get_hosts("tor_testnet")]
ALL_CONTAINERS = INVENTORY.get_hosts("all")
GROUP_VARS = INVENTORY.get_variables(INVENTORY.get_hosts("grid_clients")[0])
PASSPHRASE = GROUP_VARS["grid_manager_passphrase"]  # molecule.yml's (test only)
NODE_CAPTURE = GROUP_VARS["htb_capture_node_dir"]
CONTROLLER_CAPTURE = Path(GROUP_VARS["htb_capture_controller_dir"])
REMOTE_TMP = GROUP_VARS["ansible_remote_tmp"]
LOCAL_TMP = Path(os.environ["ANSIBLE_LOCAL_TEMP"])
NODE_ROOTS = [REMOTE_TMP, "/root/.ansible", "/tmp", "/var/tmp"]
PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(PROJECT / "testbed/roles/testbed_containers/files/containers.conf"),
}


def host(name: str):
    return testinfra.get_host(f"podman://{name}")


def tar_out(name: str, script: str) -> dict[str, bytes]:
    """Every regular file of the tar stream `script` writes in the container, by path:
    out through a pipe, so that no secret goes into a command line."""
    run = subprocess.run(
        ["podman", "exec", name, "sh", "-c", script],
        capture_output=True,
        env=PODMAN_ENV,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr  # 1: a file vanished while read
    files = {}
    with tarfile.open(fileobj=io.BytesIO(run.stdout)) as tar:
        for member in tar:
            if member.isreg():  # a hard link's content is its first member's
                files["/" + member.name] = tar.extractfile(member).read()
    return files


@functools.cache
def node_keys(name: str) -> dict[str, bytes]:
    """The node's FURLs, keys and onion addresses."""
    return tar_out(
        name,
        "cd / && tar -cf - --ignore-failed-read var/lib/tahoe/*/private/*.furl"
        " var/lib/tahoe/*/private/node.p* var/lib/tor/onion/*/h* 2>/dev/null",
    )


@functools.cache
def onions() -> dict[str, str]:
    """Every onion address of the grid, by the name of its host."""
    found = {}
    for name in NODES:
        for path, content in node_keys(name).items():
            if path.endswith("/hostname"):
                found[content.decode().strip().removesuffix(".onion")] = name
    assert len(found) >= len(INVENTORY.get_hosts("introducers")) + len(
        INVENTORY.get_hosts("storage")
    )
    return found


@functools.cache
def grid_secrets() -> dict[str, bytes]:
    """Every swissnum, node key, onion key and passphrase of the scenario, by kind."""
    found: dict[str, bytes] = {}
    for name in NODES:
        for path, content in node_keys(name).items():
            kind = f"{name} {path}"
            if path.endswith(".furl"):
                found[f"{kind} swissnum"] = content.strip().rsplit(b"/", 1)[-1]
            elif path.endswith("/node.privkey"):
                found[kind] = content.strip().removeprefix(b"priv-v0-")
            elif path.endswith("/node.pem"):
                # A line of the key's own base64 (64 characters; the first line is
                # the same in every PKCS#8 key).
                found[f"{kind} (its third line)"] = content.split(b"\n")[2]
            elif path.endswith("/hs_ed25519_secret_key"):
                found[f"{kind} (raw)"] = content[32:]  # the 64 bytes after tor's header
                found[f"{kind} (base64)"] = base64.b64encode(content)
    with (EPHEMERAL / "grid-manager.key").open("rb") as f:
        key = gridmanager.open_key(f.read(), PASSPHRASE).removeprefix("priv-v0-")
    found["the Grid Manager's key"] = key.encode()
    found["the Grid Manager's (and identity archive's) passphrase"] = PASSPHRASE.encode()
    invitations = sorted((EPHEMERAL / "manifests").glob("*.passphrase"))
    assert [p.name for p in invitations] == ["carol.passphrase"]
    for path in invitations:
        found[f"the invitation passphrase {path.name}"] = path.read_text().strip().encode()
    with (EPHEMERAL / "identity.sealed").open("rb") as f:
        archived, _ = identity.open_archive(f.read(), PASSPHRASE)
    for name, entry in archived.items():
        for part, nodes in entry.items():
            for node_name, files in nodes.items():
                for rel, content in files.items():
                    if rel != "hostname" and not rel.endswith(".pubkey"):
                        found[f"{name} {part} {node_name} {rel} (archived, base64)"] = (
                            content.encode()
                        )
    # Kinds: swissnums of every node, keys, the passphrases.
    assert sum(k.endswith("swissnum") for k in found) >= 2 * len(NODES) - 1
    assert all(len(secret) >= 26 for secret in found.values())
    return found


def expanded(blobs: dict[str, bytes]) -> dict[str, bytes]:
    """Each distinct content once (a module's payload is written again at each call),
    and every member of a zip archive besides: Ansible's module payloads and its
    module cache are deflated, where a secret's bytes would not show."""
    out: dict[str, bytes] = {}
    seen: set[bytes] = set()
    for where, blob in blobs.items():
        digest = hashlib.sha256(blob).digest()
        if digest in seen:
            continue
        seen.add(digest)
        out[where] = blob
        if blob.startswith(b"PK\x03\x04"):
            with contextlib.suppress(zipfile.BadZipFile), zipfile.ZipFile(io.BytesIO(blob)) as z:
                for info in z.infolist():
                    out[f"{where}!{info.filename}"] = z.read(info)
    return out


def hits(blobs: dict[str, bytes]) -> list[str]:
    return [
        f"{kind} in {where}"
        for where, blob in expanded(blobs).items()
        for kind, secret in grid_secrets().items()
        if secret in blob
    ]


def node_files(name: str) -> dict[str, bytes]:
    """Every regular file under the container's temporary directories and its capture."""
    tops = " ".join(p.lstrip("/") for p in [*NODE_ROOTS, NODE_CAPTURE])
    files = tar_out(name, f"tar -C / -cf - --ignore-failed-read {tops}")
    return {f"{name}:{path}": content for path, content in files.items()}


def controller_files() -> dict[str, bytes]:
    files = {}
    for top in (CONTROLLER_CAPTURE, LOCAL_TMP, Path(REMOTE_TMP)):
        for path in top.rglob("*"):
            if path.is_file() and not path.is_symlink():
                files[f"controller:{path}"] = path.read_bytes()
    return files


def index(files: dict[str, bytes], where: str) -> list[dict]:
    name = next(k for k in files if k.startswith(where) and k.endswith("/index.jsonl"))
    return [json.loads(line) for line in files[name].decode().splitlines()]


def kept_after(files: dict[str, bytes], entries: list[dict], skip: int) -> dict[str, bytes]:
    names = {e["kept"] for e in entries[skip:] if e.get("kept")}
    return {k: v for k, v in files.items() if k.rsplit("/", 1)[-1] in names}


def everything() -> dict[str, dict[str, bytes]]:
    return {"controller": controller_files()} | {name: node_files(name) for name in NODES}


@pytest.fixture(scope="module")
def at_rest(request):
    """What converge and idempotence left (kept or still there); the watchers end
    with this module, which says how long it took (the scenario's time budget)."""
    start = time.monotonic()
    yield everything()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ntest_nothing_secret_at_rest.py: {time.monotonic() - start:.0f} s")
    for name in ALL_CONTAINERS:
        host(name).run(f"kill $(cat {NODE_CAPTURE}/ready)")
    pid = int((CONTROLLER_CAPTURE / "ready").read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
    if b"capture_writes.py" in cmdline:
        os.kill(pid, signal.SIGTERM)


def test_nothing_written_under_any_temporary_directory_holds_a_secret(at_rest, capsys) -> None:
    """0 hits: every swissnum, node key, onion key (raw and base64), the Grid
    Manager's key, its passphrase and the invitation's, in every file written under
    the temporary directories of the controller and of each node during converge and
    idempotence. Fails with pipelining off (the control below), or with tahoe_node's
    grid files written by ansible.builtin.copy's content (a file in both directories)."""
    everywhere = {k: v for files in at_rest.values() for k, v in files.items()}
    assert hits(everywhere) == []
    distinct = expanded(everywhere)
    members = [k for k in distinct if "!" in k]
    # Not vacuous: the nodes' /tmp holds each module call's payload (a zip).
    assert any(k.endswith(".zip!ansible/module_utils/basic.py") for k in members)
    with capsys.disabled():
        print(
            f"\nsearched {len(everywhere)} files ({sum(map(len, everywhere.values())) >> 10}"
            f" KiB; {len(distinct) - len(members)} distinct, {len(members)} zip members)"
            f" for {len(grid_secrets())} secrets: 0 hits"
        )
    for where, files in at_rest.items():
        entries = index(files, "controller:" if where == "controller" else f"{where}:")
        assert not any(e.get("overflow") for e in entries), where
        # Every file Ansible wrote was kept, if only under the name it was renamed to
        # (its module cache's "-part" files); others' (pip's in /tmp) may come and go.
        moved = {e["moved"] for e in entries if "moved" in e}
        gone = {e["path"] for e in entries if e.get("how") == "gone"} - moved
        assert [p for p in gone if re.search(r"ansible-(tmp|local|moduletmp)-", p)] == [], where
    # Not vacuous: the capture kept the files the run wrote - templates' sources on
    # the nodes, the controller's renders and module cache - and the grid files
    # themselves hold the secrets searched for.
    kept = [e["path"] for e in index(at_rest["controller"], "controller:") if e.get("kept")]
    assert any("ansiballz_cache" in p for p in kept), kept[:20]
    storage = INVENTORY.get_hosts("storage")[0]
    node_kept = [e["path"] for e in index(at_rest[storage], f"{storage}:") if e.get("kept")]
    assert any(p.endswith("/.source") for p in node_kept), node_kept[:20]
    client = host(INVENTORY.get_hosts("grid_clients")[0])
    grid_file = client.file(f"{node_dir('client')}/private/introducers.yaml").content
    assert hits({"the client's introducers.yaml": grid_file}) != []


def control_play(tmp_path: Path, pipelining: bool) -> subprocess.CompletedProcess[str]:
    """One module call with the Grid Manager passphrase as its argument, on a storage
    node and on the controller."""
    book = tmp_path / "control.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "A module argument that is a secret",
                    "hosts": f"{INVENTORY.get_hosts('storage')[0]}:localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Ping with the passphrase",
                            "ansible.builtin.ping": {"data": "{{ grid_manager_passphrase }}"},
                            "no_log": True,
                        }
                    ],
                }
            ]
        )
    )
    return playbook(book, {"ANSIBLE_PIPELINING": str(pipelining)})


def playbook(book: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args, str(book)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_LOG_PATH": str(EPHEMERAL / "control.log"),
            "ANSIBLE_VERBOSITY": "0",
            "ANSIBLE_NOCOLOR": "1",
            **env,
        },
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


def test_control_without_pipelining_the_same_search_finds_the_passphrase(
    at_rest, tmp_path: Path
) -> None:
    """The capture and the search work: the same module call, pipelined, leaves no
    trace of its argument; with ANSIBLE_PIPELINING=False its AnsiballZ file, kept on
    the node and on the controller, holds the passphrase."""
    before = {
        where: len(index(files, "controller:" if where == "controller" else f"{where}:"))
        for where, files in at_rest.items()
    }
    storage = INVENTORY.get_hosts("storage")[0]
    kinds = "the Grid Manager's (and identity archive's) passphrase"
    found = {}
    for pipelining in (True, False):
        control_play(tmp_path, pipelining)
        now = {"controller": controller_files(), storage: node_files(storage)}
        found[pipelining] = {}
        for where, files in now.items():
            prefix = "controller:" if where == "controller" else f"{where}:"
            entries = index(files, prefix)
            new = kept_after(files, entries, before[where])
            before[where] = len(entries)
            found[pipelining][where] = sorted(
                k.rsplit("/", 1)[-1] for k, v in new.items() if PASSPHRASE.encode() in v
            )
    assert found[True] == {"controller": [], storage: []}, kinds
    assert all(found[False][w] for w in ("controller", storage)), found[False]
    assert any("AnsiballZ_ping.py" in name for name in found[False][storage]), found[False]


def pairings(text: str) -> list[str]:
    """Onion addresses (whole, or the 8 characters nicknames and petnames take) in
    text, as '<onion prefix> of <host>' (no more of the onion than that)."""
    out = []
    for onion, name in onions().items():
        if onion in text:
            out.append(f"{onion[:8]}... of {name}")
        elif re.search(rf"-{onion[:8]}\b", text):
            out.append(f"the nickname/petname of {name} ({onion[:8]})")
    return out


def test_the_diff_output_pairs_no_onion_with_a_host() -> None:
    """The whole output of converge and idempotence (site.yml and manifests.yml,
    --diff, -vvv: a superset of what --diff prints at normal verbosity) holds no
    onion address of the grid, whole or as a nickname's 8 characters, and none of
    the secrets. Fails without tahoe_node's diff: false on tahoe.cfg (tub.location,
    the nickname): the control below is that task with and without it."""
    log = LOG.read_text(encoding="utf-8", errors="replace")
    # --diff was on: the files that keep their diff show it (torrc, the firewall).
    assert "--- before: /etc/tor/torrc" in log, "converge ran without --diff"
    assert "TASK [activist_manifests : Seal" in log, "manifests.yml is not in the log"
    assert pairings(log) == []
    assert hits({"the -vvv --diff log": log.encode()}) == []


def test_control_the_same_search_finds_an_onion_in_a_diff(tmp_path: Path) -> None:
    """tahoe.cfg's template with a storage node's real tub.location, with --diff at
    normal verbosity: without diff: false its onion is printed under the host's name
    and found; with it, not."""
    storage = INVENTORY.get_hosts("storage")[0]
    outputs = {}
    for diff in (True, False):
        book = tmp_path / f"diff-{diff}.yml"
        book.write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "tahoe.cfg with an onion",
                        "hosts": storage,
                        "gather_facts": False,
                        "tasks": [
                            {
                                "name": "Read the onion",
                                "ansible.builtin.slurp": {
                                    "src": "/var/lib/tor/onion/tahoe-storage/hostname"
                                },
                                "register": "control_onion",
                                "no_log": True,
                            },
                            {
                                "name": "Write a tahoe.cfg beside the node's",
                                "ansible.builtin.template": {
                                    "src": str(PROJECT / "roles/tahoe_node/templates/tahoe.cfg.j2"),
                                    "dest": f"/root/diff-control-{diff}.cfg",
                                    "mode": "0600",
                                },
                                "diff": diff,
                                "vars": {
                                    "tahoe_node_name": "storage",
                                    "tahoe_node_kind": "storage",
                                    "tahoe_node_config": {
                                        "node": {
                                            "tub.location": "tor:{{ control_onion.content"
                                            " | b64decode | trim }}:3457"
                                        }
                                    },
                                },
                            },
                        ],
                    }
                ]
            )
        )
        outputs[diff] = playbook(book, {}, "--diff").stdout
    assert pairings(outputs[True]) != [], "the search missed the onion of a diff"
    assert f"[{storage}]" in outputs[True]
    assert pairings(outputs[False]) == []
