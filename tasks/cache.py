"""Cache keys and retry rules for the dataset tasks.

A shard's result is reused across runs when its key matches: the stage, the settings the stage
(and those before it) depend on, the content key of the shard's models, and the code version.
When the shard's output files on disk are missing or stale, the stored result under that key is
forgotten first, so deleting images or a shard report is repaired by the next build instead of
trusted.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import cadlib
from cadlib.dataset import DatasetLayout
from cadlib.dataset.digests import all_match, digests
from cadlib.dataset.reports import Finalized, ShardReport

_CODE_ROOTS = (Path(cadlib.__file__).parent, Path(__file__).parent)
_TRANSIENT = (OSError, TimeoutError, ConnectionError)


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source of cadlib and tasks: a code change re-does the work it may change."""
    h = hashlib.sha256()
    for root in _CODE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root.parent).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def outputs_present(layout: DatasetLayout, stage: str, index: int, shard_key: str) -> bool:
    """True when the shard's report for `stage` is on disk, is for these inputs, and (for render)
    every image it lists exists."""
    path = layout.shard_report(stage, index)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if report.get("key") != shard_key:
        return False
    if stage == "render":
        return renders_intact(layout, report)
    return True


def renders_intact(layout: DatasetLayout, report: dict) -> bool:
    """Every image a render report lists still holds the bytes recorded when it was written."""
    return all(all_match(layout.images, done["images"], done.get("digests")) for done in report["ok"].values())


def current_reports(layout: DatasetLayout, stage: str, shards: list, cfg, *, skip: set[int] = frozenset()
                    ) -> dict[int, ShardReport]:
    """Shard index -> its `stage` report on disk, for the shards whose report is for their current
    inputs (shard key), the stage's settings and this code version (`settings`), with every image
    it lists present (render); none for the indexes in `skip` (an earlier stage redoes them).
    This is the flow's one cache check per stage: a shard found here runs no task at all."""
    from cadlib.dataset.build import settings_key

    wanted = settings_key(cfg, stage, code_version())
    found: dict[int, ShardReport] = {}
    for shard in shards:
        if shard.index in skip:
            continue
        try:
            report = json.loads(layout.shard_report(stage, shard.index).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if report.get("key") != shard.key or report.get("settings") != wanted:
            continue
        if stage == "render" and not renders_intact(layout, report):
            continue
        found[shard.index] = report
    return found


def shard_cache_key(context, parameters: dict) -> str:
    """Prefect `cache_key_fn` of the shard tasks (parameters: layout_root, shard, cfg)."""
    stage = context.task.name.removesuffix("-shard")
    layout = DatasetLayout(Path(parameters["layout_root"]))
    shard, cfg = parameters["shard"], parameters["cfg"]
    key = f"{stage}-{shard.index:05d}-{shard.key}-{cfg.key(stage)}-{code_version()}"
    if not outputs_present(layout, stage, shard.index, shard.key):
        (results_dir(layout) / key).unlink(missing_ok=True)  # a miss: the outputs must be made again
    return key


def results_dir(layout: DatasetLayout) -> Path:
    """Where the flow persists shard results (its result storage block points here)."""
    return layout.cache / "results"


def transient_only(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: retry I/O failures, never deterministic geometry errors
    (those are per-model records inside a shard and do not fail the task anyway)."""
    try:
        state.result()
    except _TRANSIENT:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth another try
        return False
    return False


FINAL_FILES = ("train.json", "val.json", "test.json", "train.jsonl", "val.jsonl", "test.jsonl", "train.parquet",
               "val.parquet", "test.parquet", "unlabeled.json", "cadrecon.json", "dataset_info.json", "validation.json", "README.md")
ALWAYS_FINAL = tuple(n for n in FINAL_FILES if not n.endswith((".jsonl", ".parquet")))
"""The final files every build has; a split's JSONL and Parquet files exist only when it has samples."""


def finalize_key(shards: list, cfg, name: str, config: dict, versions: dict, records: list | None = None,
                 extract_info: dict | None = None) -> str:
    """What the final files depend on: every shard's key, the models left out of the shards
    (failed, duplicates: they are rows of validation.json), the extract counts, the settings, the
    card's inputs and the code version."""
    h = hashlib.sha256()
    for shard in shards:
        h.update(f"{shard.index}:{shard.key}\n".encode())
    for r in records or ():
        if not r.ok:
            h.update(f"{r.id}:{r.sha256}:{r.status}:{r.error_class}:{r.error}:{r.duplicate_of}\n".encode())
    h.update(json.dumps([name, config, versions, extract_info], sort_keys=True, default=str).encode())
    return f"finalize-{h.hexdigest()[:32]}-{cfg.key('validate')}-{code_version()}"


def finalize_cache_key(context, parameters: dict) -> str:
    """Prefect `cache_key_fn` of the finalize task: its `key` parameter (`finalize_key`, computed
    by the flow); forgotten when a final file is missing or no longer holds what finalize wrote."""
    layout = DatasetLayout(Path(parameters["layout_root"]))
    key = parameters["key"]
    if _stored_final(layout, key) is None:
        (results_dir(layout) / key).unlink(missing_ok=True)
    return key


def finalized_path(layout: DatasetLayout) -> Path:
    """The finalize task's result and key, beside the files it wrote."""
    return layout.cache / "finalized.json"


def current_final(layout: DatasetLayout, key: str) -> Finalized | None:
    """The finalize result on disk when it is for `key` and every final file holds the bytes
    finalize wrote (the flow's cache check: no task run); else None."""
    stored = _stored_final(layout, key)
    return None if stored is None else stored.get("result")


def final_digests(layout: DatasetLayout) -> dict[str, str]:
    """The digests of the final files, as finalize records them beside its result (an empty split
    has no JSONL or Parquet file: `cadlib.dataset.writers.write_split`)."""
    return digests(p for p in (layout.root / name for name in FINAL_FILES) if p.is_file() or p.name in ALWAYS_FINAL)


def _stored_final(layout: DatasetLayout, key: str) -> dict | None:
    try:
        stored = json.loads(finalized_path(layout).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    recorded = stored.get("files") or {}
    if not set(ALWAYS_FINAL) <= set(recorded) or not all_match(layout.root, recorded, recorded):
        return None
    return stored
