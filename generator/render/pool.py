"""The worker pool: one function over many items, in forked worker processes when there are enough of them.

Forked workers inherit the parent's memory: what every item needs (the project, the imported modules, the compiled
templates, the schema) is neither pickled nor built again; only the items and the results cross the process
boundary. The one piece of module state is the task being run (``_task``), set just before the pool forks and
cleared when it is done: ``Pool.imap`` pickles the function it calls by reference, so the only way for a forked
worker to reach a task made at run time (a function with its shared arguments) is a module global it inherited.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

PARALLEL_FROM = 64  # items; fewer run in this process (pre-commit stays fast)
MAX_WORKERS = 4
MAX_CHUNK = 64

_task: Callable[[Any], Any] | None = None  # set by imap for the workers it forks; None otherwise


def imap(task: Callable[[Item], Result], items: Sequence[Item]) -> Iterator[Result]:
    """``task(item)`` for each item, in order, as each is done.

    In this process below :data:`PARALLEL_FROM` items, on a single core, or where forking is unsafe. Otherwise the
    first item runs here (its imports, compiled templates and schema are then inherited by every worker instead of
    being built again in each) and the rest in up to :data:`MAX_WORKERS` forked workers."""
    global _task
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if len(items) < PARALLEL_FROM or workers < 2 or not can_fork():
        for item in items:
            yield task(item)
        return
    yield task(items[0])
    rest = items[1:]
    chunk = max(1, min(MAX_CHUNK, len(rest) // (workers * 4)))
    import multiprocessing  # here: 9 ms that a small render (the pre-commit hook) never needs

    _task = task
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(_run, rest, chunksize=chunk)
    finally:
        _task = None


def _run(item: Any) -> Any:
    """In a worker: the task it inherited, on one item."""
    assert _task is not None, "imap sets the task before it forks"
    return _task(item)


def can_fork() -> bool:
    """Fork workers only from a single-threaded process (forking with threads running can deadlock)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
