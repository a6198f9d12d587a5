"""The model-side commands: `cadrecon train`, `model init-tiny|generate`, `reconstruct`, `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli_errors import clean_errors

model_app = typer.Typer(no_args_is_help=True, help="Models: the tiny offline model, generation with an adapter.")


@clean_errors
def train(
    dataset: Annotated[str, typer.Option(help="dataset name or folder")] = "demo",
    recipe: Annotated[str, typer.Option(help="recipe name (config/training) or YAML file")] = "tiny_cpu",
    test_run: Annotated[bool, typer.Option("--test-run", help="the convergence test (100/20 samples, 5 epochs)")] = False,
    out: Annotated[str | None, typer.Option(help="run folder")] = None,
) -> None:
    """LoRA fine-tuning of a VLM on a dataset (resumes from the last checkpoint of the run folder)."""
    from flows.train import run_train

    report = run_train(dataset, recipe, test_run=test_run, out=out)
    typer.echo(f"adapter: {report['adapter']}")
    typer.echo(f"  {report['verdict']}: train loss {report['history'][0]['train_loss']:.4f} -> "
               f"{report['history'][-1]['train_loss']:.4f} ({report['loss_reduction_pct']}% lower); "
               f"{report['samples_per_second']} samples/s on {report['device']}, peak {report['peak_memory_mb']} MB")
    typer.echo(f"  report: {Path(report['adapter']).parent / 'training_report.json'}")


@model_app.command("init-tiny")
@clean_errors
def init_tiny(
    dataset: Annotated[str, typer.Option(help="dataset name or folder (its text trains the tokenizer)")] = "demo",
    out: Annotated[Path, typer.Option(help="folder to save the model in")] = Path("data/models/tiny"),
) -> None:
    """Build a tiny Idefics3 (SmolVLM's architecture) from config, offline."""
    from flows.train import dataset_root
    from vlm.tiny import build_tiny

    root = dataset_root(dataset)
    texts = [t["value"] for split in ("train", "val") if (root / f"{split}.json").is_file()
             for r in json.loads((root / f"{split}.json").read_text()) for t in r["conversations"]]
    build_tiny(texts, out)
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
    from vlm.generate import generate_text, load_adapter

    model, processor = load_adapter(adapter)
    typer.echo(generate_text(model, processor, [str(p) for p in images], prompt, max_new_tokens=max_new_tokens))


@clean_errors
def reconstruct(
    file: Annotated[Path, typer.Argument(help="any supported CAD or mesh file")],
    model: Annotated[Path, typer.Option("--model", help="an adapter folder (from cadrecon train)")],
    out: Annotated[Path | None, typer.Option("--out", help="STEP file to write (default: <file>_reconstruction.step)")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="samples per view (best-of-N)")] = 4,
    constrain: Annotated[bool, typer.Option("--constrain/--no-constrain", help="grammar-constrained decoding")] = True,
) -> None:
    """3D model -> views -> generated construction sequence -> rebuilt solid (STEP) + metrics."""
    from vlm.reconstruct import reconstruct_file

    out = out or Path(f"{file.stem}_reconstruction.step")
    r = reconstruct_file(file, model, out_step=out, samples=samples, constrained=constrain)
    typer.echo(f"{file}: {r['samples']} generated, {r['parsed']} parsed, {r['valid']} valid solid(s)")
    for key in ("single", "best_of_n"):
        s = r[key]
        if s is None:
            continue
        cd = ", ".join(f"CD[{k}] {v:.4g}" for k, v in s["cd"].items() if v is not None) or s["error"]
        iou = f", IoU {s['iou']:.3f}" if s["iou"] is not None else ""
        typer.echo(f"  {key}: {cd}{iou}")
    if "step" in r:
        typer.echo(f"  wrote {r['step']} and {r['side_by_side']}")
    else:
        typer.echo("  no valid reconstruction among the samples: no STEP written (try more --samples)")
        raise typer.Exit(1)


@clean_errors
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="an adapter folder (from cadrecon train)")],
    dataset: Annotated[str, typer.Option(help="dataset name or folder")] = "demo",
    split: Annotated[str, typer.Option(help="train, val or test")] = "test",
    samples: Annotated[int, typer.Option(min=1, help="samples per model (best-of-N when > 1)")] = 1,
    limit: Annotated[int | None, typer.Option(help="only the first N models")] = None,
    constrain: Annotated[bool, typer.Option("--constrain/--no-constrain")] = True,
) -> None:
    """Score an adapter on a dataset split under the deepcad and cadrille protocols, with a baseline."""
    from flows.evaluate import run_evaluate

    r = run_evaluate(dataset, str(model), split=split, samples=samples, limit=limit, constrained=constrain)
    for key in ("single", "best_of_n", "baseline"):
        if key in r:
            typer.echo(f"{key:>9}: {json.dumps(r[key])}")
    typer.echo(f"report: {r['report_path']}")

