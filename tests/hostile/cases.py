"""One input and what it must give; helpers that edit JSON structures by path."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hostile.expect import Expect


# --- inputs ------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    kind: str  # binary, armored, legacy-2014, sealed-plaintext, seal-plaintext, size
    op: str  # the mutation, e.g. "bitflip@117"
    data: bytes
    expect: Expect
    verb: str = "unseal"  # or "seal" (data is the plaintext file), "seal-stdin"
    index: int = -1


KINDS = ("binary", "armored", "legacy-2014", "sealed-plaintext", "seal-plaintext", "size")


def _deep_set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


WRONG_TYPES: tuple[Any, ...] = (None, True, 0, -1, 1.5, "", "s", [], {}, [1], {"a": 1})
