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
import importlib.metadata as md
import json
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger

from cadlib.dataset import (
    STAGES,
    BuildConfig,
    DatasetLayout,
    Stage,
    write_json_atomic,
)
from cadlib.dataset.catalog import claim_origin
from cadlib.dataset.layout import DataDir
from cadlib.dataset.lock import build_lock_path, held
from cadlib.dataset.plan import SourceSpec
from cadlib.dataset.reports import Origin, StageValues
from cadlib.dataset.sources import find_deepcad
from cadlib.errors import CadlibError
from cadlib.vocabulary import Layout, SourceKind
from config import Settings, load_settings
from flows import build_report as report
from flows.build_report import BuildHead, BuildResult
from flows.build_stages import result_storage, run_stages
from flows.heartbeat import beating
from flows.prefect_home import require_prefect_home
from flows.run_names import build_run_name
from flows.runners import hand_over, task_runner_for
from tasks import progress
from tasks.artifacts import ProgressArtifacts
from tasks.cache import current_final, finalize_key
from tasks.dataset import extract, fetch_source, finalize

UNTIL = (Stage.EXTRACT, *STAGES)
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
    return DataDir(Path(settings.data_dir)).datasets / name


def build_origin(preset: str, s: Settings, layout: DatasetLayout) -> Origin:
    """What a dataset is built from: its preset, source kind and source path (relative to the
    dataset folder: `DatasetLayout.relative`)."""
    path = layout.relative(s.dataset.path) if s.dataset.path and s.dataset.source != SourceKind.SYNTHETIC else ""
    return {"preset": Path(preset).stem if str(preset).endswith((".yaml", ".yml")) else str(preset),
            "source": s.dataset.source, "path": path}


def stage_settings(s: Settings, until: str = "validate") -> dict[str, StageValues]:
    """The settings each stage up to `until` writes its outputs with (recorded by `claim_origin`; a
    later build that changes one is refused unless forced). Not the machine's (GL platform, workers,
    shard size): they change how, not what."""
    d, r = s.dataset, s.render
    every: dict[str, StageValues] = {
        "extract": {"train_size": d.train_size, "val_size": d.val_size, "test_size": d.test_size, "seed": d.seed,
                    "bits": s.sequence.bits, "max_file_mb": d.max_file_mb, "min_iou": s.sequence.min_iou},
        "render": {"views": list(r.views), "size": r.size, "style": r.style, "layout": d.layout},
        "convert": {"target": d.target, "max_tokens": d.max_tokens, "tokenizer": d.tokenizer or "",
                    "vary_prompts": d.vary_prompts},
    }
    return {str(stage): every[stage] for stage in UNTIL[:UNTIL.index(until) + 1] if stage in every}


def check_build(preset: str, source: str | None = None, path: str | None = None, name: str | None = None,
                overrides: dict | None = None, force: bool = False, until: str = "validate") -> None:
    """Refuses (`DatasetConflict`) before any run starts a build the run itself would refuse."""
    settings = resolve_settings(preset, source, path, name, overrides)
    check_source(settings.dataset)
    layout = DatasetLayout(dataset_dir(settings, dataset_name(preset, settings)))
    claim_origin(layout, build_origin(preset, settings, layout), stages=stage_settings(settings, until), force=force,
                 check_only=True)


def build_config(s: Settings) -> BuildConfig:
    d = s.dataset
    return BuildConfig(views=tuple(s.render.views), size=s.render.size, style=str(s.render.style),
                       platform=s.render.gl_platform, tile=d.layout == Layout.TILE, bits=s.sequence.bits,
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
) -> BuildResult:
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
           force: bool, until: str = "validate") -> BuildResult:
    t0 = time.perf_counter()
    settings = resolve_settings(preset, source, path, name, overrides)
    name = dataset_name(preset, settings)
    with beating(settings.data_dir), held(build_lock_path(DataDir(Path(settings.data_dir)).datasets, name),
                                          what=f"dataset {name!r}"):
        return _build_locked(preset, settings, name, force, until, t0)


def _build_locked(preset: str, settings: Settings, name: str, force: bool, until: str, t0: float) -> BuildResult:
    ds, cfg = settings.dataset, build_config(settings)
    layout = DatasetLayout(dataset_dir(settings, name).resolve())
    claim_origin(layout, build_origin(preset, settings, layout), stages=stage_settings(settings, until), force=force)
    listener = ProgressArtifacts(name)
    progress.add_listener(listener)
    try:
        _source_ready(ds)
        phases = {"setup": time.perf_counter() - t0}
        spec = SourceSpec(ds.source, str(ds.path or ""), ds.train_size, ds.val_size, ds.test_size, ds.seed)
        plan = _timed(phases, "extract", extract, str(layout.root), spec, cfg.bits, cfg.max_mb, ds.shard_size,
                      ds.workers, ds.model_timeout_s, settings.sequence.min_iou)
        get_run_logger().info("extract: %s in %d shard(s); leakage %s", plan.info["counts"], len(plan.shards),
                              plan.info["leakage"])
        models = sum(len(s.ids) for s in plan.shards)
        report.publish_extract(name, plan.info, models, len(plan.shards))
        head: BuildHead = {"dataset": str(layout.root), "name": name, "until": until, "models": models,
                "counts": plan.info["counts"], "shards": len(plan.shards)}
        stages = tuple(str(s) for s in STAGES[:UNTIL.index(until)])  # plain names in results and logs
        if not stages:
            return {**head, "seconds": round(time.perf_counter() - t0, 2)}
        for stage in stages:
            progress.start(stage, models)
        records = {r.id: r for r in plan.records}
        slices = [[records[i] for i in s.ids] for s in plan.shards]
        briefs, cached, opts = _timed(phases, "stages", run_stages, layout, name, stages, plan.shards, slices,
                                      str(plan.root), cfg, ds, force)
        rows = {st: report.stage_row(st, briefs[st], cached[st], models) for st in stages}
        if until != "validate":
            return {**head, "stages": rows, "seconds": round(time.perf_counter() - t0, 2)}
        final = _timed(phases, "finalize", _finalize, layout, name, settings, plan, cfg, opts, force)
        summary = report.summary(head, final, rows, cached, phases, settings.sequence.bits, time.perf_counter() - t0)
        write_json_atomic(layout.build_runs / f"{time.strftime('%Y%m%dT%H%M%S')}.json",
                          {**summary, "dataset": layout.root.name})  # no build-machine path in the folder
        report.publish_summary(summary, final["validation"])
        if summary["empty_splits"]:
            get_run_logger().warning(report.empty_splits_line(summary))
        if not final["validation"]["ok"]:
            v = final["validation"]
            raise DatasetInvalid(f"{v['structural_error_count']} structural error(s), first: {v['structural_errors'][0]}",
                                 source=str(layout.validation))
        return summary
    finally:
        progress.remove_listener(listener)


def _timed(phases: dict[str, float], phase: str, fn, *args):
    """`fn(*args)`, its wall time added to `phases[phase]`."""
    t = time.perf_counter()
    try:
        return fn(*args)
    finally:
        phases[phase] = time.perf_counter() - t


def _source_ready(ds) -> None:
    """A DeepCAD source that is not there yet is downloaded, where the settings allow it."""
    if ds.source == SourceKind.DEEPCAD and ds.path is not None:
        try:
            find_deepcad(ds.path)
        except CadlibError:
            if not ds.download:
                raise
            fetch_source(str(ds.path), ds.url, ds.sha256)


def _finalize(layout: DatasetLayout, name: str, settings: Settings, plan, cfg: BuildConfig, opts: dict,
              force: bool) -> dict:
    """The dataset's files (splits, exports, card, validation): read back when nothing they depend
    on changed, else written by the finalize task (cached by Prefect too), which reads the shards'
    reports from disk."""
    ds = settings.dataset
    config = {"source": ds.source, **{k: v for k, v in ds.model_dump(mode="json").items() if k not in _RUN_ONLY},
              "path": layout.relative(ds.path) if ds.path else "",  # no build-machine path in the card
              "render": settings.render.model_dump(mode="json"), "sequence": settings.sequence.model_dump()}
    versions = _versions()
    key = finalize_key(plan.shards, cfg, name, config, versions, plan.records, plan.info)
    final = None if force else current_final(layout, key)
    if final is not None:
        return final
    opts = opts or {"result_storage": result_storage(name, layout), "refresh_cache": force}
    # The shards and records go in quoted where the runner allows (`flows.runners.hand_over`): they
    # hold no futures.
    as_is, _ = hand_over(ds.task_runner)
    future = finalize.with_options(**opts).submit(str(layout.root), as_is(plan.shards), cfg, name, config, versions,
                                                  as_is(plan.records), plan.info, key)
    final = future.result()
    if future.state.name != "Cached" and layout.contact_sheet.is_file():
        report.publish_contact_sheet(name, layout.contact_sheet.read_bytes())
    return final


def check_source(ds) -> None:
    """The source a build reads is there (or will be downloaded).

    Raises:
        CadlibError: naming the path and what is missing.
    """
    if ds.source == SourceKind.DEEPCAD and not ds.download:
        if ds.path is None:
            raise ValueError("the deepcad source needs dataset.path (--path): the folder of a DeepCAD download "
                             "(cad_json/ and train_val_test_split.json), or dataset.download: true")
        find_deepcad(ds.path)
    if ds.source == SourceKind.FILES:
        if ds.path is None:
            raise ValueError("the files source needs dataset.path (--path): the folder to scan")
        if not Path(ds.path).is_dir():
            raise CadlibError("not a folder (dataset.path of the files source)", source=str(ds.path))


def run_build(preset: str = "demo", *, source: str | None = None, path: str | None = None, name: str | None = None,
              overrides: dict | None = None, force: bool = False, until: str = "validate") -> BuildResult:
    """Runs the flow with the task runner its settings ask for."""
    settings = resolve_settings(preset, source, path, name, overrides)
    ds = settings.dataset
    check_source(ds)  # a wrong path is one error line, before a run exists
    require_prefect_home()
    runner = task_runner_for(ds.task_runner, concurrency=ds.concurrency, address=ds.runner_address)
    target = dataset_name(preset, settings)
    # a second build of the same dataset refuses here, before its run exists; the flow takes the
    # lock again (re-entrant in this process), which is what guards runs started elsewhere
    with held(build_lock_path(DataDir(Path(settings.data_dir)).datasets, target), what=f"dataset {target!r}"):
        return asyncio.run(build_dataset.with_options(task_runner=runner)(preset, source, path, name, overrides,
                                                                                  force, until))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.build_dataset", description=__doc__.split("\n\n")[0])
    p.add_argument("preset", nargs="?", default="demo", help="preset name or YAML settings file")
    p.add_argument("--source", choices=[k.value for k in SourceKind])
    p.add_argument("--path")
    p.add_argument("--name")
    p.add_argument("--force", action="store_true", help="ignore cached shard results")
    p.add_argument("--until", choices=[str(s) for s in UNTIL], default="validate", help="the last stage to run")
    a = p.parse_args(argv)
    summary = run_build(a.preset, source=a.source, path=a.path, name=a.name, force=a.force, until=a.until)
    print(json.dumps(summary, indent=1))  # noqa: T201 - the command line's answer
    return 0


if __name__ == "__main__":
    sys.exit(main())
