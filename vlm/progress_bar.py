"""A progress bar with an ETA for training on a terminal: against the time budget where the run has
one (the run ends when the time is up), else against the steps its epochs take.

Shown only on the main process, only when stderr is a terminal, and never with `CADRECON_QUIET`
set (`cadrecon train --quiet`): piped output and Prefect's logs stay free of bar redraws.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

QUIET_ENV = "CADRECON_QUIET"


def wanted(stream: IO[str] | None = None) -> bool:
    """Whether a bar belongs on `stream` (stderr by default): a terminal, not silenced."""
    from vlm.distributed import is_main

    stream = stream or sys.stderr
    return is_main() and not os.environ.get(QUIET_ENV) and bool(getattr(stream, "isatty", lambda: False)())


def progress_callback(clock: Any | None = None, stream: IO[str] | None = None):
    """A `TrainerCallback` drawing the bar on `stream` (stderr), or None where none is `wanted`.
    `clock`: the run's `vlm.budget.Clock` when it has a time budget."""
    if not wanted(stream):
        return None
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class ProgressBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kw):
            if clock is not None:
                self.bar = tqdm(total=round(clock.seconds), unit="s", desc="training (time budget)", file=stream,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                                           "[{elapsed}<{remaining}{postfix}]")
            else:
                self.bar = tqdm(total=state.max_steps, unit="step", desc="training", file=stream)
            self.bar.update(round(clock.elapsed()) if clock is not None else state.global_step)

        def on_step_end(self, args, state, control, **kw):
            if self.bar is None:
                return
            target = min(self.bar.total, round(clock.elapsed())) if clock is not None else state.global_step
            if target > self.bar.n:
                self.bar.update(target - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kw):
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", epoch=f"{state.epoch or 0:.2f}", refresh=False)

        def on_train_end(self, args, state, control, **kw):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return ProgressBar()
