"""Exclusive OS file locks (flock): one build per dataset at a time, and one "is it busy? start
it" decision at a time in the API.

A lock is a file under the data folder, so it holds across processes on one machine and across
containers that share the data volume (`docker compose` API replicas and workers); the kernel
drops it when its holder dies, so a killed build never leaves a dataset locked. The holder writes
who it is into the file, for the message another run gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cadlib.dataset.layout import LOCKS
from cadlib.errors import CadlibError


class DatasetBusy(CadlibError):
    """Another run holds the dataset's build lock."""


_held: dict[str, int] = {}  # lock file -> depth, for locks this process holds (re-entrant)
_guard = threading.Lock()


@contextlib.contextmanager
def held(path: str | Path, *, wait_s: float | None = 0.0, what: str = "") -> Iterator[None]:
    """Holds the lock file `path` for the block. `wait_s`: 0 fails at once when another process
    holds it, None waits as long as it takes. Re-entrant within a process.

    Raises:
        DatasetBusy: another process holds it (its holder named), after `wait_s`.
    """
    path = Path(path)
    key = str(path.resolve()) if path.exists() else str(path.absolute())
    with _guard:
        if key in _held:
            _held[key] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait_s, what)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
                 .encode())
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait_s: float | None, what: str) -> None:
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                holder = path.read_text(errors="replace").strip() or "another process"
                raise DatasetBusy(f"{what or path.stem} is busy: held by {holder}; wait for that run or stop it",
                                  source=str(path)) from None
            time.sleep(0.05)


def build_lock_path(datasets_dir: str | Path, name: str) -> Path:
    """The lock a build of dataset `name` holds (beside the datasets, so a new one has it too)."""
    return Path(datasets_dir) / LOCKS / f"{name}.lock"


def is_held(path: str | Path) -> bool:
    """Whether some process holds the lock file `path` now (a probe: takes and drops it at once)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
