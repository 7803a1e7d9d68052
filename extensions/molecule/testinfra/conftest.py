"""The verify's order, whatever the order of the paths molecule passes: the grid's
checks last.

testinfra/grid/test_grid.py stops storage nodes, restarts every node and reboots a
container; the laptops' tests (testinfra/tails) and a scenario's own tests read what
its side effect left, on the grid as it left it. Sorted stably: every module keeps
its own order.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == "test_grid.py")
