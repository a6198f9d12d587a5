"""Convert: (views, construction sequence) -> conversation samples, with the token-length filter.

One sample per view (the seed's layout: `<model>_<view>`) or one per model with the tiled image.
The assistant's answer is the sequence text (default) or CadQuery code built from it. Samples over
the length limit are dropped and counted, never truncated. Models with views but no sequence
(meshes, STEP) become `unlabeled` entries, for evaluation rather than training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cadlib.dataset.layout import DatasetLayout, portable_text
from cadlib.dataset.manifest import ModelRecord
from cadlib.dataset.prompts import prompt_for
from cadlib.dataset.reports import Converted, Dropped, Failure, RenderedModel, Sample, Unlabeled
from cadlib.errors import user_error_class


@dataclass(frozen=True, slots=True)
class ConvertConfig:
    views: tuple[str, ...]
    tile: bool
    target: str  # "sequence" | "cadquery"
    seed: int
    max_tokens: int
    bits: int
    vary_prompts: bool = True


def target_text(text: str, target: str, bits: int, model_id: str) -> str:
    """The assistant's answer: the sequence text itself, or the CadQuery script that builds it."""
    if target == "sequence":
        return text
    from cadlib.cadquery_export import cadquery_target

    return cadquery_target(text, bits, source=model_id)


def convert_models(
    records: list[ModelRecord],
    rendered: dict[str, RenderedModel],
    layout: DatasetLayout,
    cfg: ConvertConfig,
    count_tokens: Callable[[str], int],
) -> Converted:
    """Samples of one shard's models that rendered (`rendered[id]` from the render report).

    Returns ``{"samples": [...], "unlabeled": [...], "dropped": [...], "failed": [...]}``; every
    sample carries its id, model id, split, view, image (relative path), prompt, target and token
    count.
    """
    samples: list[Sample] = []
    unlabeled: list[Unlabeled] = []
    dropped: list[Dropped] = []
    failed: list[Failure] = []
    for rec in records:
        done = rendered.get(rec.id)
        if done is None:
            continue  # failed to render: in the render report
        names = [(n[len(rec.id) + 1: -4], f"images/{n}") for n in done["images"]]
        if not rec.has_target:
            unlabeled.append({"id": rec.id, "split": rec.split, "source": rec.source, "format": rec.format,
                              "images": [img for _, img in names]})
            continue
        try:
            text = Path(layout.source_text(rec.id)).read_text(encoding="utf-8")
            answer = target_text(text, cfg.target, cfg.bits, rec.id)
        except Exception as exc:  # noqa: BLE001 - a per-model failure, reported by class
            failed.append({"id": rec.id, "stage": "convert", "error_class": user_error_class(type(exc).__name__, str(exc)),
                           "error": portable_text(str(exc), layout.root)})
            continue
        kept_before = len(samples)
        for view, image in names:
            sid = f"{rec.id}_{view}"
            prompt = prompt_for(sid, view=None if cfg.tile else view, views=cfg.views, seed=cfg.seed,
                                cadquery=cfg.target == "cadquery", vary=cfg.vary_prompts)
            n = count_tokens(prompt) + count_tokens(answer)
            sample: Sample = {"id": sid, "model_id": rec.id, "split": rec.split, "view": view, "image": image,
                      "prompt": prompt, "target": answer, "tokens": n}
            if n > cfg.max_tokens:
                dropped.append({"id": sid, "model_id": rec.id, "split": rec.split, "tokens": n})
            else:
                samples.append(sample)
        if names and len(samples) == kept_before:  # every sample of the model was too long
            n = count_tokens(answer)
            failed.append({"id": rec.id, "stage": "convert", "error_class": "TooLong",
                           "error": f"target is {n} tokens; every sample is over max_tokens={cfg.max_tokens}"})
    return {"samples": samples, "unlabeled": unlabeled, "dropped": dropped, "failed": failed}
