"""Scoring a folder of predictions against a folder of truths (or a cadrecon dataset split) under
the protocols, each prediction in an isolated worker with a time limit, best-of-N per model.

Predictions are `<id>.<ext>` or `<id>+<k>.<ext>` (`cadlib.scoring.files`); truths are `<id>.<ext>`
in any format cadrecon reads, or a dataset folder whose split names the ids (truth: the model's
sequence text in `sources/`). A model with no prediction, or whose predictions all fail, is invalid,
with its cause; a hang or a crash is a failed prediction, never a stuck run.
"""

from __future__ import annotations

import csv
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadlib.atomic import atomic_path
from cadlib.dataset.layout import DatasetLayout
from cadlib.errors import CadlibError
from cadlib.scoring.files import SUFFIXES, InvalidPrediction, load_geometry, split_name
from cadlib.scoring.protocols import best_of, get_protocol, score_pair, summarize
from cadlib.scoring.reports import BestOf, FolderReport, JobScore, SampleScore, ScoreRow

SCORE_BUDGET_S = 90.0
"""Time for scoring one prediction (sampling, booleans) on top of its execution limit; past it the
worker is killed and the prediction counted as a timeout."""


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    sample: str
    pred: str
    truth: str
    protocols: tuple[str, ...]
    timeout_s: float
    bits: int
    seed: int


_truths: dict[tuple[str, float], object] = {}


def _truth(path: str, bits: int):
    """A worker's truths, loaded once per file (best-of-N scores one truth N times)."""
    key = (path, Path(path).stat().st_mtime)
    if key not in _truths:
        if len(_truths) > 64:
            _truths.clear()
        _truths[key] = load_geometry(path, bits=bits)
    return _truths[key]


def score_job(job: Job) -> JobScore:
    """Scores one prediction file (runs in a worker process)."""
    try:
        truth = _truth(job.truth, job.bits)
    except InvalidPrediction as exc:
        return {"valid": False, "cause": "TruthError", "error": f"the truth does not load: {exc}"}
    try:
        pred = load_geometry(job.pred, timeout_s=job.timeout_s, bits=job.bits)
    except InvalidPrediction as exc:
        return {"valid": False, "cause": exc.kind, "error": str(exc)}
    rng = np.random.default_rng([job.seed, zlib.crc32(job.id.encode()), zlib.crc32(job.sample.encode())])
    return {"valid": True, "cause": "", "error": "",
            "scores": {p: score_pair(get_protocol(p), truth, pred, rng) for p in job.protocols}}


def truth_index(truth: str | Path, split: str = "test") -> dict[str, Path]:
    """{model id: truth file} of a folder of truths or of a cadrecon dataset's split.

    Raises:
        CadlibError: the folder is missing, empty, or holds two truths for one id.
    """
    root = Path(truth)
    if not root.is_dir():
        raise CadlibError("no such folder of truths", source=str(root))
    layout = DatasetLayout(root)
    if layout.sources.is_dir() and layout.split_file(split, "json").is_file():
        ids = sorted({r["id"].rsplit("_", 1)[0] for r in layout.read_split(split)})
        return {i: layout.source_text(i) for i in ids}
    out: dict[str, Path] = {}
    for f in sorted(root.iterdir()):
        if f.is_file() and f.suffix.lower() in SUFFIXES and f.suffix.lower() != ".py":
            if f.stem in out:
                raise CadlibError(f"two truths for model {f.stem!r}: {out[f.stem].name} and {f.name}", source=str(root))
            out[f.stem] = f
    if not out:
        raise CadlibError("holds no truth files", source=str(root))
    return out


def score_folder(pred: str | Path, truth: str | Path, *, protocols=("cadrille",), split: str = "test",
                 timeout_s: float | None = None, workers: int = 2, seed: int = 0, bits: int = 8,
                 progress: Callable[[int, int], None] | None = None) -> FolderReport:
    """Scores every prediction in `pred` against its truth; the report (see module doc):
    ``{"protocols": {name: summary}, "models", "predictions", "invalid_causes", "rows", ...}``."""
    from cadlib.workers import Status, run_isolated

    pred_dir = Path(pred)
    if not pred_dir.is_dir():
        raise CadlibError("no such folder of predictions", source=str(pred_dir))
    protocols = tuple(get_protocol(p).name for p in protocols)
    timeout_s = timeout_s if timeout_s is not None else max(get_protocol(p).timeout_s for p in protocols)
    truths = truth_index(truth, split)
    jobs, skipped, unmatched = [], [], []
    for f in sorted(pred_dir.iterdir()):
        if not f.is_file() or f.suffix.lower() not in SUFFIXES:
            skipped.append(f.name)
            continue
        mid, k = split_name(f)
        if mid not in truths:
            unmatched.append(f.name)
            continue
        jobs.append(Job(mid, k, str(f), str(truths[mid]), protocols, timeout_s, bits, seed))
    started = time.monotonic()
    samples: dict[str, list[SampleScore]] = {m: [] for m in truths}
    for done, out in enumerate(run_isolated(score_job, jobs, workers=workers, timeout=timeout_s + SCORE_BUDGET_S), 1):
        job: Job = out.item
        result: JobScore
        if out.status is Status.OK:
            result = out.value
        elif out.status is Status.TIMEOUT:
            result = {"valid": False, "cause": "Timeout", "error": f"{job.pred}: {out.message}; the worker was killed"}
        else:
            result = {"valid": False, "cause": out.error_class or out.status.value,
                      "error": f"{job.pred}: {out.message}"}
        samples[job.id].append({"sample": job.sample, **result})
        if progress:
            progress(done, len(jobs))
    seconds = time.monotonic() - started
    rows: list[ScoreRow] = []
    causes: Counter[str] = Counter()
    best: dict[str, list[BestOf]] = {p: [] for p in protocols}
    for mid in sorted(truths):
        got = sorted(samples[mid], key=lambda s: s["sample"])
        valid = sum(s["valid"] for s in got)
        cause, error = (("Missing", "no prediction for this model") if not got else
                        (got[0]["cause"], got[0]["error"]) if not valid else ("", ""))
        if cause:
            causes[cause] += 1
        row: ScoreRow = {"id": mid, "samples": len(got), "valid_samples": valid,
                         "failed_samples": "; ".join(f"{s['sample']}: {s['cause']}" for s in got if not s["valid"]),
                         "cause": cause, "error": error}
        for p in protocols:
            b = best_of([{"valid": True, "cd": s["scores"][p]["cd"], "iou": s["scores"][p]["iou"]}
                         if "scores" in s else {"valid": False} for s in got])
            row[f"cd_{p}"], row[f"iou_{p}"] = b["cd"], b["iou"]
            best[p].append(b)
        rows.append(row)
    summaries = {p: summarize([{"valid": b["valid"], "cd": b["cd"], "iou": b["iou"]} for b in best[p]])
                 for p in protocols}
    return {"pred": str(pred_dir), "truth": str(truth), "protocols": summaries,
            "definitions": {p: get_protocol(p).as_dict() for p in protocols},
            "models": len(truths), "predictions": len(jobs), "samples_per_model": max((len(s) for s in samples.values()), default=0),
            "invalid_causes": dict(causes), "unmatched_predictions": unmatched, "skipped_files": skipped,
            "timeout_s": timeout_s, "seconds": round(seconds, 3),
            "predictions_per_s": round(len(jobs) / seconds, 3) if seconds > 0 else None, "rows": rows}


def write_rows_csv(report: FolderReport, path: str | Path) -> Path:
    """The per-model rows of a report as CSV (one line per model id)."""
    path = Path(path)
    rows = report["rows"]
    fields = list(rows[0]) if rows else ["id"]
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path
