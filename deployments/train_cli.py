"""The model-side commands: `cadrecon train`, `model init-tiny|generate`, `reconstruct`, `evaluate`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli_errors import clean_errors

model_app = typer.Typer(no_args_is_help=True, help="Models: the tiny offline model, generation with an adapter, export.")


@clean_errors
def train(
    dataset: Annotated[str, typer.Option(help="dataset name or folder")] = "demo",
    recipe: Annotated[str, typer.Option(help="recipe name (config/training) or YAML file")] = "tiny_cpu",
    test_run: Annotated[bool, typer.Option("--test-run", help="the convergence test (the recipe's test_run: 100/20 samples, 8 epochs for tiny_cpu)")] = False,
    out: Annotated[str | None, typer.Option(help="run folder")] = None,
    minutes: Annotated[float | None, typer.Option(help="a time budget (overrides the recipe's max_minutes)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (none is drawn when stderr is not a terminal)")] = False,
) -> dict:
    """Fine-tune a VLM on a dataset, fully, with LoRA or with the vision tower frozen, as the recipe
    says (resumes from the last checkpoint of the run folder)."""
    from flows.train import run_train
    from vlm.distributed import is_main
    from vlm.progress_bar import QUIET_ENV

    if quiet:
        os.environ[QUIET_ENV] = "1"  # this process's runs draw no bar
    report = run_train(dataset, recipe, test_run=test_run, out=out,
                       overrides={"max_minutes": minutes} if minutes else None)
    if not is_main():  # under accelerate launch / torchrun: rank 0 reports
        return report
    typer.echo(f"{'adapter' if report['train_mode'] == 'lora' else 'model'} ({report['train_mode']}): {report['weights']}")
    typer.echo(f"  {report['verdict']}: train loss {report['history'][0]['train_loss']:.4f} -> "
               f"{report['history'][-1]['train_loss']:.4f}{_lower(report['loss_reduction_pct'])}; "
               f"{report['samples_per_second']} samples/s on {report['device']}, peak {report['peak_memory_mb']} MB")
    typer.echo(f"  report: {Path(report['weights']).parent / 'training_report.json'}")
    return report


def _lower(pct: float | None) -> str:
    """' (12.5% lower)', ' (3.0% higher)', or nothing where one epoch gave no reduction to state."""
    if pct is None:
        return ""
    return f" ({abs(pct)}% {'lower' if pct >= 0 else 'higher'})"


@model_app.command("init-tiny")
@clean_errors
def init_tiny(
    dataset: Annotated[str, typer.Option(help="dataset name or folder (its text trains the tokenizer)")] = "demo",
    out: Annotated[Path, typer.Option(help="folder to save the model in")] = Path("data/models/tiny"),
) -> None:
    """Build the CPU model (tiny_cpu's shape: Idefics3 with a convolutional vision tower) from config,
    offline, with random weights."""
    from config.recipes import load_recipe
    from flows.train import dataset_root
    from vlm.tiny import TinyShape, build_tiny

    root = dataset_root(dataset)
    texts = [t["value"] for split in ("train", "val") if (root / f"{split}.json").is_file()
             for r in json.loads((root / f"{split}.json").read_text()) for t in r["conversations"]]
    build_tiny(texts, out, TinyShape(**load_recipe("tiny_cpu").tiny.model_dump()))
    typer.echo(f"tiny Idefics3 saved to {out} (loads with AutoModelForImageTextToText / AutoProcessor)")


@model_app.command("generate")
@clean_errors
def generate(
    adapter: Annotated[Path, typer.Argument(help="an adapter folder (from cadrecon train)")],
    images: Annotated[list[Path], typer.Argument(help="view images")],
    prompt: Annotated[str, typer.Option(help="the question")] = "Write the construction sequence of this part.",
    max_new_tokens: Annotated[int, typer.Option()] = 256,
) -> None:
    """Generate text from views with a base model plus adapter."""
    from vlm.generate import generate_text, load_trained

    model, processor = load_trained(adapter)
    typer.echo(generate_text(model, processor, [str(p) for p in images], prompt, max_new_tokens=max_new_tokens))


@model_app.command("export")
@clean_errors
def export(
    source: Annotated[Path, typer.Argument(help="a run folder, its adapter or its model folder")],
    out: Annotated[Path, typer.Argument(help="a new folder for the standalone model")],
    dtype: Annotated[str | None, typer.Option(help="cast the weights: bfloat16, float16 or float32")] = None,
) -> None:
    """Merge a LoRA adapter into its base (or copy a full run's model) as a standalone HF model folder."""
    from vlm.export import export_model

    if dtype not in (None, "bfloat16", "float16", "float32"):
        raise ValueError(f"--dtype {dtype!r}: one of bfloat16, float16, float32")
    done = export_model(source, out, dtype=dtype)
    typer.echo(f"{'merged adapter' if done['merged_lora'] else 'model'} ({done['dtype']}) written to {done['out']}: "
               "loads with AutoModelForImageTextToText.from_pretrained / AutoProcessor.from_pretrained")


@clean_errors
def reconstruct(
    file: Annotated[Path, typer.Argument(help="any supported CAD or mesh file")],
    model: Annotated[Path, typer.Option("--model", help="a trained model or adapter folder (from cadrecon train)")],
    out: Annotated[Path | None, typer.Option("--out", help="STEP file to write (default: <file>_reconstruction.step)")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="samples per view (best-of-N)")] = 4,
    constrain: Annotated[bool, typer.Option("--constrain/--no-constrain", help="grammar-constrained decoding")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars (none are drawn when stderr is not a terminal)")] = False,
) -> None:
    """3D model -> views -> generated construction sequence -> rebuilt solid (STEP) + metrics."""
    from deployments.terminal_progress import progress_bars
    from tasks.reconstruction import reconstruct_file

    out = out or Path(f"{file.stem}_reconstruction.step")
    with progress_bars(quiet):
        r = reconstruct_file(file, model, out_step=out, samples=samples, constrained=constrain)
    show_reconstruction(file, r)


def show_reconstruction(file: Path, r: dict, *, fail_without_step: bool = True) -> None:
    """The reconstruction's lines: counts, scores (with the constant baseline's), files written;
    exit status 1 when no sample built a solid (unless `fail_without_step` is off)."""
    typer.echo(f"{file}: {r['samples']} generated, {r['parsed']} parsed, {r['valid']} valid solid(s)")
    for key in ("single", "best_of_n", "baseline"):
        s = r.get(key)
        if s is None:
            continue
        cd = ", ".join(f"CD[{k}] {v:.4g}" for k, v in s["cd"].items() if v is not None) or s["error"]
        iou = "".join(f", IoU[{k}] {v:.3f}" for k, v in s["iou"].items() if v is not None)
        why = {m for k, m in (s.get("iou_method") or {}).items() if s["iou"].get(k) is None and m}
        if s["valid"] and why:  # say why, not nothing ("none: the truth mesh is not closed", ...)
            iou += f", IoU n/a ({'; '.join(sorted(why))})"
        typer.echo(f"  {key if key != 'baseline' else 'constant baseline'}: {cd}{iou}")
    if "step" in r:
        typer.echo(f"  wrote {r['step']} and {r['side_by_side']}")
    else:
        typer.echo("  no valid reconstruction among the samples: no STEP written (try more --samples)")
        if fail_without_step:
            raise typer.Exit(1)


@clean_errors
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="an adapter folder (from cadrecon train)")],
    dataset: Annotated[str, typer.Option(help="dataset name or folder")] = "demo",
    split: Annotated[str, typer.Option(help="train, val or test")] = "test",
    samples: Annotated[int, typer.Option(min=1, help="samples per model (best-of-N when > 1)")] = 1,
    limit: Annotated[int | None, typer.Option(help="only the first N models")] = None,
    constrain: Annotated[bool, typer.Option("--constrain/--no-constrain")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (none is drawn when stderr is not a terminal)")] = False,
) -> None:
    """Score a trained model on a dataset split under the cadrille, deepcad and aligned protocols, with a baseline."""
    from deployments.terminal_progress import progress_bars
    from flows.evaluate import run_evaluate

    with progress_bars(quiet):
        r = run_evaluate(dataset, str(model), split=split, samples=samples, limit=limit, constrained=constrain)
    for key in ("single", "best_of_n", "baseline"):
        if key in r:
            typer.echo(f"{key:>9}: {json.dumps(r[key])}")
    typer.echo(f"report: {r['report_path']}")



def demo_reconstruction(dataset: str, *, minutes: float) -> dict:
    """The demo's last step: trains the CPU recipe for `minutes`, then reconstructs the first
    held-out (test) model of the dataset from its source file and prints its scores beside the
    constant baseline's, and the side-by-side image."""
    from flows.reconstruct import run_reconstruct
    from flows.train import dataset_root

    root = dataset_root(dataset)
    tests = json.loads((root / "test.json").read_text())
    if not tests:
        raise ValueError(f"{root}: no test models to reconstruct")
    model_id = tests[0]["id"].rsplit("_", 1)[0]
    source = next(iter(sorted((root / "raw").glob(f"{model_id}.*"))), None)
    if source is None:
        raise ValueError(f"{root / 'raw'}: the source file of test model {model_id} is missing")
    from cadlib.dataset.layout import DataDir
    from config import get_settings

    run = DataDir(Path(get_settings().data_dir)).run(f"{root.name}-tiny_cpu-demo")
    if run.exists():
        shutil.rmtree(run)  # the demo's own run: a fresh budget each time, not a resumed one
    report = train(dataset=dataset, recipe="tiny_cpu", test_run=False, out=str(run), minutes=minutes)
    out = Path(report["weights"]).parent / "reconstruction" / f"{model_id}.step"
    r = run_reconstruct(str(source), report["weights"], out=str(out), samples=4)
    show_reconstruction(source, r, fail_without_step=False)  # the demo reports what the model does, good or bad
    return r
