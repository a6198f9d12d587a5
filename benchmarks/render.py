"""Rendering throughput: models/s for 3 views at 512 px, per style, with 1 and 2 worker processes.

Models are synthetic DeepCAD-format parts (what a dataset build renders); each job loads the JSON,
builds and meshes the solid, renders front/top/right and encodes the PNGs, as the render stage
does. Workers are the isolated pool of the dataset build (one GL renderer per process, reused).
Also prints a per-phase profile (in process) so a missed target says where the time goes.

    python benchmarks/render.py [--models 60] [--size 512]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIEWS = ("front", "top", "right")
PNG_COMPRESS_LEVEL = 1  # what save_rendered uses


def render_job(path: str, style: str, size: int) -> float:
    from cadlib.ingest import load_model
    from cadlib.render import render_views

    t = time.perf_counter()
    r = render_views(load_model(path), VIEWS, size=size, style=style, svg=False)
    for img in r.images.values():
        img.save(io.BytesIO(), format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return time.perf_counter() - t


def profile(paths: list[str], style: str, size: int) -> dict:
    """Seconds per model spent in each phase, in this process."""
    from cadlib.ingest import load_model
    from cadlib.render import render_views
    from cadlib.render.shaded import render_shaded
    from cadlib.views import frame_views, parse_views

    phases = {"load_build_mesh": 0.0, "render": 0.0, "png": 0.0}
    render_views(load_model(paths[0]), VIEWS, size=size, style=style)  # warm up (GL start)
    for p in paths:
        t0 = time.perf_counter()
        m = load_model(p)
        t1 = time.perf_counter()
        r = render_views(m, VIEWS, size=size, style=style, svg=False)
        t2 = time.perf_counter()
        for img in r.images.values():
            img.save(io.BytesIO(), format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        t3 = time.perf_counter()
        phases["load_build_mesh"] += t1 - t0
        phases["render"] += t2 - t1
        phases["png"] += t3 - t2
    if style == "lines":
        from cadlib.occ.hlr import hidden_lines
        from cadlib.views import view_axes

        hlr = 0.0
        for p in paths:
            m = load_model(p)
            fr = frame_views(m.mesh.vertices, parse_views(VIEWS), size)
            t = time.perf_counter()
            for v in parse_views(VIEWS):
                ax = view_axes(v)
                hidden_lines(m.shape, ax.look, ax.right, origin=fr.center, deflection=fr.scale * 0.5)
            hlr += time.perf_counter() - t
        phases["render.of_which_hlr"] = hlr
    else:
        from cadlib.render import _brep_edges

        gl = edges = 0.0
        for p in paths:
            m = load_model(p)
            vl = parse_views(VIEWS)
            fr = frame_views(m.mesh.vertices, vl, size)
            t = time.perf_counter()
            _brep_edges(m.shape, vl, fr)
            edges += time.perf_counter() - t
            t = time.perf_counter()
            render_shaded(m.mesh, vl, fr, smooth=True)
            gl += time.perf_counter() - t
        phases["render.of_which_edges_hlr"] = edges
        phases["render.of_which_gl_only"] = gl
    return {k: round(v / len(paths) * 1000, 2) for k, v in phases.items()} | {"unit": "ms per model"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=60)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    from cadlib.synth import write_synthetic
    from cadlib.workers import Status, run_isolated

    tmp = Path(tempfile.mkdtemp(prefix="cadrecon-bench-"))
    paths = [str(p) for p in write_synthetic(tmp, args.models, seed=11)]
    report: dict = {"models": args.models, "views": list(VIEWS), "size": args.size}
    for style in ("lines", "shaded"):
        row = {}
        for workers in (1, 2):
            # Steady state: the clock starts when each worker has finished its first model
            # (process start, imports and GL set-up are paid once per worker, not per model).
            done, out = [], []
            for o in run_isolated(partial(render_job, style=style, size=args.size), paths, workers=workers, timeout=120):
                done.append(time.perf_counter())
                out.append(o)
            assert all(o.status is Status.OK for o in out), [o.message for o in out if o.status is not Status.OK]
            steady = len(paths) - workers
            row[f"{workers}_workers_models_per_s"] = round(steady / (done[-1] - done[workers - 1]), 2)
        row["speedup_2_vs_1"] = round(row["2_workers_models_per_s"] / row["1_workers_models_per_s"], 2)
        row["profile_in_process"] = profile(paths[:20], style, args.size)
        report[style] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
