"""One writer each (issue 24): of a node's grid files, of files atomically, of QR codes.

Searches the tree as tests/unit/test_tahoe_pin.py does for the pin: a second writer
written back anywhere (a role, htb, a script, a test) fails here with its file named.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRID_FILE = re.compile(r"(introducers|servers)\.yaml")
# A file written, or a document serialized: what a writer of a grid file does near
# where it names the file.
WRITES = re.compile(
    r"write_text|write_bytes|write_atomic|_private_write|open\([^)]*[\"'][wax]b?[\"']"
    r"|\bcopy:|template:|htb_private_file:|lineinfile|blockinfile|\btee\b"
    r"|(?:^|\s)>>?\s*\S*(introducers|servers)\.yaml"
    r"|to_nice_yaml|to_yaml|to_nice_json|to_json|json\.dumps?\(|yaml\.(safe_)?dump\("
)
NEAR = 3  # lines either side of the one naming the file
# Its use: a call of htb.nodeconfig.grid_files, or the filter htb.grid.grid_files.
USES = re.compile(r"htb\.grid\.grid_files|(?<![\w.])grid_files\(")


def _files(*suffixes: str) -> list[str]:
    """Tracked and new (not ignored) files, as others' work in progress is tested too."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        name
        for name in set(listed)
        if name.endswith(suffixes)
        and not name.startswith(("build/", "docs/", "collections/"))
        and (ROOT / name).is_file()
        and not (ROOT / name).is_symlink()  # library/: links to plugins/modules
    )


# The writer, its filter (and their documentation) and the writer's own tests.
THE_WRITER = {
    "src/htb/nodeconfig.py",
    "plugins/filter/grid_files.py",
    "plugins/filter/grid_files.yml",
    "tests/unit/test_grid_files.py",
}


def grid_file_writers() -> list[str]:
    """Lines that name introducers.yaml or servers.yaml next to a write, without the writer."""
    found = []
    for name in _files(".py", ".yml", ".yaml", ".j2", ".sh", ".cfg") + _files("scripts/"):
        if name in THE_WRITER:
            continue
        lines = (ROOT / name).read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            near = "\n".join(lines[max(0, i - NEAR) : i + NEAR + 1])
            if (
                GRID_FILE.search(line)
                and not line.lstrip().startswith("#")
                and WRITES.search(near)
                and not USES.search(near)
            ):
                found.append(f"{name}:{i + 1}")
    return found


def test_every_writer_of_the_grid_files_is_grid_files() -> None:
    # Mutation (run): tahoe.py's write of json.dumps({"introducers": ...}) to
    # private/introducers.yaml, or the role's to_nice_yaml in tahoe_node's vars, put
    # back, fails here.
    assert grid_file_writers() == []


def test_the_role_writes_what_the_filter_gives() -> None:
    role = ROOT / "roles" / "tahoe_node"
    variables = yaml.safe_load((role / "vars" / "main.yml").read_text())
    assert variables["tahoe_node_grid_files"] == "{{ tahoe_node_grid | htb.grid.grid_files }}"
    tasks = yaml.safe_load((role / "tasks" / "node.yml").read_text())
    writing = [t for t in tasks if "tahoe_node_grid_files" in str(t.get("loop"))]
    assert [t["name"] for t in writing] == [
        "Write the grid the node joins",
        "Remove a grid file the node no longer uses",
    ]
    assert writing[0]["htb_private_file"]["content"] == "{{ item.value }}"


ATOMIC = re.compile(r"os\.replace\(|os\.rename\(|mkstemp\(|atomic_move\(")
# htb's writer; the bundle's installer, which runs before htb is installed (standard
# library only); the node-side modules' writer (they run on nodes, without htb).
ATOMIC_WRITERS = [
    "plugins/module_utils/node_files.py",
    "src/htb/bundle_installer.py",
    "src/htb/files.py",
]


def test_one_atomic_writer_in_htb_and_one_on_the_nodes() -> None:
    # Mutation (run): a tempfile.mkstemp + os.replace of its own back in tahoe.py,
    # bundle.py or htb_manifest.py fails here.
    found = [
        name
        for name in _files(".py")
        if not name.startswith("tests/")
        and ATOMIC.search((ROOT / name).read_text(errors="replace"))
    ]
    assert found == ATOMIC_WRITERS


def test_one_qr_writer() -> None:
    found = [
        name
        for name in _files(".py")
        if name != "tests/unit/test_one_writer.py"
        and re.search(r"segno\.make", (ROOT / name).read_text(errors="replace"))
    ]
    assert found == ["src/htb/qr.py"]
