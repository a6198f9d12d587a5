"""A flow run's heartbeat (`flows.heartbeat`): the file is touched while the run works and gone
when it ends; a run is dead once its last beat (or its start, without one) is over STALE_S old."""

from __future__ import annotations

import os
import time

from flows import heartbeat


def test_a_run_beats_while_it_works_and_stops_when_it_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(heartbeat, "BEAT_S", 0.05)
    path = heartbeat.beats_dir(tmp_path) / "run-1.alive"
    with heartbeat.beating(tmp_path, "run-1"):
        time.sleep(0.1)
        first = path.stat().st_mtime_ns
        time.sleep(0.2)
        assert path.stat().st_mtime_ns > first  # beats again and again
        assert not heartbeat.is_dead(tmp_path, "run-1", started=time.time() - 3600)
    assert not path.exists() and heartbeat.last_beat(tmp_path, "run-1") is None


def test_dead_after_stale_s_without_a_beat(tmp_path):
    now = time.time()
    assert heartbeat.is_dead(tmp_path, "never-beat", started=now - heartbeat.STALE_S - 1, now=now)
    assert not heartbeat.is_dead(tmp_path, "never-beat", started=now - 5, now=now)  # just started
    path = heartbeat.beats_dir(tmp_path) / "old.alive"
    path.parent.mkdir(parents=True)
    path.touch()
    os.utime(path, (now - heartbeat.STALE_S - 5, now - heartbeat.STALE_S - 5))
    assert heartbeat.is_dead(tmp_path, "old", started=now - 3600, now=now)


def test_outside_a_flow_run_nothing_beats(tmp_path):
    with heartbeat.beating(tmp_path):
        pass
    assert not heartbeat.beats_dir(tmp_path).exists()
