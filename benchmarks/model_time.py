"""Where one model's time goes in a dataset build, phase by phase, in one process (no pool, no
Prefect): extract (parse + normalise + text, the skip rule's comparison, the source's solid, the
quantised solid, its tessellation, the source's tessellation and IoU where quantising moved a
number, keeping the solid for render) and render (the kept solid read back, hidden
lines, strokes, PNG), as `cadlib.dataset.extract` and `cadlib.dataset.render` do it.

    python benchmarks/model_time.py [--models 200] [--size 256] [--views front,top,right,iso]

Prints one JSON object: milliseconds per model per phase (mean and median), their shares of the
total, and the models/min one core would reach.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def profile(n: int, size: int, views: tuple[str, ...], bits: int, as_drawn: bool = False) -> dict:
    from cadlib import occ
    from cadlib.dataset.solids import keep, take
    from cadlib.deepcad_json import parse_sequence
    from cadlib.fidelity import same_sequence
    from cadlib.metrics import manifold_iou
    from cadlib.occ.hlr import hidden_lines
    from cadlib.render.draw import dashed, line_width, stroke
    from cadlib.synth import generate
    from cadlib.text import from_text, to_text
    from cadlib.transform import normalize
    from cadlib.views import frame_views, parse_views, view_axes

    times: dict[str, list[float]] = defaultdict(list)
    vlist = parse_views(views)
    done = proven_count = 0
    kept_file = Path(tempfile.mkdtemp()) / "kept.brep"
    for _, data in generate(n, seed=5, bits=None if as_drawn else bits):
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            times[name].append(1000 * (now - t))
            t = now

        try:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                json.dump(data, fh)
            seq = normalize(parse_sequence(json.loads(Path(fh.name).read_text())))
            text = to_text(seq, bits)
            lap("extract.parse_text")
            quantised = from_text(text)
            proven = same_sequence(seq, quantised)  # the skip rule: nothing moved, nothing to compare
            lap("extract.same_sequence")
            ref = None if proven else occ.build_raw(seq)
            lap("extract.build_source")
            quant, valid = occ.build_checked(quantised)
            valid = occ.is_valid(quant) if valid is None else valid
            lap("extract.build_quantised")
            a = occ.tessellate(quant)
            lap("extract.tessellate_quantised")
            if ref is not None:
                manifold_iou(a, occ.tessellate(ref))
            lap("extract.tessellate_source_and_iou")
            proven_count += proven
            keep(kept_file, text, quant, valid=valid, mesh_vertices=a.vertices)
            lap("extract.keep_solid")
            kept = take(kept_file, text)
            lap("render.take_solid")
            framing = frame_views(kept.frame_points, vlist, size)
            lines = []
            for view in vlist:
                ax = view_axes(view)
                lines.append(hidden_lines(kept.shape, ax.look, ax.right, origin=framing.center,
                                          deflection=framing.scale * 0.5, with_hidden=True, exact=True))
            lap("render.hidden_lines")
            from PIL import Image

            images = []
            for hl in lines:
                img = Image.new("L", (size, size), 255)
                hid = [framing.plane_to_pixels(pl) for pl in hl.hidden]
                vis = [framing.plane_to_pixels(pl) for pl in hl.visible]
                if hid:
                    stroke(img, dashed(hid, 4.0 * size / 256, 3.0 * size / 256), line_width(size, 0.75), (120,) * 3)
                if vis:
                    stroke(img, vis, line_width(size), (0, 0, 0))
                images.append(img)
            lap("render.stroke")
            for img in images:
                img.save(io.BytesIO(), format="PNG", compress_level=1)
            lap("render.png")
            done += 1
        except Exception:  # a model the build would drop: not part of a kept model's time
            for name in list(times):
                if len(times[name]) > done:
                    times[name].pop()
        finally:
            Path(fh.name).unlink(missing_ok=True)
    total = sum(statistics.fmean(v) for v in times.values())
    return {
        "models": done, "proven_by_skip_rule": proven_count, "size": size, "views": list(views), "bits": bits,
        "ms_per_model": {k: {"mean": round(statistics.fmean(v), 2), "median": round(statistics.median(v), 2),
                             "share": round(statistics.fmean(v) / total, 3)} for k, v in times.items()},
        "total_ms_per_model": round(total, 1),
        "models_per_min_one_core": round(60000 / total, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--views", default="front,top,right,iso")
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--as-drawn", action="store_true", help="the generator's models off the grid (the full check)")
    a = p.parse_args(argv)
    print(json.dumps(profile(a.models, a.size, tuple(a.views.split(",")), a.bits, a.as_drawn), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
