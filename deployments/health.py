"""/health from local state: the API's view of Prefect, checked in the background.

A load balancer polls /health many times a second; asking Prefect each time made it as slow as
Prefect (p50 622 ms at 20 connections). The answer here is the last check's result with its age;
a check older than `max_age_s` starts one new check in the background (never more than one at a
time) and the request does not wait for it. Only the very first request waits, as there is
nothing to report yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("cadrecon.api")


class PrefectWatch:
    """The latest answer of `check` (a dict), refreshed in the background when stale."""

    def __init__(self, check: Callable[[], Awaitable[dict]], max_age_s: float = 5.0) -> None:
        self.check, self.max_age_s = check, max_age_s
        self._last: dict | None = None
        self._at = 0.0
        self._running: asyncio.Task | None = None

    async def snapshot(self) -> dict:
        """The latest check's result plus ``checked_s_ago``; waits only when nothing was checked yet."""
        stale = time.monotonic() - self._at > self.max_age_s
        if self._last is None or stale:
            task = self._refresh()
            if self._last is None:
                await asyncio.shield(task)
        return {**self._last, "checked_s_ago": round(time.monotonic() - self._at, 1)}

    def _refresh(self) -> asyncio.Task:
        loop = asyncio.get_running_loop()
        running = self._running
        if running is None or running.done() or running.get_loop() is not loop:
            self._running = loop.create_task(self._check())
        return self._running

    async def _check(self) -> None:
        try:
            result = await self.check()
        except Exception as exc:  # noqa: BLE001 - health reports it rather than failing
            log.warning("health: Prefect does not answer: %s", exc)
            result = {"reachable": False, "error": type(exc).__name__}
        self._last, self._at = result, time.monotonic()
