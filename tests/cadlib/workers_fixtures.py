"""Module-level functions for the worker tests (workers need importable functions)."""

from __future__ import annotations

import os
import time


def job(x):
    if x == "crash":
        os.kill(os.getpid(), 11)
    if x == "hang":
        time.sleep(60)
    if x == "raise":
        raise ValueError("bad item")
    if x == "exit":
        os._exit(3)
    return x * 2


def pid(_x):
    return os.getpid()
