"""The training tasks: build the small offline model for a dataset, and train (full, LoRA or
vision frozen)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from cadlib.dataset.layout import DatasetLayout
from tasks import artifacts
from tasks.artifacts import InPlaceArtifacts, Suffix
from tasks.cache import transient_only
from vlm.report import loss_curve_png
from vlm.reports import EpochUpdate, StepPoint, TrainingReport
from vlm.selection import IouPoint
from vlm.tiny import INIT_FILE, TinyShape
from vlm.train import TrainSpec, run_training


def tiny_model(dataset_root: str, out_dir: str, shape: TinyShape, seed: int = 0, log=None) -> str:
    """Builds the small Idefics3 for a dataset (tokenizer trained on its text) unless it exists
    (the folder is named by the dataset and the shape)."""
    from vlm.tiny import build_tiny

    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "tokenizer.json").is_file() and (out / INIT_FILE).is_file():
        return str(out)
    texts = []
    layout = DatasetLayout(Path(dataset_root))
    for split in ("train", "val"):
        if layout.split_file(split, "json").is_file():
            texts += [t["value"] for r in layout.read_split(split) for t in r["conversations"]]
    if not texts:
        raise ValueError(f"{dataset_root}: no samples to train a tokenizer on; build the dataset first")
    build_tiny(texts, out, shape, seed=seed)
    (log or logging.getLogger(__name__)).info("built the tiny model in %s", out)
    return str(out)


@task(name="init-tiny-model", retries=1, retry_condition_fn=transient_only)
def init_tiny(dataset_root: str, out_dir: str, shape: TinyShape, seed: int = 0) -> str:
    """`tiny_model` as a task."""
    return tiny_model(dataset_root, out_dir, shape, seed, get_run_logger())


def train_and_publish(spec: TrainSpec, dataset_root: str, train_n: int | None, val_n: int | None, mode: str,
                      key: str, *, live: bool) -> TrainingReport:
    """Trains (resuming from the last checkpoint, so a retry continues). `live` (rank 0, in a
    Prefect run): progress, the epoch table and the loss curve in the UI after every epoch, each
    one artifact updated in place; otherwise log lines only."""
    log = get_run_logger() if live else logging.getLogger(__name__)
    board = InPlaceArtifacts() if live else None
    progress = create_progress_artifact(0.0, key=artifacts.key(key, Suffix.PROGRESS), description="training progress",
                                        _sync=True) if live else None
    history: list[dict[str, object]] = []

    def publish(rows: list[dict[str, object]], steps: list[StepPoint]) -> None:
        if board is None:
            return
        with contextlib.suppress(Exception):  # cosmetic: never fail training over the UI
            board.table(artifacts.key(key, Suffix.EPOCHS), rows, "loss per epoch")
            board.image(artifacts.key(key, Suffix.LOSS_CURVE), loss_curve_png(steps), "loss per logged step, val loss per evaluation")

    def on_epoch(row: EpochUpdate) -> None:
        steps = row["log"]
        log.info("epoch %s: train loss %.4f, val loss %s", row["epoch"], row["train_loss"], row["val_loss"])
        history.append({**{k: v for k, v in row.items() if k != "log"}, "total_epochs": spec.epochs})
        if progress is not None:
            with contextlib.suppress(Exception):
                update_progress_artifact(progress, 100.0 * row["step"] / max(1, row["max_steps"]), _sync=True)
        publish(history, steps)

    curve: list[dict[str, object]] = []

    def on_point(point: IouPoint) -> None:
        log.info("step %s: val IoU score %.4f (mean IoU %s, invalid %.2f, %d parts, %.1f s)", point["step"],
                 point["score"], point["mean_iou"], point["invalid_ratio"], point["n"], point["seconds"])
        curve.append(dict(point))
        if board is not None:
            with contextlib.suppress(Exception):
                board.table(artifacts.key(key, Suffix.IOU_CURVE), curve, "val IoU per evaluation (selection)")

    report = run_training(spec, dataset_root, train_n=train_n, val_n=val_n, mode=mode, on_epoch=on_epoch,
                          on_point=on_point)
    if progress is not None:  # done: a timed run ends before the steps its epochs would take
        with contextlib.suppress(Exception):
            update_progress_artifact(progress, 100.0, _sync=True)
    publish(history, report["steps"])
    if board is not None and report.get("selection"):
        with contextlib.suppress(Exception):
            rows = [{**p, "kept": p["step"] == report["selection"]["kept_step"]} for p in report["selection"]["curve"]]
            board.table(artifacts.key(key, Suffix.IOU_CURVE), rows, "val IoU per evaluation; kept: the saved model")
    return report


@task(name="fit", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def fit(spec: TrainSpec, dataset_root: str, train_n: int | None, val_n: int | None, mode: str, key: str) -> TrainingReport:
    """`train_and_publish` as a task of the flow run (rank 0)."""
    return train_and_publish(spec, dataset_root, train_n, val_n, mode, key, live=True)
