"""`cadrecon dataset ...`: build, validate, list and inspect datasets (progress bars on a terminal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cadlib.vocabulary import SourceKind
from deployments.cli_errors import clean_errors

app = typer.Typer(no_args_is_help=True, help="Build and inspect VLM datasets.")

def ui_hint() -> str:
    """Where this build shows in the Prefect UI, from the active Prefect settings: the configured
    server's UI, else how to start one over the database the embedded server wrote to."""
    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_UI_URL,
    )

    if PREFECT_API_URL.value():
        return f"Prefect UI: {PREFECT_UI_URL.value() or PREFECT_API_URL.value().removesuffix('/api')}"
    db = PREFECT_API_DATABASE_CONNECTION_URL.value() or f"sqlite:///{Path(PREFECT_HOME.value()) / 'prefect.db'}"
    where = db.split("///", 1)[1] if db.startswith("sqlite") and "///" in db else "its database"
    return (f"Prefect UI: run `prefect server start` (PREFECT_HOME={PREFECT_HOME.value()}) and open "
            f"http://127.0.0.1:4200: the embedded server kept this build's runs in {where}")


def _datasets_dir() -> Path:
    from cadlib.dataset.layout import DataDir
    from config import get_settings

    return DataDir(Path(get_settings().data_dir)).datasets


def _layout(name: str):
    from cadlib.dataset import DatasetLayout

    path = Path(name) if ("/" in name or Path(name).is_dir()) else _datasets_dir() / name
    if not (path / "manifest.jsonl").is_file():
        raise ValueError(f"{path}: no dataset here (no manifest.jsonl); `cadrecon dataset list` shows the datasets")
    return DatasetLayout(path)


@app.command()
@clean_errors
def build(
    preset: Annotated[str, typer.Argument(help="preset name (config/presets) or YAML settings file")] = "demo",
    source: Annotated[str | None, typer.Option(help="synthetic, deepcad or files")] = None,
    path: Annotated[str | None, typer.Option(help="DeepCAD download or folder of files")] = None,
    name: Annotated[str | None, typer.Option(help="dataset folder name (default: the preset)")] = None,
    force: Annotated[bool, typer.Option("--force", help="ignore cached shard results; replace a dataset of this "
                                                        "name built from another source, preset or settings")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
    until: Annotated[str, typer.Option(help="the last stage to run: extract, render, convert or validate")] = "validate",
) -> None:
    """Build (or bring up to date) a dataset: extract -> render -> convert -> validate."""
    from flows.build_dataset import UNTIL, run_build

    if source is not None and source not in tuple(SourceKind):
        raise ValueError(f"--source {source!r}: expected {', '.join(SourceKind)}")
    if until not in UNTIL:
        raise ValueError(f"--until {until!r}: expected one of {', '.join(UNTIL)}")
    from flows.build_dataset import check_build

    check_build(preset, source, path, name, force=force, until=until)  # refuse before any flow starts
    from deployments.terminal_progress import progress_bars

    with progress_bars(quiet):
        summary = run_build(preset, source=source, path=path, name=name, force=force, until=until)
    if until != "validate":
        done = {s: f"{r['succeeded']} ok, {r['failed']} failed" for s, r in summary.get("stages", {}).items()}
        typer.echo(f"dataset: {summary['dataset']} (stopped after {until})")
        typer.echo(f"  models {summary['models']} {summary['counts']} in {summary['shards']} shard(s); {done or ''}")
        typer.echo(f"  {summary['seconds']} s; run again without --until to finish (done shards are reused)")
        return
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    m = summary["models"]
    typer.echo(f"dataset: {summary['dataset']}")
    typer.echo(f"  samples {summary['samples']}, unlabeled models {summary['unlabeled']}")
    typer.echo(f"  models listed {m['listed']}, kept {m['kept']}, duplicates {m['duplicates']}, failed {m['failed']}, "
               f"in the dataset {m['in_dataset']}")
    cached = summary["cached_shards"]
    typer.echo(f"  {summary['shards']} shard(s), cached {cached}; {summary['seconds']} s "
               f"({summary['models_per_min']} models/min)")
    typer.echo(f"  failures: {summary['failures']} (table in {summary['dataset']}/validation.json and README.md)")
    if summary.get("empty_splits"):
        from flows.build_report import empty_splits_line

        typer.echo(f"  warning: {empty_splits_line(summary)}")
    if "dropped_topology" in summary:
        typer.echo(f"  dropped for a topology change: {summary['dropped_topology']} (at {summary['bits']} bits the "
                   "quantised solid is another part: QuantisationChangesTopology)")
    typer.echo(f"  {ui_hint()}")


@app.command()
@clean_errors
def validate(name: Annotated[str, typer.Argument(help="dataset name or folder")]) -> None:
    """Re-check every image and target of a built dataset; exit 1 on structural errors."""
    from cadlib.dataset.revalidate import revalidate
    from cadlib.workers import WorkerPool
    from config import get_settings

    layout = _layout(name)
    cfg = get_settings().dataset
    pool = WorkerPool(cfg.workers)
    try:
        result = revalidate(layout, lambda fn, jobs: pool.run(fn, jobs, timeout=cfg.model_timeout_s))
    finally:
        pool.close()
    typer.echo(f"{layout.root}: {'valid' if result['ok'] else 'INVALID'}; "
               f"{result['structural_error_count']} structural error(s), "
               f"{sum(r['count'] for r in result['revalidated_failures'])} model failure(s)")
    for err in result["structural_errors"][:10]:
        typer.echo(f"  {err[0]}: {err[1]}")
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
@clean_errors
def push(
    name: Annotated[str, typer.Argument(help="dataset name or folder")],
    repo: Annotated[str, typer.Argument(help="Hub dataset repo, e.g. me/cad-views")],
    private: Annotated[bool, typer.Option(help="create the repo private")] = False,
    raw_files: Annotated[bool, typer.Option(help="also the LLaVA JSON, JSONL, registry and images/")] = False,
    token: Annotated[str | None, typer.Option(envvar="HF_TOKEN", help="Hub token (default: HF_TOKEN or `hf auth login`)",
                                              show_default=False)] = None,
) -> None:
    """Push a finished dataset to the Hugging Face Hub (card, Parquet splits with the images, metadata)."""
    from cadlib.dataset.publish import push as push_dataset

    layout = _layout(name)
    result = push_dataset(layout, repo, token=token, private=private, raw_files=raw_files)
    typer.echo(f"pushed {len(result.files)} file(s) of {layout.root} to {result.url}")
    typer.echo(f'  load it: datasets.load_dataset("{result.repo_id}")')


@app.command("list")
@clean_errors
def list_datasets() -> None:
    """The datasets under <data_dir>/datasets."""
    from cadlib.dataset.catalog import list_datasets as catalog

    root = _datasets_dir()
    found = catalog(root)
    if not found:
        typer.echo(f"no datasets in {root}; build one with `cadrecon dataset build demo`")
        return
    for d in found:
        hint = "" if d["status"] in ("ready", "invalid") else f"  (`cadrecon dataset status {d['name']}`)"
        typer.echo(f"{d['name']:<24} {d['status']:<8} models {d['models']:>7}  samples {d['conversations_by_split']}  "
                   f"{d['size']}{hint}")


@app.command()
@clean_errors
def status(name: Annotated[str, typer.Argument(help="dataset name or folder")]) -> None:
    """How far a build of a dataset got: models by status, shards done per stage, the last run."""
    from collections import Counter

    from cadlib.dataset import read_json, read_manifest
    from cadlib.dataset.catalog import stage_progress

    layout = _layout(name)
    records = read_manifest(layout.manifest)
    typer.echo(f"{layout.root}")
    typer.echo(f"  models: {dict(Counter(r.status for r in records))}; splits "
               f"{dict(Counter(r.split for r in records if r.ok))}")
    for stage, st in stage_progress(layout)["stages"].items():
        if stage != "extract":
            typer.echo(f"  {stage:>9}: {st['done']}/{st['total']} shard(s)")
    runs = sorted(layout.build_runs.glob("*.json"))
    if runs:
        last = json.loads(runs[-1].read_text())
        typer.echo(f"  last finished run {runs[-1].stem}: {last['seconds']} s, cached {last['cached_shards']}")
    if layout.validation.is_file():
        v = read_json(layout.validation)
        typer.echo(f"  validation: {'ok' if v['ok'] else 'INVALID'}, failures "
                   f"{sum(r['count'] for r in v.get('failures', []))}")
    else:
        typer.echo("  not finished: run `cadrecon dataset build` again to complete it (finished shards are reused)")
