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
        return all((layout.images / name).is_file() for done in report["ok"].values() for name in done["images"])
    return True


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
               "val.parquet", "test.parquet", "unlabeled.json", "dataset_info.json", "validation.json", "README.md")


def finalize_cache_key(context, parameters: dict) -> str:
    """Prefect `cache_key_fn` of the finalize task: every shard's key, the settings, the code
    version and what goes into the card (parameters: layout_root, shards, cfg, name, config,
    versions); forgotten when a final file is missing."""
    layout = DatasetLayout(Path(parameters["layout_root"]))
    h = hashlib.sha256()
    for shard in parameters["shards"]:
        h.update(f"{shard.index}:{shard.key}\n".encode())
    h.update(json.dumps([parameters["name"], parameters["config"], parameters["versions"]], sort_keys=True).encode())
    key = f"finalize-{h.hexdigest()[:32]}-{parameters['cfg'].key('validate')}-{code_version()}"
    if not all((layout.root / name).is_file() for name in FINAL_FILES):
        (results_dir(layout) / key).unlink(missing_ok=True)
    return key
