"""The dataset tasks: one per stage and shard, each a thin wrapper over `cadlib.dataset`.

Per-model work runs in the process-wide worker pool (`cadlib.workers.shared_pool`): a model that
fails, hangs or crashes is recorded in its shard's report and the shard goes on. Shard results are
cached (see tasks/cache.py); inside a shard whose inputs changed, render and validate reuse every
model whose own inputs did not (`cadlib.dataset.build.model_key`). Only I/O errors are retried.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TypeVar

from prefect import get_run_logger, task

from cadlib.dataset import (
    BuildConfig,
    DatasetLayout,
    ModelRecord,
    Shard,
    assemble,
    contact_sheet,
    convert_shard,
    fetch_deepcad,
    render_shard,
    validate_shard,
    write_json_atomic,
    write_reports,
)
from cadlib.dataset.build import settings_key
from cadlib.dataset.plan import Plan, SourceSpec, plan_dataset
from cadlib.dataset.reports import (
    ConvertReport,
    Finalized,
    RenderReport,
    ValidateReport,
)
from cadlib.dataset.stored_reports import StoredReports
from cadlib.workers import shared_pool
from tasks import progress
from tasks.cache import (
    code_version,
    final_digests,
    finalize_cache_key,
    finalized_path,
    shard_cache_key,
    transient_only,
)

RETRY = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": transient_only}
R = TypeVar("R", RenderReport, ConvertReport, ValidateReport)
# Not kept in memory once stored: Prefect would hold every shard's report for the whole flow run
# (3 KB a model; a future's result is read back from storage when asked for).
SHARD = {**RETRY, "cache_key_fn": shard_cache_key, "persist_result": True, "result_serializer": "json",
         "cache_result_in_memory": False}


def _runner(workers: int, timeout: float):
    pool = shared_pool(workers)
    return lambda fn, jobs: pool.run(fn, jobs, timeout=timeout, workers=workers)


def _timed(report: R, t0: float) -> R:
    timed = report.copy()
    timed["seconds"] = round(time.perf_counter() - t0, 3)
    return timed


@task(name="fetch-deepcad", **RETRY)
def fetch_source(root: str, url: str, sha256: str | None) -> str:
    """Downloads (resuming) and unpacks the DeepCAD archive."""
    log = get_run_logger()
    last = [0.0]

    def show(done: int, total: int | None) -> None:
        if time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            log.info("downloaded %.1f MB%s", done / 1e6, f" of {total / 1e6:.1f} MB" if total else "")

    return str(fetch_deepcad(root, url, sha256=sha256, progress=show))


@task(name="extract", **RETRY)
def extract(layout_root: str, spec: SourceSpec, bits: int, max_mb: float, shard_size: int,
            workers: int, timeout: float, min_iou: float = 0.95) -> Plan:
    """Lists the source, describes new or changed models, dedups, splits, shards."""
    t0 = time.perf_counter()
    progress.start("extract", 0)

    def show(done: int, total: int) -> None:
        progress.reached("extract", done, total)

    plan = plan_dataset(DatasetLayout(Path(layout_root)), spec, bits=bits, max_mb=max_mb, shard_size=shard_size,
                        run=_runner(workers, timeout), progress=show, min_iou=min_iou)
    get_run_logger().info("extract: %s in %.1f s", plan.info["counts"], time.perf_counter() - t0)
    return plan


@task(name="render-shard", task_run_name="render-{shard.index}", **SHARD)
def render(layout_root: str, shard: Shard, records: list[ModelRecord], source_root: str, cfg: BuildConfig,
           workers: int, timeout: float) -> RenderReport:
    t0 = time.perf_counter()
    report = render_shard(DatasetLayout(Path(layout_root)), shard, {r.id: r for r in records}, Path(source_root),
                          cfg, _runner(workers, timeout), lambda n: progress.advance("render", n), salt=code_version())
    return _timed(report, t0)


@task(name="convert-shard", task_run_name="convert-{shard.index}", **SHARD)
def convert(layout_root: str, shard: Shard, records: list[ModelRecord], rendered: RenderReport, cfg: BuildConfig
            ) -> ConvertReport:
    from vlm.tokens import token_counter

    t0 = time.perf_counter()
    report = convert_shard(DatasetLayout(Path(layout_root)), shard, {r.id: r for r in records}, rendered, cfg,
                           token_counter(cfg.tokenizer or None), lambda n: progress.advance("convert", n),
                           salt=code_version())
    return _timed(report, t0)


@task(name="validate-shard", task_run_name="validate-{shard.index}", **SHARD)
def validate(layout_root: str, shard: Shard, records: list[ModelRecord], converted: ConvertReport, cfg: BuildConfig,
             workers: int, timeout: float, rendered: RenderReport | None = None) -> ValidateReport:
    t0 = time.perf_counter()
    report = validate_shard(DatasetLayout(Path(layout_root)), shard, {r.id: r for r in records}, converted, cfg,
                            _runner(workers, timeout), lambda n: progress.advance("validate", n), rendered=rendered,
                            salt=code_version())
    return _timed(report, t0)


@task(name="finalize", cache_key_fn=finalize_cache_key, persist_result=True, result_serializer="json", **RETRY)
def finalize(layout_root: str, shards: list[Shard], cfg: BuildConfig, name: str, config: dict, versions: dict,
             records: list[ModelRecord], extract_info: dict, key: str) -> Finalized:
    """Writes the split files (LLaVA JSON, messages JSONL, Parquet), validation.json,
    cadrecon.json, LLaMA-Factory's dataset_info.json, the card and the contact sheet; returns the validation summary. `key`:
    `tasks.cache.finalize_key` of the other arguments (the flow's, computed once).

    The shards' reports are read from disk a shard at a time (`StoredReports`, each checked to be
    for its shard's inputs and this build's settings), not handed in: the flow holds none."""
    layout = DatasetLayout(Path(layout_root))
    reports = {stage: StoredReports(layout, stage, shards, settings_key(cfg, stage, code_version()))
               for stage in ("render", "convert", "validate")}
    assembled = assemble(layout, reports["convert"], reports["validate"])
    validation = write_reports(layout, name=name, records=records, extract_info=extract_info,
                               converted=reports["convert"], validated=reports["validate"],
                               rendered=reports["render"], assembled=assembled, config=config, versions=versions)
    contact_sheet(layout, reports["convert"])
    result: Finalized = {"assembled": assembled, "validation": validation}
    write_json_atomic(finalized_path(layout), {"key": key, "result": result, "files": final_digests(layout)})
    return result
