"""A process-wide request to stop: set by the command line's SIGTERM/SIGINT handler (in the main
thread), read by long work that runs in another thread (a training loop run by a flow through
`asyncio.to_thread`), which ends at its next safe point instead of holding the process until it
is done. A Python thread cannot be interrupted from outside: it has to look."""

from __future__ import annotations

import asyncio
import threading

_requested = threading.Event()


def request_stop() -> None:
    _requested.set()


def stop_requested() -> bool:
    return _requested.is_set()


async def to_thread_stoppable(fn, /, *args, **kwargs):
    """`asyncio.to_thread`, raising the stop request when the awaiting task ends early: cancelled,
    or interrupted by Prefect's own SIGTERM handler (which replaces ours while a flow runs). The
    event loop's shutdown then waits for a thread that is stopping, not for one that runs on. An
    error of `fn` itself is not a stop: its thread has ended, and later work in the process runs."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception:
        raise
    except BaseException:  # CancelledError, TerminationSignal, KeyboardInterrupt, SystemExit
        request_stop()
        raise


class Stopped(Exception):
    """Work ended early on a stop request (what it had done is saved; the message says where)."""
