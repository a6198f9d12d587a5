"""The training flow: fine-tuning a VLM on a built dataset (fully, with LoRA, or with the vision
tower frozen, as the recipe says), as a test run or in full.

    python -m flows.train --dataset demo --recipe tiny_cpu --test-run
    python -m flows.train --dataset deepcad_10k --recipe smolvlm_256m

Test-run mode trains on `test_run.train_samples` / `val_samples` samples for `test_run.epochs`
epochs (the seed's 100 / 20 / 5) and reports a convergence verdict; full mode uses every sample and
the recipe's epochs. Writes `training_report.json` next to the adapter; publishes the epoch table,
progress and the loss curve to the Prefect UI (one artifact of each, updated in place).

Several GPUs (or CPU processes): `accelerate launch --num_processes N -m flows.train ...` (or
`torchrun --nproc_per_node N -m flows.train ...`). Rank 0 runs the one Prefect flow run, builds a
tiny model first, tracks, saves and reports; the other ranks train beside it without Prefect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger

from cadlib.dataset.layout import DataDir
from cadlib.stop_request import to_thread_stoppable
from cadlib.vocabulary import RunKind
from config import get_settings
from config.recipes import TINY, load_recipe
from flows.heartbeat import beating
from flows.prefect_home import require_prefect_home
from flows.run_names import train_run_name
from tasks import artifacts
from tasks.artifacts import Suffix
from tasks.train import fit, init_tiny, tiny_model, train_and_publish
from vlm import distributed
from vlm.loading import check_available
from vlm.modes import TrainMode
from vlm.report import epoch_table
from vlm.reports import TrainingReport
from vlm.selection import SelectionSpec
from vlm.tiny import TinyShape, shape_key
from vlm.trackers import check_trackers
from vlm.train import TrainSpec


def dataset_root(dataset: str) -> Path:
    """A dataset by name (under <data_dir>/datasets) or folder."""
    path = Path(dataset)
    if not (path / "train.json").is_file():
        path = DataDir(Path(get_settings().data_dir)).datasets / dataset
    if not (path / "train.json").is_file():
        raise ValueError(f"{path}: no built dataset here (no train.json); run `cadrecon dataset build` first")
    return path.resolve()


@flow(name="train", flow_run_name=train_run_name, log_prints=True)
async def train(dataset: str = "demo", recipe: str = "tiny_cpu", test_run: bool = False, out: str | None = None,
                overrides: dict | None = None) -> TrainingReport:
    """Fine-tunes the recipe's model with LoRA on a dataset.

    Args:
        dataset: a dataset name (under <data_dir>/datasets) or folder.
        recipe: a recipe name (config/training) or YAML file.
        test_run: the convergence test (few samples, few epochs) instead of full training.
        out: the run folder (default <data_dir>/runs/<dataset>-<recipe>-<test|full>).
        overrides: recipe values on top of the YAML, e.g. {"epochs": 2, "lora": {"r": 16}}.
    """
    with beating(get_settings().data_dir):  # the API tells a dead run from a working one by it
        return await to_thread_stoppable(_train, dataset, recipe, test_run, out, overrides)


def _train(dataset: str, recipe_name: str, test_run: bool, out: str | None, overrides: dict | None = None,
           *, tracked: bool = True) -> TrainingReport:
    """The flow's body; `tracked` False (a rank other than 0): the same training, no Prefect."""
    data = DataDir(Path(get_settings().data_dir))
    root = dataset_root(dataset)
    recipe = load_recipe(recipe_name, overrides)
    mode = RunKind.TEST_RUN if test_run else RunKind.FULL
    run_dir = Path(out) if out else data.run(f"{root.name}-{recipe.name}-{'test' if test_run else 'full'}")
    model = recipe.model
    if model == TINY:
        shape = TinyShape(**(recipe.tiny.model_dump() if recipe.tiny else {}))
        folder = str(data.model(f"tiny-{root.name}-{shape_key(shape)}").resolve())
        with distributed.main_first():  # rank 0 builds it, the others then find it
            model = (init_tiny if tracked else tiny_model)(str(root), folder, shape, recipe.seed)
    spec = TrainSpec(
        model=model, out_dir=str(run_dir.resolve()), mode=TrainMode(recipe.mode),
        epochs=recipe.test_run.epochs if test_run else recipe.epochs,
        max_minutes=None if test_run else recipe.max_minutes,
        image=recipe.image.model_dump(exclude_none=True),
        batch_size=recipe.batch_size, grad_accum=recipe.grad_accum, learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay, warmup_ratio=recipe.warmup_ratio, scheduler=recipe.scheduler,
        lora_r=recipe.lora.r, lora_alpha=recipe.lora.alpha, lora_dropout=recipe.lora.dropout,
        lora_modules=tuple(recipe.lora.target_modules), lora_vision=recipe.lora.vision, device=recipe.device,
        precision=recipe.precision, seed=recipe.seed, max_length=recipe.max_length, save_merged=recipe.save_merged,
        gradient_checkpointing=recipe.gradient_checkpointing, max_tokens_per_batch=recipe.max_tokens_per_batch,
        number_smoothing=recipe.number_smoothing, vision_lr_scale=recipe.vision_lr_scale,
        report_to=tuple(recipe.report_to), logging_steps=recipe.logging_steps,
        selection=SelectionSpec(**recipe.selection.model_dump()) if not test_run else SelectionSpec(),
        group_by_length=recipe.group_by_length)
    key = artifacts.slug(f"train-{root.name}-{recipe.name}-{mode}")
    samples = (recipe.test_run.train_samples, recipe.test_run.val_samples) if test_run else (None, None)
    if not tracked:
        return train_and_publish(spec, str(root), *samples, mode, key, live=False)
    report = fit(spec, str(root), *samples, mode, key)
    artifacts.markdown(artifacts.key(key, Suffix.REPORT), f"## {recipe.name} on {root.name} ({mode})\n\n"
                       + epoch_table(report), "epoch table and verdict")
    artifacts.table(artifacts.key(key, Suffix.SUMMARY), [summary_row(report)], "training result")
    get_run_logger().info("%s", epoch_table(report))
    return report


SUMMARY_KEYS = ("mode", "verdict", "loss_reduction_pct", "train_samples", "val_samples", "epochs", "global_step",
                "samples_per_second", "train_seconds", "peak_memory_mb", "device", "precision", "train_mode",
                "world_size", "tensorboard", "weights")
"""The training report's fields in a run's summary row (the REST API's results read it)."""
SummaryRow = dict[str, str | int | float | None]


def summary_row(report: TrainingReport) -> SummaryRow:
    """One row of a finished run's numbers (`SUMMARY_KEYS` of its report)."""
    return {k: report.get(k) for k in SUMMARY_KEYS}


def run_train(dataset: str = "demo", recipe: str = "tiny_cpu", *, test_run: bool = False, out: str | None = None,
              overrides: dict | None = None) -> TrainingReport:
    """Runs the flow after checking its arguments, so a wrong dataset or recipe is one error line
    and no Failed run. Under several processes rank 0 runs the flow and the others train untracked."""
    spec = load_recipe(recipe, overrides)
    dataset_root(dataset)
    check_available(spec.model)  # before anything imports torch: an offline hub id is one quick line
    check_trackers(tuple(spec.report_to))
    if not distributed.is_main():
        return _train(dataset, recipe, test_run, out, overrides, tracked=False)
    require_prefect_home()
    return asyncio.run(train(dataset, recipe, test_run, out, overrides))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="demo")
    p.add_argument("--recipe", default="tiny_cpu")
    p.add_argument("--test-run", action="store_true")
    p.add_argument("--out")
    a = p.parse_args(argv)
    report = run_train(a.dataset, a.recipe, test_run=a.test_run, out=a.out)
    if distributed.is_main():
        print(json.dumps({k: report[k] for k in ("verdict", "loss_reduction_pct", "world_size", "weights")},  # noqa: T201
                         indent=1))
    else:
        print(f"rank {distributed.rank()} of {report['world_size']}: trained {report['global_step']} steps "  # noqa: T201
              "(rank 0 saves and reports)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
