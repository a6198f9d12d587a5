"""Training as a ladder of functions: setup -> data -> fit -> save (transformers `Trainer`).

The mode (`vlm.modes`) says what trains: every weight (`full`, for a model built from config),
LoRA adapters (`lora`, for a pretrained base) or everything but the vision tower
(`freeze_vision`). A run may have a time budget (`max_minutes`): the learning rate then follows
the clock (`vlm.budget`) and training stops when the time is up.

Checkpoints are written each epoch under `<out>/checkpoints`; a run that finds one resumes from the
last. Metrics go to the recipe's trackers (`report_to`: TensorBoard under `<out>/tensorboard` by
default, offline; MLflow when installed and asked), a point every `logging_steps` steps.

A LoRA run's adapter (and processor) lands in `<out>/adapter` (a merged model in `<out>/merged`
when asked), a full run's model in `<out>/model`; `training_report.json` beside them names the
folder to generate with (`weights`).

Under `accelerate launch` / `torchrun` (`vlm.distributed`) every process trains; rank 0 alone
tracks, saves and writes the report.
"""

from __future__ import annotations

import json
import math
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cadlib.atomic import write_text_atomic
from cadlib.dataset.layout import DatasetLayout
from cadlib.vocabulary import RunKind
from vlm import checkpointing
from vlm.collate import Collator, Sample, sample_from_llava
from vlm.devices import DeviceChoice, select_device
from vlm.modes import TrainMode, apply_mode, check_mode, trainable_share
from vlm.optimizer import adamw, timed_optimizers
from vlm.reports import EpochPoint, EpochUpdate, Fitted, SavedPaths, StepPoint, TrainingReport
from vlm.sampling import trainer_class
from vlm.save import save
from vlm.selection import IOU_VERDICT_RULE, PointHook, SelectionSpec, iou_verdict, selection_for
from vlm.token_batches import plan_for
from vlm.trackers import trackers
from vlm.verdict import VERDICT_RULE, verdict

EpochHook = Callable[[EpochUpdate], None]
"""Called after each epoch with {"epoch", "train_loss", "val_loss", "step", "max_steps", "log"} ("log":
`step_log` so far)."""


@dataclass(frozen=True, slots=True)
class TrainSpec:
    """Everything a training run needs (from a recipe in config/training/)."""

    model: str
    out_dir: str
    mode: TrainMode = TrainMode.LORA
    epochs: float = 3
    max_minutes: float | None = None
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    lora_vision: bool = False
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    max_length: int | None = None
    save_merged: bool = False
    gradient_checkpointing: bool | str = False
    """True, False or "auto" (`vlm.checkpointing`)."""
    max_tokens_per_batch: int | str | None = None
    """Micro-batches sized by tokens (`vlm.token_batches`): a number, "auto", or None for `batch_size` samples."""
    number_smoothing: float = 0.0
    vision_lr_scale: float = 1.0
    """The vision tower's learning rate as a share of `learning_rate` (`vlm.optimizer`)."""
    image: dict = field(default_factory=dict)
    report_to: tuple[str, ...] = ("tensorboard",)
    logging_steps: int | None = None
    selection: SelectionSpec = field(default_factory=SelectionSpec)
    """Model selection by held-out IoU (`vlm.selection`); off unless it sets every_steps or every_minutes."""
    group_by_length: bool = False
    """Batches of similar length (less padding), in a random order of groups."""
    shuffle: bool = True
    """False: the train samples in the dataset's order, every epoch (a curriculum)."""


def setup(spec: TrainSpec):
    """The device, the base model prepared for the spec's mode (a peft model under LoRA), and the
    processor.

    Raises:
        ValueError: LoRA (or a frozen vision tower) over randomly initialised weights.
    """
    import torch

    from vlm.loading import apply_image_budget, load_model

    mode = TrainMode(spec.mode)
    check_mode(mode, spec.model)
    choice = select_device(spec.device, spec.precision)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(choice.precision, torch.float32)
    torch.manual_seed(spec.seed)
    # Full training keeps fp32 master weights (mixed precision autocasts); a LoRA base may sit in bf16.
    load_dtype = dtype if choice.device == "cuda" and mode is TrainMode.LORA else torch.float32
    model, processor = load_model(spec.model, dtype=load_dtype)
    if spec.image:
        apply_image_budget(processor, **spec.image)
    model = apply_mode(model, mode, lora={"r": spec.lora_r, "alpha": spec.lora_alpha, "dropout": spec.lora_dropout,
                                          "modules": spec.lora_modules, "vision": spec.lora_vision})
    if checkpointing.resolve(spec.gradient_checkpointing, choice.device):  # on trainable layers only
        checkpointing.enable(model)
    return model, processor, choice


def data(dataset_root: str | Path, *, train_n: int | None = None, val_n: int | None = None,
         seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Samples of a dataset's train and val splits (`train_n` / `val_n` of them, seeded, for a
    test run)."""
    layout = DatasetLayout(Path(dataset_root))
    out = []
    for split, n in (("train", train_n), ("val", val_n)):
        path = layout.split_file(split, "json")
        if not path.is_file():
            raise ValueError(f"{path}: no such split file; build the dataset first (cadrecon dataset build)")
        samples = [sample_from_llava(r, layout.root) for r in layout.read_split(split)]
        if n is not None and n < len(samples):
            samples = random.Random(f"{seed}:{split}").sample(samples, n)
        out.append(samples)
    if not out[0]:
        raise ValueError(f"{layout.root}: the train split is empty")
    return out[0], out[1]


def _history(log_history: list[dict]) -> list[EpochPoint]:
    """Per-epoch mean train loss and val loss from the Trainer's log (which survives a resume)."""
    epochs: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        e = max(1, math.ceil(entry["epoch"] - 1e-6))
        row = epochs.setdefault(e, {"epoch": e, "losses": [], "val_loss": None, "lr": None})
        if "loss" in entry:
            row["losses"].append(entry["loss"])
        if "learning_rate" in entry:
            row["lr"] = entry["learning_rate"]
        if "eval_loss" in entry:
            row["val_loss"] = entry["eval_loss"]
    out: list[EpochPoint] = []
    for e in sorted(epochs):
        row = epochs[e]
        if row["losses"]:
            out.append({"epoch": e, "train_loss": round(sum(row["losses"]) / len(row["losses"]), 5),
                        "val_loss": None if row["val_loss"] is None else round(row["val_loss"], 5),
                        "learning_rate": row["lr"]})
    return out


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint (its trainer_state.json is written last). Checkpoints a
    kill interrupted mid-save are removed: they cannot be resumed from, and Trainer would pick
    them as the newest."""
    import logging
    import shutil

    complete = []
    for path in ckpt_dir.glob("checkpoint-*"):
        if not path.name.split("-")[-1].isdigit():
            continue
        if (path / "trainer_state.json").is_file():
            complete.append(path)
        else:
            logging.getLogger(__name__).warning("removing %s: a checkpoint interrupted while it was saved", path)
            shutil.rmtree(path, ignore_errors=True)
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def fit(model, processor, choice: DeviceChoice, train: list[Sample], val: list[Sample], spec: TrainSpec,
        on_epoch: EpochHook | None = None, on_point: PointHook | None = None) -> Fitted:
    """Trains with `Trainer` (resuming from the last checkpoint under `<out>/checkpoints`);
    returns the per-epoch history, the metrics, whether it resumed and, with `spec.selection`, the
    val IoU curve (`on_point` gets each point) and the kept step: the best weights are loaded back
    into `model` before it returns. With `spec.max_minutes` the
    run stops when the time is up (its last, partial epoch is evaluated too) or after `spec.epochs`,
    whichever comes first; a resumed timed run gets a fresh budget."""
    from transformers import TrainerCallback, TrainingArguments

    from cadlib.stop_request import Stopped, stop_requested
    from vlm.budget import Clock, time_budget_callback
    from vlm.distributed import agree_max, world_size
    from vlm.progress_bar import progress_callback

    ckpt_dir = Path(spec.out_dir) / "checkpoints"
    resume = last_checkpoint(ckpt_dir)
    timed = spec.max_minutes is not None
    # By default about 20 log lines an epoch: each is printed, and a Prefect flow sends every print to
    # its API (a log line per step cost a third of the CPU model's throughput on 2 cores).
    steps_per_epoch = max(1, math.ceil(len(train) / (spec.batch_size * spec.grad_accum * world_size())))
    report_to, tracker_callbacks, writer = trackers(spec.report_to, spec.out_dir)
    batches, accum = None, spec.grad_accum
    if spec.max_tokens_per_batch is not None:
        batches, accum, _ = plan_for(model, processor, choice, train, budget=spec.max_tokens_per_batch,
                                     checkpointing=spec.gradient_checkpointing, batch_size=spec.batch_size,
                                     grad_accum=spec.grad_accum, seed=spec.seed)
        steps_per_epoch = max(1, math.ceil(len(batches) / (accum * world_size())))
    args = TrainingArguments(
        output_dir=str(ckpt_dir), num_train_epochs=spec.epochs, per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=spec.batch_size, gradient_accumulation_steps=accum,
        learning_rate=spec.learning_rate, weight_decay=spec.weight_decay, warmup_steps=float(spec.warmup_ratio),
        lr_scheduler_type=spec.scheduler, logging_steps=spec.logging_steps or max(1, steps_per_epoch // 20),
        eval_strategy="epoch" if val else "no",
        save_strategy="epoch", save_total_limit=2, report_to=report_to, seed=spec.seed, data_seed=spec.seed,
        bf16=choice.precision == "bf16", fp16=choice.precision == "fp16", use_cpu=choice.device == "cpu",
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
    )

    class EpochReport(TrainerCallback):
        def _emit(self, state):
            hist = _history(state.log_history)
            if on_epoch and hist:
                last = hist[-1]
                on_epoch({"epoch": last["epoch"], "train_loss": last["train_loss"], "val_loss": last["val_loss"],
                          "learning_rate": last["learning_rate"], "step": state.global_step,
                          "max_steps": state.max_steps, "log": step_log(state.log_history)})

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            self._emit(state)

        def on_epoch_end(self, args, state, control, **kw):
            if not val:
                self._emit(state)

    class StopOnRequest(TrainerCallback):
        """A SIGTERM or Ctrl-C: a checkpoint after the step in progress, then the run ends."""

        def on_step_end(self, args, state, control, **kw):
            (stop,) = agree_max(float(stop_requested()))  # one rank stopped: all stop at this step
            if stop:
                control.should_training_stop = True
                control.should_save = True
            return control

    callbacks = [EpochReport(), StopOnRequest(), *tracker_callbacks]
    clock = None
    optimizers: tuple = (None, None)  # the Trainer's own AdamW and schedule
    if spec.max_minutes is not None:
        clock = Clock(spec.max_minutes * 60)
        callbacks.append(time_budget_callback(clock))
        optimizers = timed_optimizers(model, spec.learning_rate, spec.weight_decay, spec.vision_lr_scale,
                                      spec.warmup_ratio, clock, choice.device)
    elif spec.vision_lr_scale != 1.0:  # our groups, the Trainer's schedule
        optimizers = (adamw(model, spec.learning_rate, spec.weight_decay, spec.vision_lr_scale, choice.device), None)
    selection, callback = selection_for(spec.selection, val, spec.out_dir, processor, clock=clock, writer=writer,
                                        on_point=on_point)
    callbacks += [callback] if callback is not None else []
    bar = progress_callback(clock)  # a terminal's progress bar with an ETA; none when piped or quiet
    callbacks += [bar] if bar is not None else []
    trainer_cls = trainer_class(spec.shuffle, spec.group_by_length, spec.seed, train, batches)
    trainer = trainer_cls(model=model, args=args, train_dataset=train, eval_dataset=val or None,
                          data_collator=Collator(processor, spec.max_length), callbacks=callbacks,
                          optimizers=optimizers, compute_loss_func=_loss_for(spec, processor))
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - t0 - (selection.seconds if selection is not None else 0.0)  # training only
    if stop_requested():
        raise Stopped(f"training stopped at step {trainer.state.global_step}; the checkpoint under {ckpt_dir} "
                      "resumes it (run the same command again)")
    if timed and val and not _ended_on_evaluation(trainer.state.log_history):
        trainer.evaluate()  # the partial last epoch gets its val loss
    if selection is not None:
        selection.restore_best(trainer.model)  # what is saved is the best model, not the last
    return {"selection": selection.record() if selection is not None else None,
            "history": _history(trainer.state.log_history), "steps": step_log(trainer.state.log_history),
            "metrics": result.metrics, "resumed": bool(resume), "seconds": seconds,
            "global_step": trainer.state.global_step, "epochs_done": trainer.state.epoch,
            "world_size": trainer.args.world_size, "logging_steps": args.logging_steps,
            "batching": {"max_tokens_per_batch": batches.max_tokens if batches else None,
                         "micro_batches_per_epoch": len(batches) if batches else math.ceil(len(train) / spec.batch_size),
                         "mean_samples_per_micro_batch": round(batches.mean_samples(), 2) if batches else spec.batch_size,
                         "grad_accum": accum, "checkpointed_layers": len(checkpointing.checkpointed(model))}}


def step_log(log_history: list[dict]) -> list[StepPoint]:
    """The logged points: step, epoch, and the train loss and learning rate or the val loss."""
    keep = ("loss", "learning_rate", "grad_norm", "eval_loss")
    points: list[StepPoint] = []
    for e in log_history:
        if "step" in e and any(k in e for k in ("loss", "eval_loss")):
            point: StepPoint = {"step": e["step"], "epoch": round(e.get("epoch", 0.0), 4)}
            point.update({k: e[k] for k in keep if k in e})  # type: ignore[typeddict-item]  # keys from `keep`
            points.append(point)
    return points


def _loss_for(spec: TrainSpec, processor):
    """The recipe's loss: plain next-token cross-entropy (None: the model's own), or ordinal
    number targets (`vlm.number_loss`) when `number_smoothing` is set.

    Raises:
        ValueError: number smoothing asked of a tokenizer that splits numbers into pieces.
    """
    if not spec.number_smoothing:
        return None
    from vlm.number_loss import number_smoothing_loss, number_token_ids
    from vlm.tiny import NUMBER_LIMIT

    ids = number_token_ids(processor.tokenizer, NUMBER_LIMIT)
    if ids is None:
        raise ValueError(f"{spec.model}: number_smoothing needs every number below {NUMBER_LIMIT} as one token, and "
                         "this tokenizer splits them; set number_smoothing: 0")
    return number_smoothing_loss(ids, spec.number_smoothing)


def _ended_on_evaluation(log_history: list[dict]) -> bool:
    steps = [e for e in log_history if "loss" in e or "eval_loss" in e]
    return bool(steps) and "eval_loss" in steps[-1]


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def run_training(spec: TrainSpec, dataset_root: str | Path, *, train_n: int | None = None, val_n: int | None = None,
                 mode: str = RunKind.FULL, on_epoch: EpochHook | None = None,
                 on_point: PointHook | None = None) -> TrainingReport:
    """The whole ladder; writes and returns `training_report.json` (rank 0 saves and writes; another
    rank returns the report unwritten, with `saved` False)."""
    from vlm.distributed import is_main

    model, processor, choice = setup(spec)
    train, val = data(dataset_root, train_n=train_n, val_n=val_n, seed=spec.seed)
    fitted = fit(model, processor, choice, train, val, spec, on_epoch, on_point)
    paths: SavedPaths = save(model, processor, spec.out_dir, TrainMode(spec.mode), merged=spec.save_merged) if is_main() else {}
    reduction, judged = verdict(fitted["history"])
    selected = fitted["selection"]
    rule = VERDICT_RULE
    if selected and selected["curve"]:
        judged, rule = iou_verdict(selected), IOU_VERDICT_RULE
    trainable, total = trainable_share(model)
    m = fitted["metrics"]
    report: TrainingReport = {
        "mode": mode, "model": spec.model, "dataset": str(dataset_root), "device": choice.device,
        "precision": choice.precision, "device_note": choice.note, "train_samples": len(train),
        "val_samples": len(val), "epochs": spec.epochs, "history": fitted["history"],
        "loss_reduction_pct": reduction, "verdict": judged, "verdict_rule": rule,
        "samples_per_second": round(m.get("train_samples_per_second", 0.0), 3),
        "train_seconds": round(fitted["seconds"], 2), "peak_memory_mb": peak_memory_mb(choice.device),
        "resumed_from_checkpoint": fitted["resumed"], "global_step": fitted["global_step"],
        "train_mode": TrainMode(spec.mode).value, "max_minutes": spec.max_minutes,
        "epochs_done": round(fitted["epochs_done"] or 0.0, 3),
        "trainable_parameters": trainable, "parameters": total,
        "world_size": fitted["world_size"], "logging_steps": fitted["logging_steps"], "steps": fitted["steps"],
        "tracked_to": list(spec.report_to),
        "tensorboard": str(Path(spec.out_dir) / "tensorboard") if "tensorboard" in spec.report_to else None,
        "spec": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, TrainMode) else v)
                 for k, v in asdict(spec).items()}, **paths,
    }
    if selected is not None:
        report["selection"] = selected
    report["batching"] = fitted["batching"]
    if not is_main():
        return {**report, "saved": False}
    path = Path(spec.out_dir) / "training_report.json"
    write_text_atomic(path, json.dumps(report, indent=1))
    return report

