"""The training flow on a dataset the dataset flow built: tiny model, test run, report on disk."""

from __future__ import annotations

import asyncio
import json

import pytest

from deployments.views import CONVERGENCE, convergence_results, training_status
from flows.build_dataset import run_build
from flows.train import run_train
from tests.flows.conftest import tiny_yaml

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_test_run_on_a_built_dataset(tmp_path, monkeypatch):
    from config import get_settings

    run_build(str(tiny_yaml(tmp_path / "tiny.yaml", tmp_path / "data")))
    recipe = tmp_path / "quick.yaml"
    recipe.write_text(json.dumps({"name": "quick", "model": "tiny", "batch_size": 4, "learning_rate": 0.005,
                                  "family": "idefics3", "mode": "full",
                                  "tiny": {"image_size": 64, "patch_size": 16, "vision_hidden": 32, "vision_layers": 1,
                                           "hidden": 64, "layers": 2, "heads": 2},
                                  "test_run": {"train_samples": 32, "val_samples": 8, "epochs": 5}}))
    monkeypatch.setenv("CADRECON_DATA_DIR", str(tmp_path / "data"))
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


async def _latest_job(flow: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from deployments.jobs import read_job

    async with get_client() as client:
        (run,) = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                             sort=FlowRunSort.START_TIME_DESC, limit=1)
    return await read_job(str(run.id))
