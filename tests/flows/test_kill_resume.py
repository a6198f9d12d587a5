"""`kill -9` of a build half-way, then a re-run: the dataset is byte-identical to an uninterrupted
build (atomic writes; finished shards reused, the interrupted one redone)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.conftest import tiny_yaml, tree_hashes

ROOT = Path(__file__).resolve().parents[2]


def _build(preset: Path, env: dict, *, kill_after_shards: int | None = None, timeout: float = 300) -> int:
    log = preset.with_suffix(".log")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.build_dataset", str(preset)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    if kill_after_shards is None:
        code = proc.wait(timeout)
        assert code == 0, log.read_text(errors="replace")[-3000:]
        return code
    shards = preset.parent / "data" / "datasets" / preset.stem / "shards"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(shards.glob("render-*.json"))) >= kill_after_shards:
            os.killpg(proc.pid, signal.SIGKILL)  # the build and its workers and server, mid-write
            proc.wait(30)
            return -9
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the build finished (or hung) before it could be killed half-way:\n"
                         + log.read_text(errors="replace")[-3000:])


@pytest.mark.slow
def test_killed_build_resumes_to_the_same_bytes(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    runs = {}
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
        preset = tiny_yaml(tmp_path / name / "tiny.yaml", tmp_path / name / "data", train_size=20, val_size=2,
                           test_size=2, shard_size=3, workers=1, concurrency=1)
        runs[name] = preset
    assert _build(runs["killed"], env, kill_after_shards=3) == -9
    killed_root = tmp_path / "killed" / "data" / "datasets" / "tiny"
    assert not (killed_root / "validation.json").exists()  # it really stopped half-way
    assert len(list((killed_root / "shards").glob("render-*.json"))) < 8
    assert _build(runs["killed"], env) == 0
    assert _build(runs["clean"], env) == 0
    clean = tree_hashes(tmp_path / "clean" / "data" / "datasets" / "tiny")
    assert len(clean) > 100 and tree_hashes(killed_root) == clean
