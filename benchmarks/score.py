"""`cadrecon score` throughput: models/s for N predictions under the cadrille protocol, and where one
pair's time goes, printed as JSON.

    python benchmarks/score.py [--models 100] [--workers 2] [--format stl]

Truths are N synthetic models (DeepCAD JSON, as the dataset's source files); each prediction is its
truth with one extrude 10% longer, written as `--format` (stl: a mesh, scored through manifold3d's
booleans; txt: a sequence text, built with OCP; json). `score_folder` runs them as `cadrecon score`
does (isolated workers, best-of-N bookkeeping); the profile times one pair's phases in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_pairs(root: Path, n: int, fmt: str) -> tuple[Path, Path]:
    from cadlib import occ, parse_sequence
    from cadlib.synth import generate
    from cadlib.text import to_text
    from cadlib.transform import normalize

    truth, pred = root / "truth", root / "pred"
    truth.mkdir(parents=True)
    pred.mkdir()
    for i, (_, data) in enumerate(generate(n, seed=11)):
        mid = f"m{i:04d}"
        (truth / f"{mid}.json").write_text(json.dumps(data))
        ext = next(e for e in data["entities"].values() if e["type"] == "ExtrudeFeature")
        ext["extent_one"]["distance"]["value"] *= 1.1
        if fmt == "json":
            (pred / f"{mid}.json").write_text(json.dumps(data))
            continue
        seq = parse_sequence(data)
        if fmt == "txt":
            (pred / f"{mid}.txt").write_text(to_text(normalize(seq), 8))
        else:
            mesh = occ.tessellate(occ.build_solid(seq))
            _write_stl(pred / f"{mid}.stl", mesh.vertices, mesh.faces)
    return pred, truth


def _write_stl(path: Path, vertices, faces) -> None:
    import numpy as np

    tri = np.asarray(vertices, dtype=np.float32)[np.asarray(faces)]
    rec = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tri
    with open(path, "wb") as fh:
        fh.write(b"\0" * 80 + np.uint32(len(tri)).tobytes() + rec.tobytes())


def profile(pred: Path, truth: Path, k: int = 10) -> dict:
    """Milliseconds per phase for the first `k` pairs, in this process (medians)."""
    import numpy as np

    from cadlib.metrics import chamfer, sample_surface
    from cadlib.scoring.files import InvalidPrediction, load_geometry
    from cadlib.scoring.protocols import get_protocol, normalised, pair_iou

    proto = get_protocol("cadrille")
    phases: dict[str, list[float]] = {"load_truth": [], "load_pred": [], "normalise": [], "sample": [],
                                      "chamfer": [], "iou": []}
    methods: list[str] = []
    for p in sorted(pred.iterdir()):
        if len(phases["iou"]) == k:
            break
        t = time.perf_counter()
        tg = load_geometry(next(truth.glob(f"{p.stem}.*")))
        t_truth = time.perf_counter() - t
        t = time.perf_counter()
        try:
            pg = load_geometry(p)
        except InvalidPrediction:  # an invalid answer is not a pair to profile
            continue
        phases["load_truth"].append(t_truth)
        phases["load_pred"].append(time.perf_counter() - t)
        t = time.perf_counter()
        a, b = normalised(proto, tg, pg)
        phases["normalise"].append(time.perf_counter() - t)
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        pa, pb = sample_surface(a.mesh, proto.points, seed=rng), sample_surface(b.mesh, proto.points, seed=rng)
        phases["sample"].append(time.perf_counter() - t)
        t = time.perf_counter()
        chamfer(pa, pb)
        phases["chamfer"].append(time.perf_counter() - t)
        t = time.perf_counter()
        methods.append(pair_iou(a, b)[1])
        phases["iou"].append(time.perf_counter() - t)
    return {**{k: round(1000 * statistics.median(v), 2) for k, v in phases.items()},
            "iou_methods": sorted(set(methods))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--format", default="stl", choices=("stl", "txt", "json"))
    args = ap.parse_args()

    from cadlib.scoring.folder import score_folder

    with tempfile.TemporaryDirectory(prefix="cadrecon-bench-score-") as tmp:
        pred, truth = make_pairs(Path(tmp), args.models, args.format)
        t = time.perf_counter()
        report = score_folder(pred, truth, protocols=("cadrille",), workers=args.workers)
        wall = time.perf_counter() - t
        print(json.dumps({
            "models": report["models"], "format": args.format, "workers": args.workers, "cpus": os.cpu_count(),
            "protocol": "cadrille", "wall_seconds": round(wall, 2),
            "models_per_s": round(report["models"] / wall, 2),
            "models_per_s_per_worker": round(report["models"] / wall / args.workers, 2),
            "summary": report["protocols"]["cadrille"], "invalid_causes": report["invalid_causes"],
            "profile_ms_one_pair": profile(pred, truth),
        }, indent=1))


if __name__ == "__main__":
    main()
