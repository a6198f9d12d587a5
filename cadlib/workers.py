"""A supervised process pool: run a function over many items, each with a time limit, in worker
processes that a crash or a hang cannot take down with the caller.

Native CAD libraries (OCCT, IfcOpenShell) can hang or segfault on bad input. Each item runs in a
long-lived worker; a worker that overruns its time limit is killed, one that dies is replaced, and
the item is reported as `TIMEOUT` or `CRASH`. Ordinary exceptions come back as `ERROR` with their
class and message. Results are yielded as they finish.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing as mp
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


def _worker_main(fn: Callable, conn: Connection) -> None:
    faulthandler.disable()  # a crash is reported by the parent, not dumped by the child
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, item = job
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
    def __init__(self, ctx, fn: Callable) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(fn, child), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple[int, Any] | None = None
        self.started = 0.0

    def give(self, index: int, item: Any) -> None:
        self.job = (index, item)
        self.started = time.monotonic()
        self.conn.send(self.job)

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


def _context():
    # Not fork: the caller may have threads (OCCT's meshing pool, IfcOpenShell, BLAS) whose locks
    # a forked child inherits locked, and then hangs on. Spawned workers start clean (about a
    # second each, paid once per worker, not per item).
    return mp.get_context("spawn")


def run_isolated(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int = 2,
    timeout: float = 60.0,
) -> Iterator[Outcome]:
    """Runs `fn(item)` for every item in `workers` processes, `timeout` seconds each.

    `fn` must be importable (a module-level function) and its results picklable. Outcomes are
    yielded in completion order; `Outcome.index` is the item's position.
    """
    todo = list(enumerate(items))
    todo.reverse()
    if not todo:
        return
    ctx = _context()
    pool = [_Worker(ctx, fn) for _ in range(max(1, min(workers, len(todo))))]
    try:
        for w in pool:
            if todo:
                w.give(*todo.pop())
        while any(w.job is not None for w in pool):
            busy = [w for w in pool if w.job is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(w.started + timeout - now for w in busy))
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wait_for)
            now = time.monotonic()
            for i, w in enumerate(pool):
                if w.job is None:
                    continue
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
                    code = w.proc.exitcode
                    outcome = Outcome(index, item, Status.CRASH, message=f"worker died (exit code {code})",
                                      error_class="WorkerCrash", seconds=now - w.started)
                elif outcome is None and now - w.started >= timeout:
                    outcome = Outcome(index, item, Status.TIMEOUT, message=f"no result after {timeout:g} s",
                                      error_class="Timeout", seconds=now - w.started)
                if outcome is None:
                    continue
                if outcome.status in (Status.CRASH, Status.TIMEOUT):
                    w.kill()
                    w = pool[i] = _Worker(ctx, fn)
                else:
                    w.job = None
                if todo:
                    w.give(*todo.pop())
                else:
                    w.job = None
                yield outcome
    finally:
        for w in pool:
            if w.job is not None:
                w.kill()
            else:
                w.stop()

