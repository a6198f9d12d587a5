"""The dataset flow: extract -> render -> convert -> validate over shards of models.

    python -m flows.build_dataset demo                      # the embedded default
    python -m flows.build_dataset deepcad_1k --path data/deepcad
    python -m flows.build_dataset my.yaml --source files --path ../shared/realdata

Each stage is a task per shard (`dataset.shard_size` models); inside a shard, models run in worker
processes with a time limit each. Results are cached on the shard's content, the stage settings
and the code version, so a re-run of an unchanged dataset is cache hits and a changed model
re-does only that model (per-model keys inside its shard). The flow checks each stage's shard
reports on disk once and runs tasks only for the shards that changed. Each stage that ran publishes
a table artifact and progress to the Prefect UI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.metadata as md
import json
import re
import sys
import time
from pathlib import Path

from prefect import flow, unmapped
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.filesystems import LocalFileSystem

from cadlib.dataset import (
    BuildConfig,
    DatasetLayout,
    write_json_atomic,
)
from cadlib.dataset.catalog import claim_origin
from cadlib.dataset.lock import build_lock_path, held
from cadlib.dataset.plan import SourceSpec
from cadlib.dataset.sources import find_deepcad
from cadlib.errors import CadlibError
from config import Settings, load_settings
from flows.run_names import build_run_name
from flows.runners import task_runner_for
from tasks import progress
from tasks.cache import current_final, current_reports, finalize_key, results_dir
from tasks.dataset import convert, extract, fetch_source, finalize, render, validate

STAGES = ("render", "convert", "validate")
UNTIL = ("extract", *STAGES)
"""Where a build may stop (the REST API runs the seed's stages one call at a time)."""
_RUN_ONLY = {"workers", "concurrency", "task_runner", "runner_address", "model_timeout_s", "name", "download"}
"""Settings that change how a build runs, not what it makes (left out of the dataset card)."""


class DatasetInvalid(CadlibError):
    """Validation found structural errors: the dataset on disk is not usable as it is."""


def dataset_name(preset: str, settings: Settings) -> str:
    if settings.dataset.name:
        return settings.dataset.name
    return Path(preset).stem if str(preset).endswith((".yaml", ".yml")) else str(preset)


def dataset_dir(settings: Settings, name: str) -> Path:
    return Path(settings.data_dir) / "datasets" / name


def build_origin(preset: str, s: Settings) -> dict:
    """What a dataset is built from: its preset, source kind and (resolved) source path."""
    path = str(Path(s.dataset.path).resolve()) if s.dataset.path and s.dataset.source != "synthetic" else ""
    return {"preset": Path(preset).stem if str(preset).endswith((".yaml", ".yml")) else str(preset),
            "source": s.dataset.source, "path": path}


def stage_settings(s: Settings, until: str = "validate") -> dict[str, dict]:
    """The settings each stage up to `until` writes its outputs with (recorded by `claim_origin`; a
    later build that changes one is refused unless forced). Not the machine's (GL platform, workers,
    shard size): they change how, not what."""
    d, r = s.dataset, s.render
    every = {
        "extract": {"train_size": d.train_size, "val_size": d.val_size, "test_size": d.test_size, "seed": d.seed,
                    "bits": s.sequence.bits, "max_file_mb": d.max_file_mb, "min_iou": s.sequence.min_iou},
        "render": {"views": list(r.views), "size": r.size, "style": r.style, "layout": d.layout},
        "convert": {"target": d.target, "max_tokens": d.max_tokens, "tokenizer": d.tokenizer or "",
                    "vary_prompts": d.vary_prompts},
    }
    return {stage: every[stage] for stage in UNTIL[:UNTIL.index(until) + 1] if stage in every}


def check_build(preset: str, source: str | None = None, path: str | None = None, name: str | None = None,
                overrides: dict | None = None, force: bool = False, until: str = "validate") -> None:
    """Refuses (`DatasetConflict`) before any run starts a build the run itself would refuse."""
    settings = resolve_settings(preset, source, path, name, overrides)
    layout = DatasetLayout(dataset_dir(settings, dataset_name(preset, settings)))
    claim_origin(layout, build_origin(preset, settings), stages=stage_settings(settings, until), force=force,
                 check_only=True)


def build_config(s: Settings) -> BuildConfig:
    d = s.dataset
    return BuildConfig(views=tuple(s.render.views), size=s.render.size, style=s.render.style,
                       platform=s.render.gl_platform, tile=d.layout == "tile", bits=s.sequence.bits,
                       max_mb=d.max_file_mb, target=d.target, seed=d.seed, max_tokens=d.max_tokens,
                       tokenizer=d.tokenizer or "", vary_prompts=d.vary_prompts)


def resolve_settings(preset: str, source: str | None = None, path: str | None = None, name: str | None = None,
                     overrides: dict | None = None) -> Settings:
    """The build's settings: the preset (name or YAML file), then the explicit parameters."""
    over = {k: dict(v) if isinstance(v, dict) else v for k, v in (overrides or {}).items()}
    ds = over.setdefault("dataset", {})
    for key, value in (("source", source), ("path", path), ("name", name)):
        if value is not None:
            ds[key] = value
    return load_settings(preset, **over)


def _versions() -> dict:
    out = {}
    for pkg in ("cadrecon", "cadquery-ocp", "numpy", "pillow", "pyrender", "trimesh", "ifcopenshell"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "dataset"


class _ProgressArtifacts:
    """Mirrors `tasks.progress` into one Prefect progress artifact per stage (at most once a second)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ids: dict = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not done or (now - self.last.get(stage, 0.0) < 1.0 and done < total):
            return
        self.last[stage] = now
        if stage not in self.ids:  # created on the first model done: a cached run makes none
            self.ids[stage] = create_progress_artifact(0.0, key=f"{_slug(self.name)}-{stage}-progress",
                                                       description=f"{self.name}: {stage}, models done",
                                                       _sync=True)
        with contextlib.suppress(Exception):  # progress is cosmetic: never fail a build over it
            update_progress_artifact(self.ids[stage], 100.0 * done / total if total else 100.0, _sync=True)


def stage_row(stage: str, reports: list[dict], cached: int, models: int) -> dict:
    """The stage's numbers, as its table artifact shows them (and the REST API reads them)."""
    seconds = sum(r.get("seconds", 0.0) for r in reports)
    failed = sum(len(r.get("failed", [])) for r in reports)
    warnings = sum(len(r.get("dropped", [])) + len(r.get("unlabeled", [])) for r in reports)
    return {"stage": stage, "shards": len(reports), "cached": cached, "models": models,
            "reused_models": sum(r.get("reused", 0) for r in reports), "succeeded": models - failed, "failed": failed,
            "warnings": warnings,
            "task_seconds": round(seconds, 2), "models_per_min": round(60 * models / seconds, 1) if seconds else None}


def _stage_table(name: str, stage: str, reports: list[dict], cached: int, models: int) -> None:
    create_table_artifact([stage_row(stage, reports, cached, models)], key=f"{_slug(name)}-{stage}",
                          description=f"{name}: {stage} stage", _sync=True)
    failed: dict[str, int] = {}
    for r in reports:
        for f in r.get("failed", []):
            failed[f["error_class"]] = failed.get(f["error_class"], 0) + 1
    if failed:
        lines = [f"### {stage}: failures", "", "| error | count |", "|---|---:|",
                 *[f"| {k} | {v} |" for k, v in sorted(failed.items())]]
        create_markdown_artifact("\n".join(lines), key=f"{_slug(name)}-{stage}-failures",
                                 description=f"{name}: {stage} failures by class", _sync=True)


@flow(name="build-dataset", flow_run_name=build_run_name, log_prints=True,
      task_runner=task_runner_for("threads"))
async def build_dataset(
    preset: str = "demo",
    source: str | None = None,
    path: str | None = None,
    name: str | None = None,
    overrides: dict | None = None,
    force: bool = False,
    until: str = "validate",
) -> dict:
    """Builds (or brings up to date) a dataset: extract -> render -> convert -> validate.

    Args:
        preset: a preset name (config/presets) or a YAML settings file.
        source: "synthetic", "deepcad" or "files" (overrides the preset).
        path: the DeepCAD download or the folder of files.
        name: the dataset folder under <data_dir>/datasets (default: the preset's name).
        overrides: nested settings, e.g. {"dataset": {"shard_size": 64}, "render": {"style": "lines"}}.
        force: ignore cached shard results.
        until: the last stage to run ("extract", "render", "convert" or "validate"); the dataset
            files (train.json, ...) and its card are written only by a build that validates.
    """
    # The recipe is synchronous code; it runs in a thread of this async flow. (An async flow run
    # ends without waiting up to a second for Prefect's heartbeat thread, as a sync one does: a
    # cached re-build takes about half as long.)
    if until not in UNTIL:
        raise ValueError(f"until={until!r}: expected one of {', '.join(UNTIL)}")
    return await asyncio.to_thread(_build, preset, source, path, name, overrides, force, until)


def _build(preset: str, source: str | None, path: str | None, name: str | None, overrides: dict | None,
           force: bool, until: str = "validate") -> dict:
    t0 = time.perf_counter()
    settings = resolve_settings(preset, source, path, name, overrides)
    name = dataset_name(preset, settings)
    with held(build_lock_path(Path(settings.data_dir) / "datasets", name), what=f"dataset {name!r}"):
        return _build_locked(preset, settings, name, force, until, t0)


def _build_locked(preset: str, settings: Settings, name: str, force: bool, until: str, t0: float) -> dict:
    ds = settings.dataset
    layout = DatasetLayout(dataset_dir(settings, name).resolve())
    cfg = build_config(settings)
    claim_origin(layout, build_origin(preset, settings), stages=stage_settings(settings, until), force=force)
    root = str(layout.root)
    listener = _ProgressArtifacts(name)
    progress.add_listener(listener)
    try:
        if ds.source == "deepcad" and ds.path is not None:
            try:
                find_deepcad(ds.path)
            except CadlibError:
                if not ds.download:
                    raise
                fetch_source(str(ds.path), ds.url, ds.sha256)
        spec = SourceSpec(ds.source, str(ds.path or ""), ds.train_size, ds.val_size, ds.test_size, ds.seed)
        phases = {"setup": time.perf_counter() - t0}
        t = time.perf_counter()
        plan = extract(root, spec, cfg.bits, cfg.max_mb, ds.shard_size, ds.workers, ds.model_timeout_s,
                       settings.sequence.min_iou)
        phases["extract"] = time.perf_counter() - t
        print(f"extract: {plan.info['counts']} in {len(plan.shards)} shard(s); leakage {plan.info['leakage']}")
        records = {r.id: r for r in plan.records}
        shards = plan.shards
        slices = [[records[i] for i in s.ids] for s in shards]
        models = sum(len(s.ids) for s in shards)
        create_table_artifact([{"stage": "extract", "listed": plan.info["source"].get("listed"), "models": models,
                                "shards": len(shards), **plan.info["counts"]}],
                              key=f"{_slug(name)}-extract", description=f"{name}: extract stage", _sync=True)
        stages = STAGES[:UNTIL.index(until)]
        for stage in stages:
            progress.start(stage, models)
        if not stages:
            return {"dataset": str(layout.root), "name": name, "until": until, "models": models,
                    "counts": plan.info["counts"], "shards": len(shards), "seconds": round(time.perf_counter() - t0, 2)}

        t = time.perf_counter()
        results, cached_counts, opts = _run_stages(layout, name, stages, shards, slices, str(plan.root), cfg, ds,
                                                   force)
        phases["stages"] = time.perf_counter() - t
        t = time.perf_counter()
        if until != "validate":
            return {"dataset": str(layout.root), "name": name, "until": until, "models": models,
                    "counts": plan.info["counts"], "shards": len(shards),
                    "stages": {st: stage_row(st, results[st], cached_counts[st], models) for st in stages},
                    "seconds": round(time.perf_counter() - t0, 2)}

        config = {"source": ds.source, "path": str(ds.path or ""),
                  **{k: v for k, v in ds.model_dump(mode="json").items() if k not in _RUN_ONLY},
                  "render": settings.render.model_dump(mode="json"), "sequence": settings.sequence.model_dump()}
        versions, final_future = _versions(), None
        key = finalize_key(shards, cfg, name, config, versions, plan.records, plan.info)
        final = None if force else current_final(layout, key)
        if final is None:  # something changed: the task (cached by Prefect too) writes the final files
            opts = opts or {"result_storage": _result_storage(name, layout), "refresh_cache": force}
            final_future = finalize.with_options(**opts).submit(root, shards, cfg, name, config, versions,
                                                                plan.records, plan.info, results, key)
            final = final_future.result()
        phases["finalize"] = time.perf_counter() - t
        assembled, validation = final["assembled"], final["validation"]
        if final_future is not None and final_future.state.name != "Cached" and layout.contact_sheet.is_file():
            create_image_artifact(
                image_url="data:image/png;base64," + base64.b64encode(layout.contact_sheet.read_bytes()).decode(),
                key=f"{_slug(name)}-contact-sheet", description=f"{name}: sample views", _sync=True)
        wall = time.perf_counter() - t0
        summary = {
            "dataset": str(layout.root), "name": name, "samples": assembled["samples"],
            "unlabeled": assembled["unlabeled"], "models": validation["models"], "valid": validation["ok"],
            "failures": sum(row["count"] for row in validation["failures"]),
            "dropped_topology": validation["dropped_topology"], "bits": settings.sequence.bits,
            "cached_shards": dict(cached_counts),
            "stages": {st: stage_row(st, results[st], cached_counts[st], models) for st in STAGES},
            "shards": len(shards), "seconds": round(wall, 2),
            "models_per_min": round(60 * models / wall, 1) if wall else None,
            "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
        }
        write_json_atomic(layout.cache / "runs" / f"{time.strftime('%Y%m%dT%H%M%S')}.json", summary)
        create_markdown_artifact(_summary_markdown(summary, validation), key=f"{_slug(name)}-summary",
                                 description=f"{name}: dataset build", _sync=True)
        if not validation["ok"]:
            raise DatasetInvalid(f"{validation['structural_error_count']} structural error(s), first: "
                                 f"{validation['structural_errors'][0]}", source=str(layout.validation))
        return summary
    finally:
        progress.remove_listener(listener)


def _run_stages(layout: DatasetLayout, name: str, stages: tuple[str, ...], shards: list, slices: list,
                source_root: str, cfg: BuildConfig, ds, force: bool) -> tuple[dict, dict, dict]:
    """Runs `stages` over the shards; returns (reports per stage, cached shards per stage, the task
    options used, empty when no task ran).

    One cache check per stage, here in the flow: a shard whose report on disk is for its inputs,
    the stage's settings and this code (and whose earlier stage is not redone) is read back, with
    no task run; the others are mapped to tasks (which reuse unchanged models inside). Every stage
    is submitted at once, so a shard's convert starts as soon as its render ends."""
    root, models = str(layout.root), sum(len(s.ids) for s in shards)
    on_disk, todo, redo = {}, {}, set()
    for stage in stages:
        on_disk[stage] = {} if force else current_reports(layout, stage, shards, cfg, skip=redo)
        todo[stage] = [s for s in shards if s.index not in on_disk[stage]]
        redo = {s.index for s in todo[stage]}
    value: dict[str, dict] = {}
    opts = {"result_storage": _result_storage(name, layout), "refresh_cache": force} if any(todo.values()) else {}
    for n, stage in enumerate(stages):
        value[stage] = dict(on_disk[stage])
        run = todo[stage]
        if not run:
            continue
        part = [slices[s.index] for s in run]
        if stage == "render":
            mapped = render.with_options(**opts).map(unmapped(root), run, part, unmapped(source_root),
                                                     unmapped(cfg), unmapped(ds.workers),
                                                     unmapped(ds.model_timeout_s))
        elif stage == "convert":
            mapped = convert.with_options(**opts).map(unmapped(root), run, part,
                                                      [value["render"][s.index] for s in run], unmapped(cfg))
        else:
            mapped = validate.with_options(**opts).map(unmapped(root), run, part,
                                                       [value[stages[n - 1]][s.index] for s in run], unmapped(cfg),
                                                       unmapped(ds.workers), unmapped(ds.model_timeout_s),
                                                       [value["render"][s.index] for s in run])
        value[stage].update(zip((s.index for s in run), mapped, strict=True))

    results, cached_counts = {}, {}
    for stage in stages:
        reports, cached, done = [], len(on_disk[stage]), 0
        for shard in shards:
            got = value[stage][shard.index]
            done += len(shard.ids)
            if shard.index in on_disk[stage]:
                reports.append(got)
            else:
                reports.append(got.result())
                cached += got.state.name == "Cached"
                progress.at_least(stage, done)  # shards that ran in other processes (Dask, Ray) report here
        results[stage], cached_counts[stage] = reports, cached
        if todo[stage]:  # a stage that only read its reports back gets a row in the one table below
            _stage_table(name, stage, reports, cached, models)
        print(f"{stage}: {len(reports)} shard(s), {cached} cached, "
              f"{sum(len(r.get('failed', [])) for r in reports)} model failure(s)")
    read_back = [stage_row(st, results[st], cached_counts[st], models) for st in stages if not todo[st]]
    if read_back:  # one artifact for every stage that ran no task, not one each
        create_table_artifact(read_back, key=f"{_slug(name)}-stages", description=f"{name}: stages read back",
                              _sync=True)
    return results, cached_counts, opts


def _result_storage(name: str, layout: DatasetLayout) -> LocalFileSystem:
    """Shard results persist inside the dataset (.cache/results), in a block saved under the
    dataset's name (Prefect looks cached results up through saved storage blocks)."""
    storage = LocalFileSystem(basepath=str(results_dir(layout)))
    storage.save(f"cadrecon-results-{_slug(name)}"[:100], overwrite=True, _sync=True)
    return storage


def _summary_markdown(summary: dict, validation: dict) -> str:
    lines = [f"## {summary['name']}", "", f"`{summary['dataset']}`", "",
             "| split | samples |", "|---|---:|", *[f"| {k} | {v} |" for k, v in summary["samples"].items()], "",
             f"Models: {json.dumps(validation['models'])}; {summary['seconds']} s, {summary['models_per_min']} models/min.",
             ""]
    if validation["failures"]:
        lines += ["| stage | error | count | example |", "|---|---|---:|---|"]
        lines += [f"| {r['stage']} | {r['error_class']} | {r['count']} | {r['examples'][0].replace('|', '/')} |"
                  for r in validation["failures"]]
    return "\n".join(lines)


def check_source(ds) -> None:
    """The source a build reads is there (or will be downloaded).

    Raises:
        CadlibError: naming the path and what is missing.
    """
    if ds.source == "deepcad" and ds.path is not None and not ds.download:
        find_deepcad(ds.path)
    if ds.source == "files":
        if ds.path is None:
            raise ValueError("the files source needs dataset.path (--path): the folder to scan")
        if not Path(ds.path).is_dir():
            raise CadlibError("not a folder (dataset.path of the files source)", source=str(ds.path))


def run_build(preset: str = "demo", *, source: str | None = None, path: str | None = None, name: str | None = None,
              overrides: dict | None = None, force: bool = False, until: str = "validate") -> dict:
    """Runs the flow with the task runner its settings ask for."""
    settings = resolve_settings(preset, source, path, name, overrides)
    ds = settings.dataset
    check_source(ds)  # a wrong path is one error line, before a run exists
    runner = task_runner_for(ds.task_runner, concurrency=ds.concurrency, address=ds.runner_address)
    target = dataset_name(preset, settings)
    # a second build of the same dataset refuses here, before its run exists; the flow takes the
    # lock again (re-entrant in this process), which is what guards runs started elsewhere
    with held(build_lock_path(Path(settings.data_dir) / "datasets", target), what=f"dataset {target!r}"):
        return asyncio.run(build_dataset.with_options(task_runner=runner)(preset, source, path, name, overrides,
                                                                                  force, until))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.build_dataset", description=__doc__.split("\n\n")[0])
    p.add_argument("preset", nargs="?", default="demo", help="preset name or YAML settings file")
    p.add_argument("--source", choices=("synthetic", "deepcad", "files"))
    p.add_argument("--path")
    p.add_argument("--name")
    p.add_argument("--force", action="store_true", help="ignore cached shard results")
    p.add_argument("--until", choices=UNTIL, default="validate", help="the last stage to run")
    a = p.parse_args(argv)
    summary = run_build(a.preset, source=a.source, path=a.path, name=a.name, force=a.force, until=a.until)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
