"""Progress bars with an ETA for the long commands (`dataset build`, `reconstruct`, `evaluate`,
`score`), one per stage, fed by `tasks.progress`.

Drawn only where a person watches: stderr is a terminal, the command was not given `--quiet`, and
`CADRECON_QUIET` is not set. Piped output and logs stay free of bar redraws.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO

from vlm.progress_bar import QUIET_ENV


def wanted(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether bars belong on `stream` (stderr by default)."""
    stream = stream or sys.stderr
    return not quiet and not os.environ.get(QUIET_ENV) and bool(getattr(stream, "isatty", lambda: False)())


@contextlib.contextmanager
def progress_bars(quiet: bool = False, stream: IO[str] | None = None) -> Iterator[None]:
    """Within the block, every stage started with `tasks.progress.start` gets a bar on `stream`."""
    if not wanted(quiet, stream):
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tasks import progress

    console = Console(file=stream or sys.stderr, force_terminal=True)
    bars = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)
    ids: dict[str, int] = {}

    def listen(stage: str, done: int, total: int) -> None:
        if stage not in ids:
            ids[stage] = bars.add_task(stage, total=total or None)
        bars.update(ids[stage], completed=done, total=total or None)

    progress.add_listener(listen)
    try:
        with bars:
            yield
    finally:
        progress.remove_listener(listen)
