"""What a dataset build tells the Prefect UI and its caller: one row of numbers per stage, the
build's summary, and the artifacts that show them (keys from `tasks.artifacts`, which the REST
API reads back)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import NotRequired, TypedDict

from cadlib.dataset.layout import SPLITS
from cadlib.dataset.reports import Failure, Finalized, ModelCounts, ShardReport, Validation
from tasks import artifacts
from tasks.artifacts import Suffix


class StageRow(TypedDict):
    """A stage's numbers over its shards (its table artifact; the REST API reads it by these keys)."""

    stage: str
    shards: int
    cached: int
    models: int
    reused_models: int
    succeeded: int
    failed: int
    warnings: int
    task_seconds: float
    models_per_min: float | None


class StageBrief(TypedDict):
    """What the flow keeps of one shard's stage report: what the stage's row, failure table and
    log line show (a shard's report holds ~3 KB a model; finalize reads them from disk)."""

    seconds: float
    reused: int
    failed: list[Failure]
    warnings: int


def brief(report: ShardReport) -> StageBrief:
    """The flow's part of a shard's report (`StageBrief`)."""
    return {"seconds": report.get("seconds", 0.0), "reused": report.get("reused", 0),
            "failed": list(report.get("failed", [])),
            "warnings": len(report.get("dropped", [])) + len(report.get("unlabeled", []))}


class BuildHead(TypedDict):
    """What a build knows after extract: the dataset folder and name, models, counts, shards."""

    dataset: str
    name: str
    until: str
    models: int
    counts: dict[str, int]
    shards: int


class PartialBuild(BuildHead):
    """The result of a build stopped early (`until` extract, render or convert)."""

    seconds: float
    stages: NotRequired[dict[str, StageRow]]


class BuildSummary(TypedDict):
    """A finished build's result (the flow's return value, `.cache/runs/<time>.json`)."""

    dataset: str
    name: str
    samples: dict[str, int]
    empty_splits: list[str]
    unlabeled: int
    models: ModelCounts
    valid: bool
    failures: int
    dropped_topology: int
    bits: int
    cached_shards: dict[str, int]
    stages: dict[str, StageRow]
    shards: int
    seconds: float
    models_per_min: float | None
    phase_seconds: dict[str, float]


BuildResult = BuildSummary | PartialBuild


def stage_row(stage: str, briefs: Sequence[StageBrief], cached: int, models: int) -> StageRow:
    """The stage's numbers, as its table artifact shows them (and the REST API reads them)."""
    seconds = sum(b["seconds"] for b in briefs)
    failed = sum(len(b["failed"]) for b in briefs)
    warnings = sum(b["warnings"] for b in briefs)
    return {"stage": stage, "shards": len(briefs), "cached": cached, "models": models,
            "reused_models": sum(b["reused"] for b in briefs), "succeeded": models - failed, "failed": failed,
            "warnings": warnings,
            "task_seconds": round(seconds, 2), "models_per_min": round(60 * models / seconds, 1) if seconds else None}


def publish_extract(name: str, info: dict, models: int, shards: int) -> None:
    artifacts.table(artifacts.key(name, "extract"),
                    [{"stage": "extract", "listed": info["source"].get("listed"), "models": models, "shards": shards,
                      **info["counts"]}], f"{name}: extract stage")


def publish_stage(name: str, stage: str, briefs: Sequence[StageBrief], cached: int, models: int) -> None:
    """The stage's table and, where models failed, a count of failures by class."""
    artifacts.table(artifacts.key(name, stage), [stage_row(stage, briefs, cached, models)], f"{name}: {stage} stage")
    failed = Counter(f["error_class"] for b in briefs for f in b["failed"])
    if failed:
        lines = [f"### {stage}: failures", "", "| error | count |", "|---|---:|",
                 *[f"| {k} | {v} |" for k, v in sorted(failed.items())]]
        artifacts.markdown(artifacts.key(name, stage, Suffix.FAILURES), "\n".join(lines),
                           f"{name}: {stage} failures by class")


def publish_read_back(name: str, rows: list[StageRow]) -> None:
    """One table for every stage that ran no task (read back from disk), not one each."""
    if rows:
        artifacts.table(artifacts.key(name, Suffix.STAGES), rows, f"{name}: stages read back")


def publish_contact_sheet(name: str, png: bytes) -> None:
    artifacts.image(artifacts.key(name, Suffix.CONTACT_SHEET), png, f"{name}: sample views")


def summary(head: BuildHead, final: Finalized, stage_rows: dict[str, StageRow], cached: dict[str, int],
            phases: dict[str, float], bits: int, wall: float) -> BuildSummary:
    """The build's result: `head` (dataset, name, shards) with the samples, validation and stages."""
    assembled, validation = final["assembled"], final["validation"]
    models = head["models"]
    return {
        "dataset": head["dataset"], "name": head["name"], "samples": assembled["samples"],
        "empty_splits": [s for s in SPLITS if not assembled["samples"].get(s)],
        "unlabeled": assembled["unlabeled"], "models": validation["models"], "valid": validation["ok"],
        "failures": sum(row["count"] for row in validation["failures"]),
        "dropped_topology": validation["dropped_topology"], "bits": bits,
        "cached_shards": dict(cached), "stages": stage_rows, "shards": head["shards"], "seconds": round(wall, 2),
        "models_per_min": round(60 * models / wall, 1) if wall else None,
        "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
    }


def empty_splits_line(summary: BuildSummary) -> str:
    """What an empty split means and what to do, in one line."""
    names = ", ".join(summary["empty_splits"])
    why = (f"; {summary['unlabeled']} model(s) without a construction sequence (STEP, IFC, meshes) are in "
           "unlabeled.json: they evaluate and reconstruct, they do not train" if summary["unlabeled"] else "")
    return (f"empty split(s): {names} (no samples, so no JSONL/Parquet file; raise dataset.<split>_size or add "
            f"models with a sequence: DeepCAD/Fusion JSON){why}")


def publish_summary(summary: BuildSummary, validation: Validation) -> None:
    lines = [f"## {summary['name']}", "", f"`{summary['dataset']}`", "",
             "| split | samples |", "|---|---:|", *[f"| {k} | {v} |" for k, v in summary["samples"].items()], "",
             f"Models: {json.dumps(validation['models'])}; {summary['seconds']} s, {summary['models_per_min']} models/min.",
             ""]
    if summary["empty_splits"]:
        lines += [f"**Warning**: {empty_splits_line(summary)}", ""]
    if validation["failures"]:
        lines += ["| stage | error | count | example |", "|---|---|---:|---|"]
        lines += [f"| {r['stage']} | {r['error_class']} | {r['count']} | {r['examples'][0].replace('|', '/')} |"
                  for r in validation["failures"]]
    artifacts.markdown(artifacts.key(summary["name"], Suffix.SUMMARY), "\n".join(lines), f"{summary['name']}: dataset build")
