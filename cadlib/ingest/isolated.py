"""Loading many files with crash and hang isolation (see `cadlib.workers`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from cadlib.ingest.registry import DEFAULT_MAX_MB, summarize_model
from cadlib.workers import Outcome, run_isolated


def load_isolated(
    paths: Iterable[str | Path],
    *,
    workers: int = 2,
    timeout: float = 60.0,
    max_mb: float | None = DEFAULT_MAX_MB,
) -> Iterator[Outcome]:
    """Summarises each file in a worker process; a hang or a segfault costs that file only.

    Yields `cadlib.workers.Outcome`s: `value` is `summarize_model`'s dict when `status` is OK;
    otherwise `error_class` / `message` say what happened (a `CadlibError` subclass for clean
    errors, `Timeout`, `WorkerCrash`).
    """
    yield from run_isolated(partial(summarize_model, max_mb=max_mb), [str(p) for p in paths], workers=workers, timeout=timeout)
