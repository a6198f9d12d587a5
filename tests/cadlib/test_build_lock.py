"""One build per dataset: the lock holds across processes, names its holder, is re-entrant in its
own process and dies with it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cadlib.dataset.lock import DatasetBusy, build_lock_path, held, is_held

HOLD = """
import sys, time
from cadlib.dataset.lock import held
with held(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_is_refused_with_the_holder_named_and_freed_when_it_dies(tmp_path):
    path = build_lock_path(tmp_path / "datasets", "demo")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert is_held(path)
        with pytest.raises(DatasetBusy, match=rf"dataset 'demo' is busy: held by pid {proc.pid}"), \
                held(path, what="dataset 'demo'"):
            pass
    finally:
        proc.kill()
        proc.wait()
    assert not is_held(path)  # the kernel dropped the dead holder's lock
    with held(path, wait_s=5), held(path):  # re-entrant here
        assert is_held(path)  # the probe sees this process's own lock too
    assert not is_held(path) and not is_held(tmp_path / "never.lock")


def test_waiting_for_a_lock_gets_it_when_released(tmp_path):
    path = tmp_path / "x.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD.replace("60", "1"), str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    t = time.monotonic()
    with held(path, wait_s=30):
        assert time.monotonic() - t < 10
    proc.wait()
