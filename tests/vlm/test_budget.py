"""The clock-driven learning-rate schedule and time budget."""

from __future__ import annotations

import pytest

from vlm.budget import Clock, timed_lr


class FakeClock(Clock):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.now = 0.0

    def elapsed(self) -> float:
        return self.now


def test_warmup_then_cosine_to_the_floor_exactly_at_the_end():
    clock = FakeClock(100)
    f = timed_lr(clock, warmup=0.1, final=0.05)
    values = {}
    for t in (0, 5, 10, 55, 100, 150):
        clock.now = t
        values[t] = f(0)
    assert values[0] == pytest.approx(0.01) and values[5] == pytest.approx(0.5)
    assert values[10] == pytest.approx(1.0) and values[55] == pytest.approx(0.525)
    assert values[100] == pytest.approx(0.05) and values[150] == pytest.approx(0.05)


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="must be positive"):
        Clock(0)
