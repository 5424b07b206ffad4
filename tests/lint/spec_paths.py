"""Helpers of the tests that break a spec at every field: every path in a document, and a copy with one value set."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any


def every_path(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path in ``node``, the root (``()``) first, keys and list indexes in document order."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from every_path(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from every_path(value, (*path, i))


def with_value(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``doc`` with the value at ``path`` (not the root) set to ``value``."""
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out
