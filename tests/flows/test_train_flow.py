"""The training flow on a dataset the dataset flow built: tiny model, test run, report on disk."""

from __future__ import annotations

import json

import pytest

from flows.build_dataset import run_build
from flows.train import run_train
from tests.flows.conftest import tiny_yaml

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_test_run_on_a_built_dataset(tmp_path, monkeypatch):
    from config import get_settings

    run_build(str(tiny_yaml(tmp_path / "tiny.yaml", tmp_path / "data")))
    recipe = tmp_path / "quick.yaml"
    recipe.write_text(json.dumps({"name": "quick", "model": "tiny", "batch_size": 4, "learning_rate": 0.005,
                                  "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj", "down_proj"]},
                                  "test_run": {"train_samples": 16, "val_samples": 4, "epochs": 2}}))
    monkeypatch.setenv("CADRECON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        report = run_train("tiny", str(recipe), test_run=True)
    finally:
        get_settings.cache_clear()
    run = tmp_path / "data" / "runs" / "tiny-quick-test"
    assert report["adapter"] == str(run / "adapter") and (run / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "data" / "models" / "tiny-tiny" / "config.json").is_file()
    saved = json.loads((run / "training_report.json").read_text())
    assert saved["mode"] == "test-run" and saved["train_samples"] == 16 and saved["val_samples"] == 4
    assert [h["epoch"] for h in saved["history"]] == [1, 2] and saved["verdict"]
