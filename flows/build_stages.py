"""The per-shard stages of a dataset build (render -> convert -> validate) inside the build flow:
one cache check per stage on the shards' reports on disk, a task mapped over the shards that
changed, and what the flow keeps of each shard's report (`flows.build_report.StageBrief`)."""

from __future__ import annotations

from typing import Any, NamedTuple

from prefect import get_run_logger, unmapped
from prefect.filesystems import LocalFileSystem
from prefect.futures import PrefectFuture

from cadlib.dataset import BuildConfig, DatasetLayout
from cadlib.dataset.build import settings_key
from cadlib.dataset.stored_reports import StoredReports
from flows import build_report as report
from flows.build_report import StageBrief
from flows.runners import hand_over
from tasks import progress
from tasks.artifacts import slug
from tasks.cache import code_version, current_reports, results_dir
from tasks.dataset import convert, render, validate


class StagesRun(NamedTuple):
    """What the stages of a build left the flow: each shard's `StageBrief` per stage (in shard
    order), the shards cached per stage, and the task options used (empty when no task ran)."""

    briefs: dict[str, list[StageBrief]]
    cached: dict[str, int]
    options: dict[str, Any]


def run_stages(layout: DatasetLayout, name: str, stages: tuple[str, ...], shards: list, slices: list,
               source_root: str, cfg: BuildConfig, ds, force: bool) -> StagesRun:
    """Runs `stages` over the shards (`StagesRun`). No stage report is kept: finalize reads them
    from disk.

    One cache check per stage, here in the flow: a shard whose report on disk is for its inputs,
    the stage's settings and this code (and whose earlier stage is not redone) is read back, with
    no task run; the others are mapped to tasks (which reuse unchanged models inside). Every stage
    is submitted at once, so a shard's convert starts as soon as its render ends."""
    on_disk, todo, redo = {}, {}, set()
    for stage in stages:
        on_disk[stage] = {} if force else {i: report.brief(r) for i, r in
                                           current_reports(layout, stage, shards, cfg, skip=redo).items()}
        todo[stage] = [s for s in shards if s.index not in on_disk[stage]]
        redo = {s.index for s in todo[stage]}
    opts = {"result_storage": result_storage(name, layout), "refresh_cache": force} if any(todo.values()) else {}
    value: dict[str, dict] = {}
    for n, stage in enumerate(stages):
        value[stage] = dict(on_disk[stage])
        if todo[stage]:
            mapped = _submit(stage, layout, todo[stage], [slices[s.index] for s in todo[stage]],
                             source_root, cfg, ds, opts, value, stages[n - 1] if n else "")
            value[stage].update(zip((s.index for s in todo[stage]), mapped, strict=True))
    models = sum(len(s.ids) for s in shards)
    briefs: dict[str, list[StageBrief]] = {}
    cached_counts: dict[str, int] = {}
    for stage in stages:
        briefs[stage], cached_counts[stage] = _collect(stage, shards, value[stage], on_disk[stage])
        if todo[stage]:  # a stage that only read its reports back gets a row in the one table below
            report.publish_stage(name, stage, briefs[stage], cached_counts[stage], models)
        get_run_logger().info("%s: %d shard(s), %d cached, %d model failure(s)", stage, len(shards),
                              cached_counts[stage], sum(len(b["failed"]) for b in briefs[stage]))
    report.publish_read_back(name, [report.stage_row(st, briefs[st], cached_counts[st], models)
                                    for st in stages if not todo[st]])
    return StagesRun(briefs, cached_counts, opts)


def _submit(stage: str, layout: DatasetLayout, run: list, part: list, source_root: str, cfg: BuildConfig, ds,
            opts: dict, value: dict[str, dict], before: str) -> list:
    """The stage's tasks mapped over the shards `run` (their models `part`), after the futures of
    the stages before it in `value`, or their reports read back from disk."""
    # Each task gets its shard's records quoted and the reports (or futures) of the stages before it
    # opaque, where the runner allows (`flows.runners.hand_over`).
    as_is, top_only = hand_over(ds.task_runner)
    root = str(layout.root)
    if stage == "render":
        return render.with_options(**opts).map(unmapped(root), run, as_is(part), unmapped(source_root), unmapped(cfg),
                                                unmapped(ds.workers), unmapped(ds.model_timeout_s))
    renders = top_only(_upstream(layout, "render", run, value, cfg))
    if stage == "convert":
        return convert.with_options(**opts).map(unmapped(root), run, as_is(part), renders, unmapped(cfg))
    return validate.with_options(**opts).map(unmapped(root), run, as_is(part),
                                             top_only(_upstream(layout, before, run, value, cfg)), unmapped(cfg),
                                             unmapped(ds.workers), unmapped(ds.model_timeout_s), renders)


def _upstream(layout: DatasetLayout, stage: str, run: list, value: dict[str, dict], cfg: BuildConfig) -> list:
    """For each shard of `run`, its `stage` task's future, or (a shard that stage did not redo) its
    report read back from disk (the flow kept only its brief; checked again to be this build's)."""
    stored = StoredReports(layout, stage, run, settings_key(cfg, stage, code_version()))
    return [f if isinstance(f := value[stage][s.index], PrefectFuture) else stored[n] for n, s in enumerate(run)]


def _collect(stage: str, shards: list, value: dict, on_disk: dict) -> tuple[list[StageBrief], int]:
    """The stage's `StageBrief`s in shard order (waiting on its tasks) and how many shards were cached."""
    briefs, cached, done = [], len(on_disk), 0
    for shard in shards:
        got = value[shard.index]
        done += len(shard.ids)
        if shard.index in on_disk:
            briefs.append(got)
        else:
            briefs.append(report.brief(got.result()))
            cached += got.state.name == "Cached"
            progress.at_least(stage, done)  # shards that ran in other processes (Dask, Ray) report here
    return briefs, cached


def result_storage(name: str, layout: DatasetLayout) -> LocalFileSystem:
    """Shard results persist inside the dataset (.cache/results), in a block saved under the
    dataset's name (Prefect looks cached results up through saved storage blocks)."""
    storage = LocalFileSystem(basepath=str(results_dir(layout)))
    storage.save(f"cadrecon-results-{slug(name)}"[:100], overwrite=True, _sync=True)
    return storage
