"""The stages of a dataset build over one shard each, and the final assembly, as plain functions:
values in, files and reports out. Prefect tasks (tasks/dataset.py) wrap them; `run` runs per-model
jobs in isolated worker processes (`cadlib.workers.WorkerPool.run` or a stand-in).

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
from cadlib.dataset.extract import Shard
from cadlib.dataset.layout import SPLITS, DatasetLayout, write_json_atomic
from cadlib.dataset.manifest import ModelRecord
from cadlib.dataset.render import RenderJob, render_model
from cadlib.dataset.validate import ValidateJob, validate_model
from cadlib.dataset.writers import write_split
from cadlib.workers import Outcome, Status

Runner = Callable[[Callable[[Any], Any], list], Iterator[Outcome]]
"""Runs a function over jobs in worker processes, yielding outcomes as they finish."""

Progress = Callable[[int], None]
"""Called with the number of models just finished."""


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """Everything the stages need to know (from `config.Settings`)."""

    views: tuple[str, ...] = ("front", "top", "right")
    size: int = 512
    style: str = "shaded"
    platform: str = "egl"
    tile: bool = False
    bits: int = 8
    max_mb: float = 200.0
    target: str = "sequence"
    seed: int = 0
    max_tokens: int = 2048
    tokenizer: str = ""
    vary_prompts: bool = True

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


def _failure(model_id: str, stage: str, o: Outcome) -> dict:
    return {"id": model_id, "stage": stage, "error_class": o.error_class, "error": o.message.splitlines()[0] if o.message else ""}


def render_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], source_root: Path,
                 cfg: BuildConfig, run: Runner, progress: Progress | None = None) -> dict:
    """Renders every model of a shard; writes and returns the shard's render report."""
    jobs = []
    for mid in shard.ids:
        r = records[mid]
        jobs.append(RenderJob(
            id=mid, path=str(source_root / r.source), text_path=str(layout.source_text(mid)) if r.has_target else "",
            images_dir=str(layout.images), views=cfg.views, size=cfg.size, style=cfg.style, tile=cfg.tile,
            platform=cfg.platform, bits=cfg.bits, max_mb=cfg.max_mb))
    ok, failed, retry = {}, [], []
    for o in run(render_model, jobs):
        if o.ok:
            ok[o.item.id] = o.value
        elif cfg.style == "lines" and o.status in (Status.CRASH, Status.TIMEOUT):
            retry.append(replace(o.item, exact=False))  # OCCT's exact HLR segfaults or crawls on a few parts
            continue
        else:
            failed.append(_failure(o.item.id, "render", o))
        if progress:
            progress(1)
    for o in run(render_model, retry):
        if o.ok:
            ok[o.item.id] = o.value
        else:
            failed.append(_failure(o.item.id, "render", o))
        if progress:
            progress(1)
    report = {"stage": "render", "shard": shard.index, "key": shard.key,
              "ok": dict(sorted(ok.items())), "failed": sorted(failed, key=lambda f: f["id"])}
    write_json_atomic(layout.shard_report("render", shard.index), report)
    return report


def convert_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], rendered: dict,
                  cfg: BuildConfig, count_tokens: Callable[[str], int], progress: Progress | None = None) -> dict:
    """Builds the samples of a shard's rendered models; writes and returns its convert report."""
    ccfg = ConvertConfig(views=cfg.views, tile=cfg.tile, target=cfg.target, seed=cfg.seed,
                         max_tokens=cfg.max_tokens, bits=cfg.bits,
                         vary_prompts=cfg.vary_prompts)
    out = convert_models([records[m] for m in shard.ids], rendered["ok"], layout, ccfg, count_tokens)
    if progress:
        progress(len(shard.ids))
    report = {"stage": "convert", "shard": shard.index, "key": shard.key, **out}
    write_json_atomic(layout.shard_report("convert", shard.index), report)
    return report


def validate_shard(layout: DatasetLayout, shard: Shard, records: dict[str, ModelRecord], converted: dict,
                   cfg: BuildConfig, run: Runner, progress: Progress | None = None) -> dict:
    """Checks the images and targets of a shard's samples; writes and returns its report."""
    by_model: dict[str, list[dict]] = {}
    for s in converted["samples"]:
        by_model.setdefault(s["model_id"], []).append(s)
    jobs = []
    for mid, samples in by_model.items():
        jobs.append(ValidateJob(
            id=mid, images=tuple(str(layout.root / s["image"]) for s in samples), size=cfg.image_size,
            target=samples[0]["target"], target_kind=cfg.target, text_path=str(layout.source_text(mid)), bits=cfg.bits))
    for u in converted["unlabeled"]:
        jobs.append(ValidateJob(id=u["id"], images=tuple(str(layout.root / i) for i in u["images"]),
                                size=cfg.image_size, target="", target_kind="", text_path="", bits=cfg.bits))
    ok, failed, structural, agreement = [], [], [], {}
    for o in run(validate_model, jobs):
        mid = o.item.id
        if not o.ok:
            failed.append(_failure(mid, "validate", o))
        else:
            if "agreement" in o.value:
                agreement[mid] = o.value["agreement"]
            structural += [{"id": mid, "error_class": c, "error": m} for c, m in o.value["structural"]]
            failed += [{"id": mid, "stage": "validate", "error_class": c, "error": m} for c, m in o.value["failures"]]
            if not o.value["structural"] and not o.value["failures"]:
                ok.append(mid)
        if progress:
            progress(1)
    if progress and len(shard.ids) > len(jobs):
        progress(len(shard.ids) - len(jobs))
    report = {"stage": "validate", "shard": shard.index, "key": shard.key, "ok": sorted(ok),
              "failed": sorted(failed, key=lambda f: (f["id"], f["error_class"])),
              "structural": sorted(structural, key=lambda f: (f["id"], f["error_class"])),
              "agreement": dict(sorted(agreement.items()))}
    write_json_atomic(layout.shard_report("validate", shard.index), report)
    return report


def assemble(layout: DatasetLayout, converted: list[dict], validated: list[dict]) -> dict:
    """Writes the split files from the shards' samples, leaving out models that failed
    validation; returns the sample counts per split and the number of unlabeled models."""
    good = {m for v in validated for m in v["ok"]}
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    unlabeled = []
    for c in sorted(converted, key=lambda c: c["shard"]):
        for s in c["samples"]:
            if s["model_id"] in good:
                by_split.setdefault(s["split"], []).append(s)
        unlabeled += [u for u in c["unlabeled"] if u["id"] in good]
    counts = {}
    for split, samples in by_split.items():
        samples.sort(key=lambda s: s["id"])
        write_split(layout, split, samples)
        counts[split] = len(samples)
    write_json_atomic(layout.unlabeled, sorted(unlabeled, key=lambda u: u["id"]))
    return {"samples": counts, "unlabeled": len(unlabeled)}
