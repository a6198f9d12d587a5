"""The stages of a dataset build over one shard each, as plain functions: values in, files and
reports out (the split files from them: `cadlib.dataset.assembly`). Prefect tasks (tasks/dataset.py)
wrap them; `run` runs per-model jobs in isolated worker processes (`cadlib.workers.WorkerPool.run`
or a stand-in).

Reports hold no timings, so a re-built dataset is byte-identical to the first build.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cadlib.dataset.convert import ConvertConfig, convert_models
from cadlib.dataset.digests import all_match
from cadlib.dataset.extract import Shard
from cadlib.dataset.layout import DatasetLayout, portable_text, write_json_atomic
from cadlib.dataset.manifest import ModelRecord
from cadlib.dataset.render import RenderJob, render_model
from cadlib.dataset.reports import (
    Agreement,
    BuiltSolid,
    ConvertReport,
    Failure,
    ModelChecks,
    ModelVerdict,
    RenderedModel,
    RenderReport,
    Sample,
    StructuralError,
    ValidateReport,
)
from cadlib.dataset.validate import ValidateJob, validate_model
from cadlib.errors import user_error_class
from cadlib.workers import Outcome, Status

Runner = Callable[[Callable[[Any], Any], list], Iterator[Outcome]]
"""Runs a function over jobs in worker processes, yielding outcomes as they finish."""

Progress = Callable[[int], None]
"""Called with the number of models just finished."""


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """Everything the stages need to know, from `config.Settings` (`flows.build_dataset.build_config`:
    no defaults here, so the settings' are the only ones)."""

    views: tuple[str, ...]
    size: int
    style: str
    platform: str
    tile: bool
    bits: int
    max_mb: float
    target: str
    seed: int
    max_tokens: int
    tokenizer: str
    vary_prompts: bool

    def key(self, stage: str) -> str:
        """A hash of the settings that `stage` and the stages before it depend on."""
        fields = {
            "render": ("views", "size", "style", "platform", "tile", "bits", "max_mb"),
            "convert": ("views", "size", "style", "platform", "tile", "bits", "max_mb", "target", "seed",
                        "max_tokens", "tokenizer", "vary_prompts"),
        }.get(stage, tuple(asdict(self)))
        d = {k: getattr(self, k) for k in fields}
        return hashlib.sha256(json.dumps([stage, d], sort_keys=True, default=list).encode()).hexdigest()[:32]

    @property
    def image_size(self) -> tuple[int, int]:
        return (2 * self.size, 2 * self.size) if self.tile else (self.size, self.size)


def _failure(model_id: str, stage: str, o: Outcome, *roots: str | Path) -> Failure:
    """A failure row; the message's paths relative to `roots` (the dataset's, the source's)."""
    first = o.message.splitlines()[0] if o.message else ""
    return {"id": model_id, "stage": stage, "error_class": user_error_class(o.error_class, first),
            "error": portable_text(first, *roots)}


def render_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], source_root: Path,
                 cfg: BuildConfig, run: Runner, progress: Progress | None = None, salt: str = "") -> RenderReport:
    """Renders the models of a shard; writes and returns the shard's render report.

    Per-model reuse: a model whose render key (its content, the render settings and `salt`, the
    caller's code version) is recorded in an earlier report of this or a neighbouring shard, with
    its images untouched since, is taken from that report instead of rendered again; so is a
    failure that was no crash or timeout. The returned dict adds ``reused`` (not written)."""
    keys = {mid: model_key(records[mid], cfg.key("render"), salt) for mid in shard.ids}
    ok, failed = _reusable_renders(layout, shard, keys)
    reused = len(ok) + len(failed)
    jobs = []
    done = set(ok) | {f["id"] for f in failed}
    for mid in shard.ids:
        if mid in done:
            continue
        r = records[mid]
        jobs.append(RenderJob(
            id=mid, path=str(source_root / r.source), text_path=str(layout.source_text(mid)) if r.has_target else "",
            images_dir=str(layout.images), views=cfg.views, size=cfg.size, style=cfg.style, tile=cfg.tile,
            platform=cfg.platform, bits=cfg.bits, max_mb=cfg.max_mb,
            solid_path=str(layout.kept_solid(mid)) if r.has_target else ""))
    if progress and reused:
        progress(reused)
    retry = []
    for o in run(render_model, jobs):
        if o.ok:
            ok[o.item.id] = o.value
        elif cfg.style == "lines" and o.status in (Status.CRASH, Status.TIMEOUT):
            retry.append(replace(o.item, exact=False))  # OCCT's exact HLR segfaults or crawls on a few parts
            continue
        else:
            failed.append(_failure(o.item.id, "render", o, layout.root, source_root))
        if progress:
            progress(1)
    for o in run(render_model, retry):
        if o.ok:
            ok[o.item.id] = o.value
        else:
            failed.append(_failure(o.item.id, "render", o, layout.root, source_root))
        if progress:
            progress(1)
    report: RenderReport = {"stage": "render", "shard": shard.index, "key": shard.key, "settings": settings_key(cfg, "render", salt),
              "ok": dict(sorted(ok.items())), "failed": sorted(failed, key=lambda f: f["id"]),
              "keys": dict(sorted(keys.items()))}
    write_json_atomic(layout.shard_report("render", shard.index), report)
    return {**report, "reused": reused}


def settings_key(cfg: BuildConfig, stage: str, salt: str) -> str:
    """What a shard report of `stage` was made with: the settings the stage depends on and the
    code version (`salt`). A report whose shard key and settings key match is the stage's result."""
    return hashlib.sha256(f"{cfg.key(stage)}-{salt}".encode()).hexdigest()[:24]


def model_key(record: ModelRecord, settings_key: str, salt: str, *extra: str) -> str:
    """What one model's output of a stage depends on: its source (path, bytes, geometry, split),
    the stage's settings, the code version (`salt`) and `extra` inputs."""
    blob = json.dumps([record.id, record.source, record.sha256, record.signature, record.kind, record.format,
                       record.split, settings_key, salt, *extra])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


_NOT_REUSED = ("WorkerCrash", "Timeout")
"""Failures tried again (a crash or a timeout may not happen twice); the others are reused."""


def _earlier_reports(layout: DatasetLayout, stage: str, index: int) -> Iterator[tuple[Any, int]]:
    """The reports of `stage` on disk for shard `index` and its neighbours (a model added or
    removed shifts the others by one shard), each with its modification time."""
    for i in (index, index - 1, index + 1):
        path = layout.shard_report(stage, i)
        try:
            stamp = path.stat().st_mtime_ns
            yield json.loads(path.read_text(encoding="utf-8")), stamp
        except (OSError, ValueError):
            continue


def _reusable_renders(layout: DatasetLayout, shard: Shard, keys: dict[str, str]
                      ) -> tuple[dict[str, RenderedModel], list[Failure]]:
    ok: dict[str, RenderedModel] = {}
    failed: list[Failure] = []
    taken: set[str] = set()
    for report, stamp in _earlier_reports(layout, "render", shard.index):
        known = report.get("keys") or {}
        failures = {f["id"]: f for f in report.get("failed", []) if f.get("error_class") not in _NOT_REUSED}
        for mid, key in keys.items():
            if mid in ok or mid in taken or known.get(mid) != key:
                continue
            done = report.get("ok", {}).get(mid)
            if done is not None and _untouched(layout, done, stamp):
                ok[mid] = done
            elif done is None and mid in failures:
                failed.append(failures[mid])
                taken.add(mid)
    return ok, failed


def _untouched(layout: DatasetLayout, done: RenderedModel, stamp: int) -> bool:
    """Every image was written no later than the report that lists it (a later render of the
    model, stopped before its report, may have replaced it) and still holds the bytes the report
    recorded (a truncated image, or another one with its time kept, is drawn again)."""
    for name in done["images"]:
        try:
            if (layout.images / name).stat().st_mtime_ns > stamp:
                return False
        except OSError:
            return False
    return all_match(layout.images, done["images"], done.get("digests"))


def convert_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], rendered: RenderReport,
                  cfg: BuildConfig, count_tokens: Callable[[str], int], progress: Progress | None = None,
                  salt: str = "") -> ConvertReport:
    """Builds the samples of a shard's rendered models; writes and returns its convert report."""
    ccfg = ConvertConfig(views=cfg.views, tile=cfg.tile, target=cfg.target, seed=cfg.seed,
                         max_tokens=cfg.max_tokens, bits=cfg.bits,
                         vary_prompts=cfg.vary_prompts)
    out = convert_models([records[m] for m in shard.ids], rendered["ok"], layout, ccfg, count_tokens)
    if progress:
        progress(len(shard.ids))
    report: ConvertReport = {"stage": "convert", "shard": shard.index, "key": shard.key,
                             "settings": settings_key(cfg, "convert", salt), **out}
    write_json_atomic(layout.shard_report("convert", shard.index), report)
    return report


def validate_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], converted: ConvertReport,
                   cfg: BuildConfig, run: Runner, progress: Progress | None = None,
                   rendered: RenderReport | None = None, salt: str = "") -> ValidateReport:
    """Checks the images and targets of a shard's samples; writes and returns its report.

    Per-model reuse, as in `render_shard`: a model whose validate key (its render key from
    `rendered`, its samples' images and targets, every setting, `salt`) is recorded in an earlier
    report of this or a neighbouring shard keeps that report's verdict. The returned dict adds
    ``reused`` (not written)."""
    by_model: dict[str, list[Sample]] = {}
    for s in converted["samples"]:
        by_model.setdefault(s["model_id"], []).append(s)
    jobs = []
    for mid, samples in by_model.items():
        jobs.append(ValidateJob(
            id=mid, images=tuple(str(layout.root / s["image"]) for s in samples), size=cfg.image_size,
            target=samples[0]["target"], target_kind=cfg.target, text_path=str(layout.source_text(mid)), bits=cfg.bits,
            built=_built_solid(rendered, mid)))
    for u in converted["unlabeled"]:
        jobs.append(ValidateJob(id=u["id"], images=tuple(str(layout.root / i) for i in u["images"]),
                                size=cfg.image_size, target="", target_kind="", text_path="", bits=cfg.bits))
    render_keys = rendered.get("keys") or {} if rendered else {}
    keys = {j.id: model_key(records[j.id], cfg.key("validate"), salt, render_keys.get(j.id, ""),
                            json.dumps([[Path(i).name for i in j.images], j.target]))
            for j in jobs if j.id in render_keys}  # no render key (an old report): validate again
    verdicts = _reusable_verdicts(layout, shard, keys)
    ok: list[str] = []
    failed: list[Failure] = []
    structural: list[StructuralError] = []
    agreement: dict[str, Agreement] = {}

    def record(mid: str, verdict: ModelVerdict) -> None:
        if "agreement" in verdict:
            agreement[mid] = verdict["agreement"]
        structural.extend(verdict["structural"])
        failed.extend(verdict["failed"])
        if verdict["ok"]:
            ok.append(mid)

    for mid, verdict in verdicts.items():
        record(mid, verdict)
    if progress and verdicts:
        progress(len(verdicts))
    for o in run(validate_model, [j for j in jobs if j.id not in verdicts]):
        mid = o.item.id
        if not o.ok:
            record(mid, {"ok": False, "structural": [], "failed": [_failure(mid, "validate", o, layout.root)]})
        else:
            record(mid, _verdict(mid, o.value, layout.root))
        if progress:
            progress(1)
    if progress and len(shard.ids) > len(jobs):
        progress(len(shard.ids) - len(jobs))
    report: ValidateReport = {"stage": "validate", "shard": shard.index, "key": shard.key,
              "settings": settings_key(cfg, "validate", salt), "ok": sorted(ok),
              "failed": sorted(failed, key=lambda f: (f["id"], f["error_class"])),
              "structural": sorted(structural, key=lambda f: (f["id"], f["error_class"])),
              "agreement": dict(sorted(agreement.items())), "keys": dict(sorted(keys.items()))}
    write_json_atomic(layout.shard_report("validate", shard.index), report)
    return {**report, "reused": len(verdicts)}


def _built_solid(rendered: RenderReport | None, mid: str) -> BuiltSolid | None:
    """The facts of the solid render drew for `mid`, if the render report has them."""
    done = rendered["ok"].get(mid) if rendered else None
    return done.get("solid") if done else None


def _verdict(mid: str, checks: ModelChecks, root: Path) -> ModelVerdict:
    verdict: ModelVerdict = {
        "ok": not checks["structural"] and not checks["failures"],
        "structural": [{"id": mid, "error_class": c, "error": portable_text(m, root)} for c, m in checks["structural"]],
        "failed": [{"id": mid, "stage": "validate", "error_class": c, "error": portable_text(m, root)}
                   for c, m in checks["failures"]]}
    if "agreement" in checks:
        verdict["agreement"] = checks["agreement"]
    return verdict


def _reusable_verdicts(layout: DatasetLayout, shard: Shard, keys: dict[str, str]) -> dict[str, ModelVerdict]:
    """Model -> its verdict in an earlier validate report with the same key (ok, the failures and
    structural errors it listed, its agreement). A crash or timeout is validated again."""
    found: dict[str, ModelVerdict] = {}
    for report, _stamp in _earlier_reports(layout, "validate", shard.index):
        known = report.get("keys") or {}
        wanted = {mid for mid, key in keys.items() if mid not in found and known.get(mid) == key}
        if not wanted:
            continue
        good = set(report.get("ok", []))
        verdicts: dict[str, ModelVerdict] = {mid: {"ok": mid in good, "structural": [], "failed": []} for mid in wanted}
        for f in report.get("failed", []):
            if f["id"] in verdicts:
                verdicts[f["id"]]["failed"].append(f)
        for f in report.get("structural", []):
            if f["id"] in verdicts:
                verdicts[f["id"]]["structural"].append(f)
        for mid, value in (report.get("agreement") or {}).items():
            if mid in verdicts:
                verdicts[mid]["agreement"] = value
        for mid, verdict in verdicts.items():
            if not any(f.get("error_class") in _NOT_REUSED for f in verdict["failed"]):
                found[mid] = verdict
    return found
