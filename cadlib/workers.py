"""A supervised process pool: run a function over many items, each with a time limit, in worker
processes that a crash or a hang cannot take down with the caller.

Native CAD libraries (OCCT, IfcOpenShell) can hang or segfault on bad input. Each item runs in a
long-lived worker; a worker that overruns its time limit is killed, one that dies is replaced, and
the item is reported as `TIMEOUT` or `CRASH`. Ordinary exceptions come back as `ERROR` with their
class and message. Results are yielded as they finish.

`WorkerPool` keeps its workers between calls (a spawned worker costs about a second to start and
load OpenCASCADE), and several threads may run batches through one pool at once: they share its workers.
`shared_pool()` is the process-wide one that the dataset stages use; `run_isolated` is a one-off
pool for a single batch.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import multiprocessing as mp
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from multiprocessing.connection import Connection, wait
from typing import Any


class Status(Enum):
    """How one item ended."""

    OK = "ok"
    ERROR = "error"  # the function raised; `error_class` and `message` say what
    TIMEOUT = "timeout"  # killed after the time limit
    CRASH = "crash"  # the worker process died (signal or exit)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one item."""

    index: int
    item: Any
    status: Status
    value: Any = None
    error_class: str = ""
    message: str = ""
    seconds: float = 0.0
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def _worker_main(conn: Connection) -> None:
    faulthandler.disable()  # a crash is reported by the parent, not dumped by the child
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, fn, item = job
        t0 = time.perf_counter()
        try:
            value = fn(item)
            msg = (index, Status.OK, value, "", "", "", time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            msg = (
                index,
                Status.ERROR,
                None,
                type(exc).__name__,
                str(exc),
                traceback.format_exc(),
                time.perf_counter() - t0,
            )
        try:
            conn.send(msg)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # the value did not pickle
            conn.send((index, Status.ERROR, None, type(exc).__name__, f"result not picklable: {exc}", "", 0.0))


class _Worker:
    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple[int, Any] | None = None
        self.started = 0.0
        self.done = 0

    def give(self, index: int, fn: Callable, item: Any) -> None:
        self.job = (index, item)
        self.started = time.monotonic()
        self.conn.send((index, fn, item))

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=2)
        self.conn.close()


def spawn_context():
    """The multiprocessing context every worker process of the project starts from.

    Not fork: the caller may have threads (OCCT's meshing pool, IfcOpenShell, BLAS, torch's
    intra-op pool, Prefect's event loop) whose locks a forked child inherits locked, and then hangs
    on. Spawned workers start clean (about a second each, paid once per worker, not per item)."""
    return mp.get_context("spawn")


class WorkerPool:
    """Up to `size` worker processes, started on demand and kept for later batches.

    Args:
        size: the most workers alive at once (shared by all concurrent `run` calls).
        max_items_per_worker: a worker is replaced after this many items, which bounds the memory
            that native libraries leak.
    """

    def __init__(self, size: int = 2, *, max_items_per_worker: int = 2000) -> None:
        self.size = max(1, int(size))
        self.max_items = max_items_per_worker
        self._ctx = spawn_context()
        self._idle: list[_Worker] = []
        self._alive = 0
        self._cond = threading.Condition()
        self._closed = False

    def _acquire(self, block: bool) -> _Worker | None:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the worker pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._alive < self.size:
                    self._alive += 1
                    break
                if not block:
                    return None
                self._cond.wait()
        try:
            return _Worker(self._ctx)
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise

    def _release(self, w: _Worker) -> None:
        recycle = w.done >= self.max_items or not w.proc.is_alive()
        if recycle:
            w.stop()
        with self._cond:
            if recycle or self._closed:
                self._alive -= 1
                if not recycle:
                    w.stop()
            else:
                self._idle.append(w)
            self._cond.notify()

    def _discard(self, w: _Worker) -> None:
        w.kill()
        with self._cond:
            self._alive -= 1
            self._cond.notify()

    def run(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        timeout: float = 60.0,
        workers: int | None = None,
    ) -> Iterator[Outcome]:
        """Runs `fn(item)` for every item, `timeout` seconds each, on at most `workers` workers.

        `fn` must be importable (a module-level function or a partial of one) and its results
        picklable. Outcomes are yielded in completion order; `Outcome.index` is the item's position.
        """
        todo = list(enumerate(items))
        todo.reverse()
        if not todo:
            return
        limit = max(1, min(workers or self.size, self.size))
        own: list[_Worker] = []
        try:
            while todo or any(w.job is not None for w in own):
                # Take more workers while there is work for them (without waiting for one).
                while todo and len(own) < limit:
                    w = self._acquire(block=not own)
                    if w is None:
                        break
                    own.append(w)
                for w in own:
                    if w.job is None and todo:
                        w.give(*_first(todo.pop(), fn))
                busy = [w for w in own if w.job is not None]
                now = time.monotonic()
                wait_for = max(0.0, min(w.started + timeout - now for w in busy))
                if todo and len(own) < limit:
                    wait_for = min(wait_for, 0.2)  # look again for a worker another batch freed
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wait_for)
                now = time.monotonic()
                for w in list(busy):
                    assert w.job is not None  # busy
                    index, item = w.job
                    outcome = None
                    if w.conn in ready:
                        try:
                            idx, status, value, ecls, msg, tb, secs = w.conn.recv()
                            outcome = Outcome(idx, item, status, value, ecls, msg, secs, tb)
                        except (EOFError, OSError):
                            pass  # the worker died mid-send: reported as a crash below
                    if outcome is None and (w.proc.sentinel in ready or not w.proc.is_alive()):
                        w.proc.join(timeout=1)
                        outcome = Outcome(index, item, Status.CRASH, error_class="WorkerCrash",
                                          message=f"worker died (exit code {w.proc.exitcode})",
                                          seconds=now - w.started)
                    elif outcome is None and now - w.started >= timeout:
                        outcome = Outcome(index, item, Status.TIMEOUT, error_class="Timeout",
                                          message=f"no result after {timeout:g} s", seconds=now - w.started)
                    if outcome is None:
                        continue
                    w.job = None
                    w.done += 1
                    if outcome.status in (Status.CRASH, Status.TIMEOUT):
                        own.remove(w)
                        self._discard(w)
                    elif not todo or w.done >= self.max_items:
                        own.remove(w)
                        self._release(w)
                    yield outcome
        finally:
            for w in own:
                if w.job is not None:
                    self._discard(w)  # abandoned mid-item (the caller stopped iterating)
                else:
                    self._release(w)

    def close(self) -> None:
        """Stops the idle workers; later `run` calls fail."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._cond.notify_all()
        for w in idle:
            w.stop()


def _first(job: tuple[int, Any], fn: Callable) -> tuple[int, Callable, Any]:
    return job[0], fn, job[1]


_shared: dict[int, WorkerPool] = {}
_shared_lock = threading.Lock()


def shared_pool(size: int) -> WorkerPool:
    """The process-wide pool of `size` workers (created on first use, closed at exit)."""
    with _shared_lock:
        pool = _shared.get(size)
        if pool is None:
            pool = _shared[size] = WorkerPool(size)
            atexit.register(pool.close)
        return pool


def run_isolated(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int = 2,
    timeout: float = 60.0,
) -> Iterator[Outcome]:
    """Runs `fn(item)` for every item in a pool of `workers` processes of its own, `timeout` seconds
    each (see `WorkerPool.run`); the workers stop when the batch ends."""
    items = list(items)
    if not items:
        return
    pool = WorkerPool(min(workers, len(items)))
    try:
        yield from pool.run(fn, items, timeout=timeout)
    finally:
        pool.close()
