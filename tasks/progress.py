"""Progress of the running stages, shared by the tasks of a flow run in this process.

Tasks call `advance(stage, n)` as models finish; listeners (the Prefect progress artifacts of the
flow, the CLI's progress bars) hear about it. Thread-safe; tasks in other processes (Dask, Ray)
report through their shard's completion instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""

_lock = threading.Lock()
_state: dict[str, list[int]] = {}
_listeners: list[Listener] = []


def start(stage: str, total: int) -> None:
    with _lock:
        _state[stage] = [0, total]
    _notify(stage)


def advance(stage: str, n: int = 1) -> None:
    with _lock:
        st = _state.get(stage)
        if st is None:
            return
        st[0] = min(st[1], st[0] + n)
    _notify(stage)


def at_least(stage: str, done: int) -> None:
    """Raises a stage's count to `done` (shard completions seen by the flow)."""
    with _lock:
        st = _state.get(stage)
        if st is None or st[0] >= done:
            return
        st[0] = min(st[1], done)
    _notify(stage)


def reached(stage: str, done: int, total: int) -> None:
    """A `progress(done, total)` callback's report: the stage (re)started when its total is new,
    then its count raised to `done`."""
    if get(stage)[1] != total:
        start(stage, total)
    at_least(stage, done)


def get(stage: str) -> tuple[int, int]:
    with _lock:
        done, total = _state.get(stage, (0, 0))
        return done, total


def add_listener(fn: Listener) -> None:
    with _lock:
        _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    with _lock:
        if fn in _listeners:
            _listeners.remove(fn)


def _notify(stage: str) -> None:
    with _lock:
        done, total = _state[stage]
        listeners = list(_listeners)
    for fn in listeners:
        fn(stage, done, total)
