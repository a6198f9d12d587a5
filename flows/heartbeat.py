"""A flow run's heartbeat, so a run whose process died is told from one that works.

Killed with `kill -9`, `cadrecon serve` takes its flow runs with it, and Prefect leaves them
`Running` (or `Cancelling`) for good: the dataset they hold answers every other request with 409,
and the same request gets the dead run back. Every on-demand flow therefore beats while it runs: a
thread touches `<data_dir>/datasets/.locks/runs/<flow run id>.alive` every `BEAT_S` seconds and
removes it when the flow ends. The API shares the data folder (the compose file mounts it in both),
and treats an active run without a beat for `STALE_S` seconds as dead (`deployments.jobs`): it is
marked Crashed and its dataset freed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BEAT_S = 10.0
STALE_S = 40.0
"""Four beats missed: a process that lives beats far more often, even on a loaded machine."""


def beats_dir(data_dir: str | Path) -> Path:
    from cadlib.dataset.layout import DataDir

    return DataDir(Path(data_dir)).locks / "runs"


@contextlib.contextmanager
def beating(data_dir: str | Path, run_id: str | None = None) -> Iterator[None]:
    """Beats for the current flow run (or `run_id`) while the block runs; nothing outside a run."""
    if run_id is None:
        from prefect.runtime import flow_run

        run_id = flow_run.id
    if not run_id:
        yield
        return
    path = beats_dir(data_dir) / f"{run_id}.alive"
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(OSError):  # a full disk must not stop the work, only its beat
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            if stop.wait(BEAT_S):
                return

    thread = threading.Thread(target=beat, name="cadrecon-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def last_beat(data_dir: str | Path, run_id: str) -> float | None:
    """When the run last beat (a Unix time), or None if it never did (or has ended)."""
    try:
        return os.stat(beats_dir(data_dir) / f"{run_id}.alive").st_mtime
    except OSError:
        return None


def is_dead(data_dir: str | Path, run_id: str, started: float | None, now: float | None = None,
            stale_s: float | None = None) -> bool:
    """An active run (Running, Cancelling) whose process no longer beats: its last beat, or its
    start when it never beat, is over `stale_s` (default `STALE_S`) old."""
    now = time.time() if now is None else now
    beat = last_beat(data_dir, run_id)
    since = beat if beat is not None else started
    return since is not None and now - since > (STALE_S if stale_s is None else stale_s)
