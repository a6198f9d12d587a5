"""/health from local state: the background check of Prefect (`deployments.health.PrefectWatch`),
without a Prefect server: a check function that counts its calls."""

from __future__ import annotations

import asyncio

from deployments.health import PrefectWatch


def test_answers_from_the_last_check_and_refreshes_once_in_the_background():
    calls: list[int] = []
    gate = asyncio.Event()

    async def check() -> dict:
        calls.append(1)
        if len(calls) > 1:
            await gate.wait()  # the second check hangs until released: requests must not wait for it
        return {"reachable": True, "deployments": [f"check-{len(calls)}"]}

    async def go():
        watch = PrefectWatch(check, max_age_s=0.05)
        first = await watch.snapshot()  # nothing known yet: the first request waits for a check
        assert first["deployments"] == ["check-1"] and first["checked_s_ago"] < 1
        assert (await watch.snapshot())["deployments"] == ["check-1"] and len(calls) == 1  # fresh: no check
        await asyncio.sleep(0.1)
        stale = await asyncio.wait_for(asyncio.gather(*(watch.snapshot() for _ in range(20))), 1)
        assert all(s["deployments"] == ["check-1"] for s in stale)  # answered at once from the old check
        await asyncio.sleep(0)
        assert len(calls) == 2  # 20 stale requests started one check, not 20
        gate.set()
        await asyncio.sleep(0.01)
        assert (await watch.snapshot())["deployments"] == ["check-2"]

    asyncio.run(go())


def test_a_failing_check_is_reported_not_raised():
    async def check() -> dict:
        raise ConnectionError("refused")

    got = asyncio.run(PrefectWatch(check).snapshot())
    assert got["reachable"] is False and got["error"] == "ConnectionError"
