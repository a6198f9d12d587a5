"""Validate: every image exists, decodes and has the configured size; every target is rebuilt and
must agree with the solid the images show; no model in two splits; statistics. (A sequence target
is the text the render stage built the views from: when the text's hash is the one render
recorded, render's facts of that solid are used rather than building it a second time.)

The images of a sequence model are rendered from its sequence text (the quantised solid), so that
solid is the reference. A sequence target is that text: it must rebuild one valid solid as its
source had (bodies and validity are recorded). A CadQuery target is executed by the real CadQuery
(`cadlib.cadquery_exec`), and its solid must match the reference: the same number of solids, valid,
volume within `CADQUERY_VOLUME_TOL` and an IoU of at least `CADQUERY_MIN_IOU` with it.

Structural errors (a missing or broken image, a sample that is not a well-formed conversation, a
model or duplicate group in two splits) mean the dataset is broken and fail the build. Per-model
failures (a target that rebuilds no valid solid) are counted and reported.
"""

from __future__ import annotations

import ast
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cadlib.dataset.layout import SPLITS, DatasetLayout
from cadlib.dataset.prompts import IMAGE_TOKEN
from cadlib.dataset.reports import (
    Agreement,
    AgreementStats,
    BuiltSolid,
    Distribution,
    Failure,
    FailureRow,
    ModelChecks,
    SolidFacts,
    SplitChecks,
)
from cadlib.dataset.writers import iter_json_array

CADQUERY_VOLUME_TOL = 0.005
CADQUERY_MIN_IOU = 0.99


@dataclass(frozen=True, slots=True)
class ValidateJob:
    id: str  # model id
    images: tuple[str, ...]  # absolute paths
    size: tuple[int, int]
    target: str  # the answer of its samples ("" for unlabeled models)
    target_kind: str  # "sequence" | "cadquery" | ""
    text_path: str  # the sequence text to rebuild ("" for none)
    bits: int
    built: BuiltSolid | None = None  # the render stage's facts of the solid it built from text_path (see render.py)


def validate_model(job: ValidateJob) -> ModelChecks:
    """Checks one model's images and target. Returns ``{"structural": [...], "failures": [...]}``,
    each a list of ``[error_class, message]``, and the rebuilt solid's volume where there is one."""
    from PIL import Image

    structural: list[list[str]] = []
    failures: list[list[str]] = []
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
    out: ModelChecks = {"structural": structural, "failures": failures}
    if job.target_kind == "cadquery":
        try:
            ast.parse(job.target)
        except SyntaxError as exc:
            structural.append(["TargetSyntax", f"CadQuery target does not parse: {exc}"])
            return out
    if job.text_path:
        from cadlib import occ
        from cadlib.errors import CadlibError
        from cadlib.text import from_text
        from cadlib.transform import in_mm

        try:
            text = Path(job.text_path).read_text(encoding="utf-8")
            if job.target_kind == "sequence" and text != job.target:
                structural.append(["TargetMismatch", "the sample's target differs from the model's sequence text"])
            built: SolidFacts
            if job.target_kind != "cadquery" and job.built and \
                    job.built["text_sha256"] == hashlib.sha256(text.encode()).hexdigest():
                built = job.built
            else:
                shape = occ.build_solid(in_mm(from_text(text, job.bits, source=job.text_path)))
                built = {"valid": occ.is_valid(shape), "volume": occ.volume(shape), "solids": occ.count_solids(shape)}
            valid = built["valid"]
            if not valid:
                failures.append(["InvalidSolid", "the target rebuilds a solid that BRepCheck rejects"])
            out["volume"] = built["volume"]
            out["agreement"] = {"solids": built["solids"], "valid": valid}
            if job.target_kind == "cadquery":
                problem, agreement = _check_cadquery(job, shape)
                out["agreement"] |= agreement
                if problem:
                    failures.append(["CadQueryTargetMismatch", problem])
        except CadlibError as exc:
            failures.append([type(exc).__name__, str(exc)])
        except OSError as exc:
            structural.append(["MissingTarget", f"{job.text_path}: {exc.strerror or exc}"])
    return out


def _check_cadquery(job: ValidateJob, reference) -> tuple[str | None, Agreement]:
    """Runs a CadQuery target with real CadQuery and compares its solid with `reference`."""
    import os
    import tempfile

    from cadlib import occ
    from cadlib.cadquery_exec import run_cadquery
    from cadlib.fidelity import agreement

    fd, step = tempfile.mkstemp(suffix=".step", prefix=f"cq_{job.id}_")
    os.close(fd)
    try:
        run = run_cadquery(job.target, step)
        if not run.ok:
            return f"CadQuery fails on the target: {run.error}", {"cadquery_ok": False}
        got = agreement(occ.read_step(step), reference)
    finally:
        Path(step).unlink(missing_ok=True)
    ref_volume = occ.volume(reference)
    dv = abs(run.volume - ref_volume) / ref_volume if ref_volume > 0 else 1.0
    facts: Agreement = {"cadquery_ok": True, "cadquery_solids": run.solids, "cadquery_valid": run.valid,
             "cadquery_volume_error": round(dv, 6), "cadquery_iou": round(got.iou, 6)}
    if run.solids != got.reference_solids:
        return f"CadQuery builds {run.solids} solid(s) where the sequence builds {got.reference_solids}", facts
    if not run.valid:
        return "CadQuery's solid is not valid", facts
    if dv > CADQUERY_VOLUME_TOL:
        return f"CadQuery's volume is {dv:.2%} off the sequence's", facts
    if got.iou < CADQUERY_MIN_IOU:
        return f"CadQuery's solid overlaps the sequence's with IoU {got.iou:.3f}", facts
    return None, facts


def agreement_stats(agreements: list[Agreement]) -> AgreementStats:
    """The distribution of the targets' rebuild facts over a dataset's models."""
    out: AgreementStats = {"models": len(agreements),
                 "solids": dict(sorted(Counter(str(a.get("solids")) for a in agreements).items())),
                 "valid": sum(1 for a in agreements if a.get("valid"))}
    cq = [a for a in agreements if "cadquery_ok" in a]
    if cq:
        ious = [a["cadquery_iou"] for a in cq if a.get("cadquery_ok")]
        out["cadquery"] = {"executed": len(cq), "ran": sum(1 for a in cq if a["cadquery_ok"]),
                           "iou_min": min(ious) if ious else None,
                           "iou_mean": round(float(np.mean(ious)), 6) if ious else None,
                           "volume_error_max": max((a["cadquery_volume_error"] for a in cq if a.get("cadquery_ok")),
                                                   default=None)}
    return out


def check_sample(s: Any) -> str | None:
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


def distribution(values: list[int]) -> Distribution:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": int(a.size), "min": int(a.min()), "median": float(np.median(a)), "mean": round(float(a.mean()), 2),
            "p95": float(np.percentile(a, 95)), "max": int(a.max())}


def check_splits(layout: DatasetLayout, signatures: dict[str, str]) -> tuple[list[list[str]], SplitChecks]:
    """The dataset-level checks over the written split files: well-formed records, unique ids,
    images present, no model and no duplicate group in two splits. Returns (structural errors,
    statistics). Each file is streamed (one record in memory at a time, not the parsed split)."""
    errors: list[list[str]] = []
    model_split: dict[str, str] = {}
    sig_split: dict[str, set[str]] = defaultdict(set)
    stats: SplitChecks = {"splits": {}}
    seen_ids: set[str] = set()
    for split in SPLITS:
        path = layout.split_file(split, "json")
        if not path.is_file():
            errors.append(["MissingSplit", f"{path.name}: no such file"])
            continue
        try:
            found, models, ids, chars = _check_split(layout, path, seen_ids)
        except ValueError as exc:  # a broken file: its records say nothing
            errors.append(["BrokenSplit", f"{path.name}: {exc}"])
            continue
        errors += found
        seen_ids |= ids
        for mid in models:
            if model_split.setdefault(mid, split) != split:
                errors.append(["Leakage", f"model {mid} is in {model_split[mid]} and {split}"])
            if mid in signatures:
                sig_split[signatures[mid]].add(split)
        stats["splits"][split] = {"samples": len(chars) + sum(e[0] == "BadSample" for e in found),
                                  "models": len(models), "target_chars": distribution(chars)}
    leaks = [s for s, splits in sig_split.items() if len(splits) > 1]
    for sig in leaks:
        errors.append(["Leakage", f"duplicate group {sig} is in {sorted(sig_split[sig])}"])
    stats["duplicate_groups_across_splits"] = len(leaks)
    return errors, stats


def _check_split(layout: DatasetLayout, path: Path, seen_before: set[str]
                 ) -> tuple[list[list[str]], set[str], set[str], list[int]]:
    """One split file's record errors, its models, its ids and its targets' lengths."""
    errors: list[list[str]] = []
    models: set[str] = set()
    ids: set[str] = set()
    chars: list[int] = []
    for s in iter_json_array(path):
        problem = check_sample(s) if isinstance(s, dict) else "is not a JSON object"
        if problem:
            errors.append(["BadSample", f"{path.name}: {s.get('id') if isinstance(s, dict) else s!r}: {problem}"])
            continue
        if s["id"] in ids or s["id"] in seen_before:
            errors.append(["DuplicateId", f"{path.name}: {s['id']} appears twice"])
        ids.add(s["id"])
        if not (layout.root / s["image"]).is_file():
            errors.append(["MissingImage", f"{path.name}: {s['id']}: {s['image']} not found"])
        models.add(s.get("model_id") or s["id"].rsplit("_", 1)[0])
        chars.append(len(s["conversations"][1]["value"]))
    return errors, models, ids, chars


def failure_table(failures: list[Failure]) -> list[FailureRow]:
    """Failures grouped by (stage, error class): count and up to three examples each."""
    groups: dict[tuple[str, str], list[Failure]] = defaultdict(list)
    for f in failures:
        groups[(f["stage"], f["error_class"])].append(f)
    rows: list[FailureRow] = []
    for (stage, ecls), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append({"stage": stage, "error_class": ecls, "count": len(items),
                     "examples": [f"{f['id']}: {f['error']}" for f in items[:3]]})
    return rows
