"""The shapes of what training hands on: the per-epoch history, the logged steps, a fit's result, the
folders saved, training_report.json, an export's result. `TypedDict`s: training_report.json is read
back by generation, evaluation, the CLI and the REST API by these keys (and Prefect persists the
flow's result), so the type names them, mypy checks them, and the files stay as they were."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class EpochPoint(TypedDict):
    """One epoch: the mean train loss of its logged steps, its val loss, the last learning rate."""

    epoch: int
    train_loss: float
    val_loss: float | None
    learning_rate: float | None


class StepPoint(TypedDict, total=False):
    """One logged step: train loss and learning rate (and gradient norm), or the val loss."""

    step: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float
    eval_loss: float


class EpochUpdate(EpochPoint):
    """What the per-epoch hook receives (progress for the flow's artifacts)."""

    step: int
    max_steps: int
    log: list[StepPoint]


class Fitted(TypedDict):
    selection: Any  # vlm.selection.Selected, or None without selection
    history: list[EpochPoint]
    steps: list[StepPoint]
    metrics: dict[str, float]  # Trainer's train() metrics
    resumed: bool
    seconds: float
    global_step: int
    epochs_done: float | None
    world_size: int
    logging_steps: float  # a ratio of the steps where below 1 (transformers' convention)
    batching: Batching


class Batching(TypedDict):
    """How micro-batches were sized (`vlm.token_batches`) and which layers checkpoint (`vlm.checkpointing`)."""

    max_tokens_per_batch: int | None  # None: `batch_size` samples a micro-batch
    micro_batches_per_epoch: int
    mean_samples_per_micro_batch: float
    grad_accum: int
    checkpointed_layers: int


class SavedPaths(TypedDict, total=False):
    """The folders a run saved: `weights` (generate with it), the adapter and the merged model."""

    weights: str
    adapter: str
    merged: str


class TrainingReport(SavedPaths):
    """training_report.json (`vlm.train.run_training`); `evaluation` once a held-out split was scored
    with the weights (`vlm.report.record_evaluation`), `saved` False on a rank other than 0."""

    mode: str
    model: str
    dataset: str
    device: str
    precision: str
    device_note: str
    train_samples: int
    val_samples: int
    epochs: float
    history: list[EpochPoint]
    loss_reduction_pct: float | None
    verdict: str
    verdict_rule: str
    samples_per_second: float
    train_seconds: float
    peak_memory_mb: float
    resumed_from_checkpoint: bool
    global_step: int
    train_mode: str
    max_minutes: float | None
    epochs_done: float
    trainable_parameters: int
    parameters: int
    world_size: int
    logging_steps: float
    steps: list[StepPoint]
    tracked_to: list[str]
    tensorboard: str | None
    spec: dict[str, Any]  # the TrainSpec as JSON
    evaluation: NotRequired[dict[str, Any]]  # the evaluation summary (tasks.reconstruction), once recorded
    saved: NotRequired[bool]
    selection: NotRequired[Any]  # vlm.selection.Selected: the val IoU curve and the kept step
    batching: NotRequired[Batching]


class Exported(TypedDict):
    """`vlm.export.export_model`'s result."""

    out: str
    merged_lora: bool
    dtype: str
