"""The training tasks: build the small offline model for a dataset, and train (full, LoRA or
vision frozen)."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_image_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from tasks.cache import transient_only
from vlm.report import loss_curve_png
from vlm.tiny import INIT_FILE, TinyShape
from vlm.train import TrainSpec, run_training


@task(name="init-tiny-model", retries=1, retry_condition_fn=transient_only)
def init_tiny(dataset_root: str, out_dir: str, shape: TinyShape, seed: int = 0) -> str:
    """Builds the small Idefics3 for a dataset (tokenizer trained on its text) unless it exists
    (the folder is named by the dataset and the shape)."""
    from vlm.tiny import build_tiny

    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "tokenizer.json").is_file() and (out / INIT_FILE).is_file():
        return str(out)
    texts = []
    for split in ("train", "val"):
        path = Path(dataset_root) / f"{split}.json"
        if path.is_file():
            texts += [t["value"] for r in json.loads(path.read_text()) for t in r["conversations"]]
    if not texts:
        raise ValueError(f"{dataset_root}: no samples to train a tokenizer on; build the dataset first")
    build_tiny(texts, out, shape, seed=seed)
    get_run_logger().info("built the tiny model in %s", out)
    return str(out)


@task(name="fit", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def fit(spec: TrainSpec, dataset_root: str, train_n: int | None, val_n: int | None, mode: str, key: str) -> dict:
    """Trains (resuming from the last checkpoint, so a retry continues), publishing progress and
    the loss curve after every epoch."""
    log = get_run_logger()
    progress = create_progress_artifact(0.0, key=f"{key}-progress", description="training progress", _sync=True)

    def on_epoch(row: dict) -> None:
        log.info("epoch %s: train loss %.4f, val loss %s", row["epoch"], row["train_loss"], row["val_loss"])
        history.append({**row, "total_epochs": spec.epochs})
        with contextlib.suppress(Exception):  # cosmetic: never fail training over the UI
            update_progress_artifact(progress, 100.0 * row["step"] / max(1, row["max_steps"]), _sync=True)
            create_table_artifact(history, key=f"{key}-epochs", description="loss per epoch (live)", _sync=True)
            png = base64.b64encode(loss_curve_png(history)).decode()
            create_image_artifact(image_url="data:image/png;base64," + png, key=f"{key}-loss-curve",
                                  description="loss per epoch", _sync=True)

    history: list[dict] = []
    return run_training(spec, dataset_root, train_n=train_n, val_n=val_n, mode=mode, on_epoch=on_epoch)
