"""The training progress bar: drawn with an ETA on a terminal, against the steps or the time
budget; nothing when stderr is piped or the run is quiet."""

from __future__ import annotations

import io
import types

from vlm.budget import Clock
from vlm.progress_bar import QUIET_ENV, progress_callback


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _drive(cb, steps: int, clock=None) -> None:
    state = types.SimpleNamespace(max_steps=steps, global_step=0, epoch=0.0)
    cb.on_train_begin(None, state, None)
    for i in range(1, steps + 1):
        state.global_step, state.epoch = i, i / steps
        if clock is not None:
            clock.t0 -= 1.0  # a second of training a step
        cb.on_log(None, state, None, logs={"loss": 2.0 / i})
        cb.on_step_end(None, state, None)
    cb.on_train_end(None, state, None)


def test_a_terminal_gets_a_bar_with_an_eta_over_the_steps(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    out = Terminal()
    _drive(progress_callback(stream=out), 20)
    text = out.getvalue()
    assert "training" in text and "20/20" in text and "<" in text and "loss=" in text  # [elapsed<remaining, ...]


def test_a_timed_run_counts_its_budget(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    clock = Clock(30.0)
    clock.start()
    out = Terminal()
    _drive(progress_callback(clock, stream=out), 10, clock)
    text = out.getvalue()
    assert "time budget" in text and "/30 s" in text and "10/30 s" in text


def test_piped_or_quiet_runs_draw_nothing(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    assert progress_callback(stream=io.StringIO()) is None  # not a terminal
    monkeypatch.setenv(QUIET_ENV, "1")
    assert progress_callback(stream=Terminal()) is None
