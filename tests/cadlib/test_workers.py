"""The supervised pool survives crashes, hangs and exceptions, and loses no item."""

from __future__ import annotations

import time

from cadlib.workers import Status, run_isolated
from tests.cadlib.workers_fixtures import job


def test_every_item_gets_an_outcome_and_the_pool_recovers():
    items = [1, "crash", 2, "hang", 3, "raise", "exit", 4]
    t0 = time.perf_counter()
    out = {o.index: o for o in run_isolated(job, items, workers=2, timeout=2.0)}
    assert time.perf_counter() - t0 < 20
    assert sorted(out) == list(range(len(items)))
    assert [out[i].value for i in (0, 2, 4, 7)] == [2, 4, 6, 8]
    assert out[1].status is Status.CRASH and "exit code -11" in out[1].message
    assert out[3].status is Status.TIMEOUT
    assert out[5].status is Status.ERROR and out[5].error_class == "ValueError" and out[5].message == "bad item"
    assert out[6].status is Status.CRASH and "exit code 3" in out[6].message


def test_empty_input():
    assert list(run_isolated(job, [], workers=2)) == []
