"""Training against the clock: a learning-rate schedule over wall time and a callback that stops
the run when the time is up.

A step-based schedule needs the number of steps in advance, which on a shared CPU is a guess; a
schedule over elapsed time reaches the end of its decay exactly when the budget does, whatever the
throughput turns out to be.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Clock:
    """Seconds since `start()`, as a fraction of `seconds` (the budget). Across processes
    (`vlm.distributed`) the clock reads the slowest process's time as agreed at the last step, so
    every rank decays the learning rate and stops alike."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"a time budget must be positive, got {seconds} s")
        self.seconds = seconds
        self.t0: float | None = None
        self.agreed: float | None = None

    def start(self) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()

    def hold(self, seconds: float) -> None:
        """Takes `seconds` (work that is not training, e.g. an evaluation) off the elapsed time."""
        if self.t0 is not None:
            self.t0 += seconds
        if self.agreed is not None:
            self.agreed = max(0.0, self.agreed - seconds)

    def elapsed(self) -> float:
        if self.agreed is not None:
            return self.agreed
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def agree(self) -> None:
        """Under several processes: every rank takes the largest elapsed time (a step boundary is
        the same point on every rank, so they agree on it)."""
        from vlm.distributed import agree_max, world_size

        if world_size() > 1 and self.t0 is not None:
            (self.agreed,) = agree_max(time.monotonic() - self.t0)

    def fraction(self) -> float:
        return min(1.0, self.elapsed() / self.seconds)


def timed_lr(clock: Clock, *, warmup: float = 0.05, final: float = 0.05) -> Callable[[int], float]:
    """A LambdaLR factor: linear warm-up over the first `warmup` of the time, then cosine decay to
    `final` of the peak at the end of the budget."""

    def factor(_step: int) -> float:
        f = clock.fraction()
        if f < warmup:
            return max(f / warmup, 0.01)
        t = (f - warmup) / max(1e-9, 1 - warmup)
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def time_budget_callback(clock: Clock):
    """A `TrainerCallback` that starts `clock` with training and stops it when the budget is spent
    (after the step in progress)."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            clock.start()

        def on_step_end(self, args, state, control, **kw):
            clock.agree()
            if clock.fraction() >= 1.0:
                control.should_training_stop = True
                control.should_save = True
            return control

    return TimeBudget()
