"""The training flow on a dataset the dataset flow built: tiny model, test run, report on disk."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.views import CONVERGENCE, convergence_results, training_status
from flows.build_dataset import run_build
from flows.train import run_train
from tests.flows.conftest import tiny_yaml

pytestmark = pytest.mark.usefixtures("prefect_server")
ROOT = Path(__file__).resolve().parents[2]
QUICK = {"name": "quick", "model": "tiny", "batch_size": 4, "learning_rate": 0.005, "family": "idefics3", "mode": "full",
         "tiny": {"image_size": 64, "patch_size": 16, "vision_hidden": 32, "vision_layers": 1, "hidden": 64, "layers": 2,
                  "heads": 2},
         "test_run": {"train_samples": 32, "val_samples": 8, "epochs": 5}}


@pytest.fixture(scope="module")
def built(tmp_path_factory, prefect_server) -> Path:
    """A data dir holding the tiny dataset, built by the dataset flow."""
    data = tmp_path_factory.mktemp("train-flow") / "data"
    run_build(str(tiny_yaml(data.parent / "tiny.yaml", data)))
    return data


def _data_dir(built: Path, tmp_path: Path) -> Path:
    """A data dir of this test's own over the built dataset (runs and models stay apart)."""
    (tmp_path / "data" / "datasets").mkdir(parents=True)
    (tmp_path / "data" / "datasets" / "tiny").symlink_to(built / "datasets" / "tiny")
    return tmp_path / "data"


def test_test_run_on_a_built_dataset(built, tmp_path, monkeypatch):
    from config import get_settings

    recipe = tmp_path / "quick.yaml"
    recipe.write_text(json.dumps(QUICK))
    monkeypatch.setenv("CADRECON_DATA_DIR", str(_data_dir(built, tmp_path)))
    get_settings.cache_clear()
    try:  # the API's test-run request arrives as overrides of the recipe
        report = run_train("tiny", str(recipe), test_run=True,
                           overrides={"test_run": {"train_samples": 16, "val_samples": 4, "epochs": 2}})
    finally:
        get_settings.cache_clear()
    run = tmp_path / "data" / "runs" / "tiny-quick-test"
    assert report["weights"] == str(run / "model") and (run / "model" / "config.json").is_file()
    assert report["train_mode"] == "full" and report["trainable_parameters"] == report["parameters"]
    assert len(list((tmp_path / "data" / "models").glob("tiny-tiny-*/config.json"))) == 1
    saved = json.loads((run / "training_report.json").read_text())
    assert saved["mode"] == "test-run" and saved["train_samples"] == 16 and saved["val_samples"] == 4
    assert [h["epoch"] for h in saved["history"]] == [1, 2] and saved["verdict"]

    # What the REST API reads back from Prefect: the live epoch table and the summary row.
    job = asyncio.run(_latest_job("train"))
    assert job.state == "Completed"
    res = convergence_results(job)
    assert [(p.epoch, p.train_loss) for p in res.loss_progression] == [(h["epoch"], h["train_loss"])
                                                                      for h in saved["history"]]
    assert res.total_improvement == saved["loss_reduction_pct"] and res.verdict == saved["verdict"]
    assert res.convergence == CONVERGENCE[saved["verdict"]]
    assert res.performance.throughput == saved["samples_per_second"]
    progress, metrics, eta = training_status(job)
    assert (progress.current_epoch, progress.total_epochs, progress.percentage) == (2, 2, 100.0)
    assert progress.current_step == saved["global_step"] and eta == 0.0
    assert metrics.current_loss == saved["history"][-1]["train_loss"] and metrics.learning_rate is not None
    # One artifact per kind for the run (the live table and curve are updated in place, not copied)
    keys = asyncio.run(_artifact_keys(job.id))
    assert sorted(keys) == sorted(set(keys)) and {k.rsplit("-", 1)[-1] for k in keys} >= {
        "progress", "epochs", "curve", "report", "summary"}
    assert saved["tensorboard"] == str(run / "tensorboard") and list((run / "tensorboard").glob("events.out.*"))


def test_two_processes_make_one_flow_run_one_model_and_train_together(built, tmp_path):
    """`accelerate launch --num_processes 2 -m flows.train` on CPU (gloo): rank 0 runs the one flow
    run and saves; rank 1 trains beside it (the gradients of both make every step)."""
    from prefect.settings import PREFECT_API_URL

    recipe = tmp_path / "quick.yaml"
    recipe.write_text(json.dumps({**QUICK, "logging_steps": 1}))
    before = asyncio.run(_train_runs())
    env = {**os.environ, "CADRECON_DATA_DIR": str(_data_dir(built, tmp_path)), "PREFECT_API_URL": PREFECT_API_URL.value(),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with socket.socket() as sock:  # a free port for the processes to meet on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # accelerate's multi-process launcher (torchrun underneath); without CUDA the ranks meet over gloo
    res = subprocess.run([str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes",
                          "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "--main_process_port", str(port), "-m", "flows.train", "--dataset", "tiny", "--recipe",
                          str(recipe), "--test-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "data" / "runs" / "tiny-quick-test"
    report = json.loads((run / "training_report.json").read_text())
    # 24 samples, 4 per process and step, 2 processes: 3 steps an epoch (6 in one process)
    assert report["world_size"] == 2 and report["train_samples"] == 24 and report["global_step"] == 5 * 3
    assert "rank 1 of 2: trained 15 steps" in res.stderr  # rank 1 took every step beside rank 0
    assert [r["step"] for r in report["steps"] if "loss" in r] == list(range(1, 16))  # logged once, by rank 0
    assert len(list(run.glob("model/*.safetensors"))) == 1 and len(list(run.glob("tensorboard/events.*"))) == 1
    after = asyncio.run(_train_runs())
    assert len(after - before) == 1  # one flow run


async def _latest_job(flow: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from deployments.jobs import read_job

    async with get_client() as client:
        (run,) = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                             sort=FlowRunSort.START_TIME_DESC, limit=1)
    return await read_job(str(run.id))


async def _artifact_keys(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return [a.key for a in arts if a.key]


async def _train_runs() -> set:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["train"])))
    return {r.id for r in runs}
