"""Validate: every image exists, decodes and has the configured size; every target parses and (for
sequence targets) rebuilds a valid solid; no model in two splits; statistics.

Structural errors (a missing or broken image, a sample that is not a well-formed conversation, a
model or duplicate group in two splits) mean the dataset is broken and fail the build. Per-model
failures (a target that rebuilds no valid solid) are counted and reported.
"""

from __future__ import annotations

import ast
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadlib.dataset.layout import SPLITS, DatasetLayout, read_json
from cadlib.dataset.prompts import IMAGE_TOKEN


@dataclass(frozen=True, slots=True)
class ValidateJob:
    id: str  # model id
    images: tuple[str, ...]  # absolute paths
    size: tuple[int, int]
    target: str  # the answer of its samples ("" for unlabeled models)
    target_kind: str  # "sequence" | "cadquery" | ""
    text_path: str  # the sequence text to rebuild ("" for none)
    bits: int


def validate_model(job: ValidateJob) -> dict:
    """Checks one model's images and target. Returns ``{"structural": [...], "failures": [...]}``,
    each a list of ``[error_class, message]``, and the rebuilt solid's volume where there is one."""
    from PIL import Image

    structural, failures = [], []
    for path in job.images:
        try:
            with Image.open(path) as im:
                im.load()
                if im.size != job.size:
                    structural.append(["ImageSize", f"{Path(path).name}: {im.size[0]}x{im.size[1]}, expected "
                                                    f"{job.size[0]}x{job.size[1]}"])
        except FileNotFoundError:
            structural.append(["MissingImage", f"{Path(path).name}: no such file"])
        except Exception as exc:  # noqa: BLE001 - PIL raises many kinds on a broken file
            structural.append(["BrokenImage", f"{Path(path).name}: {exc}"])
    out: dict = {"structural": structural, "failures": failures}
    if job.target_kind == "cadquery":
        try:
            ast.parse(job.target)
        except SyntaxError as exc:
            structural.append(["TargetSyntax", f"CadQuery target does not parse: {exc}"])
    if job.text_path:
        from cadlib import occ
        from cadlib.errors import CadlibError
        from cadlib.text import from_text
        from cadlib.transform import in_mm

        try:
            text = Path(job.text_path).read_text(encoding="utf-8")
            if job.target_kind == "sequence" and text != job.target:
                structural.append(["TargetMismatch", "the sample's target differs from the model's sequence text"])
            shape = occ.build_solid(in_mm(from_text(text, job.bits, source=job.text_path)))
            if not occ.is_valid(shape):
                failures.append(["InvalidSolid", "the target rebuilds a solid that BRepCheck rejects"])
            out["volume"] = occ.volume(shape)
        except CadlibError as exc:
            failures.append([type(exc).__name__, str(exc)])
        except OSError as exc:
            structural.append(["MissingTarget", f"{job.text_path}: {exc.strerror or exc}"])
    return out


def check_sample(s: dict) -> str | None:
    """What is wrong with one LLaVA record (as a TinyLLaVA-style loader reads it), or None."""
    if not isinstance(s.get("id"), str) or not isinstance(s.get("image"), str):
        return "needs a string id and one image string"
    conv = s.get("conversations")
    if not isinstance(conv, list) or len(conv) < 2 or len(conv) % 2:
        return "conversations must be human/gpt pairs"
    for i, turn in enumerate(conv):
        if turn.get("from") != ("human" if i % 2 == 0 else "gpt") or not isinstance(turn.get("value"), str):
            return f"turn {i} must be from {'human' if i % 2 == 0 else 'gpt'} with a string value"
    if IMAGE_TOKEN not in conv[0]["value"] or any(IMAGE_TOKEN in t["value"] for t in conv[1:]):
        return f"{IMAGE_TOKEN} must be in the first human turn only"
    return None


def distribution(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": int(a.size), "min": int(a.min()), "median": float(np.median(a)), "mean": round(float(a.mean()), 2),
            "p95": float(np.percentile(a, 95)), "max": int(a.max())}


def check_splits(layout: DatasetLayout, signatures: dict[str, str]) -> tuple[list[list[str]], dict]:
    """The dataset-level checks over the written split files: well-formed records, unique ids,
    images present, no model and no duplicate group in two splits. Returns (structural errors,
    statistics)."""
    errors: list[list[str]] = []
    model_split: dict[str, str] = {}
    sig_split: dict[str, set[str]] = defaultdict(set)
    stats: dict = {"splits": {}}
    seen_ids: set[str] = set()
    for split in SPLITS:
        path = layout.split_file(split, "json")
        if not path.is_file():
            errors.append(["MissingSplit", f"{path.name}: no such file"])
            continue
        try:
            records = read_json(path)
        except ValueError as exc:
            errors.append(["BrokenSplit", f"{path.name}: {exc}"])
            continue
        models, chars = set(), []
        for s in records:
            problem = check_sample(s)
            if problem:
                errors.append(["BadSample", f"{path.name}: {s.get('id')!r}: {problem}"])
                continue
            if s["id"] in seen_ids:
                errors.append(["DuplicateId", f"{path.name}: {s['id']} appears twice"])
            seen_ids.add(s["id"])
            if not (layout.root / s["image"]).is_file():
                errors.append(["MissingImage", f"{path.name}: {s['id']}: {s['image']} not found"])
            mid = s.get("model_id") or s["id"].rsplit("_", 1)[0]
            models.add(mid)
            chars.append(len(s["conversations"][1]["value"]))
        for mid in models:
            if model_split.setdefault(mid, split) != split:
                errors.append(["Leakage", f"model {mid} is in {model_split[mid]} and {split}"])
            if mid in signatures:
                sig_split[signatures[mid]].add(split)
        stats["splits"][split] = {"samples": len(records), "models": len(models), "target_chars": distribution(chars)}
    leaks = [s for s, splits in sig_split.items() if len(splits) > 1]
    for sig in leaks:
        errors.append(["Leakage", f"duplicate group {sig} is in {sorted(sig_split[sig])}"])
    stats["duplicate_groups_across_splits"] = len(leaks)
    return errors, stats


def failure_table(failures: list[dict]) -> list[dict]:
    """Failures grouped by (stage, error class): count and up to three examples each."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for f in failures:
        groups[(f["stage"], f["error_class"])].append(f)
    rows = []
    for (stage, ecls), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append({"stage": stage, "error_class": ecls, "count": len(items),
                     "examples": [f"{f['id']}: {f['error']}" for f in items[:3]]})
    return rows


def count_by(items: list[dict], key: str) -> dict[str, int]:
    return dict(sorted(Counter(i[key] for i in items).items()))
