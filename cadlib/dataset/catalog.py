"""What is on disk: the datasets under a folder, and how far each one's stages got.

Read by the REST API (dataset list and status) and `cadrecon dataset` commands; a folder counts
as a dataset once its extract stage has written `extract.json`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from cadlib.dataset.layout import SPLITS, DatasetLayout, Stage, read_json, write_json_atomic
from cadlib.dataset.reports import (
    DatasetSummary,
    Origin,
    StageCount,
    StageProgress,
    StageValues,
    Validation,
)
from cadlib.errors import CadlibError
from cadlib.vocabulary import SourceKind


class DatasetConflict(CadlibError):
    """A build would mix another source or preset into an existing dataset."""


def claim_origin(layout: DatasetLayout, origin: Origin, *, stages: dict[str, StageValues] | None = None, force: bool = False,
                 check_only: bool = False) -> None:
    """Makes sure the dataset at `layout` is built from `origin` ({"preset", "source", "path"}) and
    with the settings `stages` ({stage: the settings its outputs depend on}) of the stages this
    build runs.

    A new folder is claimed for it; a folder built from the same origin with the same settings is
    left as it is (a stage not run before records its settings now). A folder built from another
    origin, or whose stages were built with other settings, is refused (a rebuild must not mix
    96 px and 128 px images, or silently turn the demo into another dataset), unless `force`,
    which empties it first.

    Raises:
        DatasetConflict: the folder holds a dataset of another origin or settings and `force` is off.
    """
    old = None
    if layout.origin.is_file():
        old = read_json(layout.origin)
    elif layout.extract_report.is_file():  # built before origins were recorded: its source says
        src = read_json(layout.extract_report).get("source", {})
        path = src.get("path") or ""
        old = {"preset": origin.get("preset"), "source": src.get("kind"),
               "path": path if path and src.get("kind") != SourceKind.SYNTHETIC else ""}
    if old and old.get("path") and Path(old["path"]).is_absolute():  # recorded before paths were relative
        old["path"] = layout.relative(old["path"])
    recorded = dict((old or {}).get("stages") or {})
    changed = _changed_settings(recorded, stages or {})
    base = None if old is None else {k: old.get(k) for k in ("preset", "source", "path")}
    if base is not None and (base != origin or changed):
        if not force:
            why = (f"was built from {_origin_words(base)}, not {_origin_words(origin)}" if base != origin
                   else f"was built with other settings ({'; '.join(changed)})")
            raise DatasetConflict(
                f"dataset {layout.root.name!r} {why}: pass --name to build a new dataset, or --force to "
                "replace this one", source=str(layout.root))
        if not check_only:
            shutil.rmtree(layout.root)
        recorded = {}
    if not check_only:
        write_json_atomic(layout.origin, {**origin, "stages": {**recorded, **(stages or {})}})


def _changed_settings(recorded: dict[str, dict], wanted: dict[str, dict]) -> list[str]:
    """'render size 96 -> 128' for each setting of a recorded stage that `wanted` changes."""
    out = []
    for stage, new in wanted.items():
        old = recorded.get(stage)
        if old is None:
            continue
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(f"{stage} {key} {old.get(key)!r} -> {new.get(key)!r}")
    return out


def _origin_words(o: Mapping[str, object]) -> str:
    where = f" at {o['path']}" if o.get("path") else ""
    return f"preset {o.get('preset')} (source {o.get('source')}{where})"


STAGE_NAMES = {Stage.EXTRACT.value: "extraction", Stage.RENDER.value: "rendering", Stage.CONVERT.value: "conversion",
               Stage.VALIDATE.value: "validation"}
"""Stage -> the seed's name for it."""


def _size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def stage_progress(layout: DatasetLayout) -> StageProgress:
    """Per stage: shards done of shards planned, from the reports the stages write.

    Returns ``{"models": int, "shards": int, "stages": {stage: {"done": int, "total": int}}}``; a
    dataset whose extract never ran has ``shards == 0`` and nothing done.
    """
    try:
        info = read_json(layout.extract_report)
    except (OSError, ValueError):
        return {"models": 0, "shards": 0, "stages": {s: {"done": 0, "total": 0} for s in STAGE_NAMES}}
    shards = int(info.get("shards", 0))
    models = sum(int(v) for v in info.get("counts", {}).values())
    stages: dict[str, StageCount] = {"extract": {"done": 1, "total": 1}}
    for stage in ("render", "convert", "validate"):
        done = sum(1 for i in range(shards) if layout.shard_report(stage, i).is_file())
        stages[stage] = {"done": done, "total": shards}
    if layout.validation.is_file():  # assembly and the dataset-level checks ran too
        stages["validate"]["done"] = shards
    else:
        stages["validate"]["done"] = min(stages["validate"]["done"], max(0, shards - 1))
    return {"models": models, "shards": shards, "stages": stages}


def _validation(layout: DatasetLayout) -> Validation | None:
    try:
        return read_json(layout.validation) if layout.validation.is_file() else None
    except ValueError:
        return None


def dataset_status(layout: DatasetLayout, validation: Validation | None = None) -> str:
    """``ready`` (validated without structural errors, with train samples), ``invalid`` (validated
    with some), ``partial`` (extracted, not yet validated) or ``empty`` (nothing extracted, or
    validated with no train sample: nothing to train on). Cheap: no tree walk."""
    validation = validation if validation is not None else _validation(layout)
    if validation is not None:
        if not validation.get("ok"):
            return "invalid"
        return "ready" if (validation.get("samples") or {}).get("train", 0) > 0 else "empty"
    return "partial" if layout.extract_report.is_file() else "empty"


def describe(layout: DatasetLayout) -> DatasetSummary:
    """One dataset's summary: models, images, conversations (samples), size and `dataset_status`."""
    prog = stage_progress(layout)
    images = sum(1 for _ in layout.images.glob("*.png")) if layout.images.is_dir() else 0
    conversations = {s: 0 for s in SPLITS}
    validation = _validation(layout)
    if validation is not None:
        conversations.update(validation.get("samples", {}))
    size = _size(layout.root)
    return {"name": layout.root.name, "models": prog["models"], "images": images,
            "conversations": sum(conversations.values()), "conversations_by_split": conversations,
            "size": human_size(size), "size_bytes": size, "status": dataset_status(layout, validation),
            "path": str(layout.root)}


def list_datasets(datasets_dir: str | Path, *, only_known: bool = False) -> list[DatasetSummary] | None:
    """Every dataset folder under `datasets_dir`, by name. A dataset whose folders did not change
    since the last call is described from memory (no tree walk: the API lists on every poll).
    With `only_known`, None instead of walking any tree (the caller then lists in a thread)."""
    root = Path(datasets_dir).resolve()
    try:
        entries = sorted((e.name, e.path) for e in os.scandir(root) if e.is_dir())
    except OSError:  # no datasets folder yet
        return []
    out = []
    for _, folder in entries:
        stamp = _fingerprint(folder)
        if stamp[5] is not None:  # extract.json: a dataset
            key, now = folder, time.time_ns()
            known = _described.get(key)
            # A change within the clock's granularity of the last description may not move the
            # times: while a dataset is being written, its description is kept at most SETTLE_NS.
            if known is None or known[0] != stamp or (not known[2] and now - known[3] > SETTLE_NS):
                if only_known:
                    return None
                newest = max((t[0] for t in stamp if t), default=0)
                known = _described[key] = (stamp, describe(DatasetLayout(Path(folder))), now - newest > SETTLE_NS, now)
            out.append(known[1].copy())
    return out


SETTLE_NS = 2_000_000_000
_described: dict[str, tuple[tuple, DatasetSummary, bool, int]] = {}
"""Dataset folder -> (its fingerprint, its description, whether its files had settled, when)."""


def _stamped() -> tuple[str, ...]:
    probe = DatasetLayout(Path("d"))
    paths = (probe.root, probe.images, probe.sources, probe.shard_report("render", 0).parent, probe.cache,
             probe.extract_report, probe.validation)
    return tuple("" if p == probe.root else "/" + p.relative_to(probe.root).as_posix() for p in paths)


_STAMPED = _stamped()
"""The dataset's folders and reports whose times say it changed, relative to it ("/images", ...;
index 5 is extract.json, whose presence makes a folder a dataset)."""


def _fingerprint(folder: str) -> tuple:
    """What changes when a stage writes anything: the modification times of the dataset's
    folders (a file created, replaced or removed in them) and of its reports (polled: plain
    strings and stats, no Path objects)."""
    stamp: list[tuple[int, int] | None] = []
    for path in (folder + tail for tail in _STAMPED):
        try:
            st = os.stat(path)
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)
