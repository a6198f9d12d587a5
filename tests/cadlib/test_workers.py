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


def test_a_pool_keeps_its_workers_between_batches_and_recycles_them():
    from cadlib.workers import WorkerPool
    from tests.cadlib.workers_fixtures import pid

    pool = WorkerPool(1, max_items_per_worker=3)
    try:
        first = {o.value for o in pool.run(pid, range(2))}
        second = {o.value for o in pool.run(pid, range(1))}
        assert first == second  # the same process served both batches
        third = {o.value for o in pool.run(pid, range(3))}
        assert len(third) == 1 and not third & first  # replaced after 3 items
    finally:
        pool.close()


def test_threads_share_one_pool_and_lose_nothing():
    import threading

    from cadlib.workers import WorkerPool

    pool = WorkerPool(2)
    results: dict[int, list] = {}

    def batch(k: int) -> None:
        results[k] = sorted(o.value for o in pool.run(job, [k * 10 + i for i in range(5)] + ["raise"]) if o.ok)
    try:
        threads = [threading.Thread(target=batch, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert pool._alive <= 2
        for k in range(3):
            assert results[k][:5] == [2 * (k * 10 + i) for i in range(5)]
    finally:
        pool.close()
