"""A seeded generator of DeepCAD-format JSON models, for demos and tests.

Each model is written in DeepCAD's `cad_json` layout (entities + sequence, lengths in metres) and
read back through the real parser, so demos and tests exercise the same path as the dataset.
Families: plates with holes, L-brackets, stepped shafts, flanges with bolt circles, bosses on
blocks, pockets cut into blocks, slotted plates (arcs), and T-blocks; symmetric and two-sided
extents appear throughout.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable
from pathlib import Path

FAMILIES: dict[str, Callable[[random.Random], dict]] = {}

# Orientation of a family's base sketch: (x axis, normal). The sketch y axis is normal x x-axis.
_PLANES = {
    "xy": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "xz": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "yz": ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),
}


def _family(fn: Callable[[random.Random], dict]) -> Callable[[random.Random], dict]:
    FAMILIES[fn.__name__] = fn
    return fn


class ModelBuilder:
    """Writes a model in DeepCAD's JSON layout, one sketch-and-extrude at a time.

    Loops are lists of curve dicts made by `line`, `arc`, `circle`, `polygon`, `rect`,
    `rounded_rect` and `slot` (2D points in the sketch plane).
    """

    def __init__(self) -> None:
        self.entities: dict[str, dict] = {}
        self.sequence: list[dict] = []
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:04d}"

    def extrude(
        self,
        plane: str,
        origin: tuple[float, float, float],
        loops: list[list[dict]],
        operation: str,
        extent: str,
        d1: float,
        d2: float = 0.0,
    ) -> None:
        """One sketch with one profile (loops[0] outer, the rest holes) and its extrude."""
        x_axis, z_axis = _PLANES[plane]
        y_axis = _cross(z_axis, x_axis)
        sid, pid, eid = self._id("S"), self._id("P"), self._id("E")
        self.entities[sid] = {
            "type": "Sketch",
            "name": f"Sketch {sid}",
            "transform": {
                "origin": _pt(origin),
                "x_axis": _pt(x_axis),
                "y_axis": _pt(y_axis),
                "z_axis": _pt(z_axis),
            },
            "profiles": {
                pid: {
                    "loops": [{"is_outer": i == 0, "profile_curves": lp} for i, lp in enumerate(loops)],
                    "properties": {},
                }
            },
        }
        self.entities[eid] = {
            "type": "ExtrudeFeature",
            "name": f"Extrude {eid}",
            "profiles": [{"profile": pid, "sketch": sid}],
            "operation": f"{operation}FeatureOperation",
            "start_extent": {"type": "ProfilePlaneStartDefinition"},
            "extent_type": f"{extent}FeatureExtentType",
            "extent_one": _distance(d1),
            "extent_two": _distance(d2),
        }
        self.sequence.append({"index": len(self.sequence), "type": "Sketch", "entity": sid})
        self.sequence.append({"index": len(self.sequence), "type": "ExtrudeFeature", "entity": eid})

    def json(self) -> dict:
        return {"entities": self.entities, "properties": {}, "sequence": self.sequence}


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _pt(p) -> dict:
    return {"x": float(p[0]), "y": float(p[1]), "z": float(p[2]) if len(p) > 2 else 0.0}


def _distance(d: float) -> dict:
    return {
        "type": "DistanceExtentDefinition",
        "distance": {"type": "ModelParameter", "role": "AlongDistance", "name": "none", "value": float(d)},
        "taper_angle": {"type": "ModelParameter", "role": "TaperAngle", "name": "none", "value": 0.0},
    }


def line(p, q) -> dict:
    """A straight segment from p to q."""
    return {"type": "Line3D", "start_point": _pt(p), "end_point": _pt(q)}


def arc(center, r: float, a0: float, a1: float) -> dict:
    """Counter-clockwise arc from angle a0 to a1 (DeepCAD stores it from a reference vector)."""
    ref = (math.cos(a0), math.sin(a0))
    p0 = (center[0] + r * ref[0], center[1] + r * ref[1])
    p1 = (center[0] + r * math.cos(a1), center[1] + r * math.sin(a1))
    return {
        "type": "Arc3D",
        "center_point": _pt(center),
        "radius": r,
        "start_angle": 0.0,
        "end_angle": a1 - a0,
        "reference_vector": _pt(ref),
        "normal": _pt((0.0, 0.0, 1.0)),
        "start_point": _pt(p0),
        "end_point": _pt(p1),
    }


def circle(center, r: float) -> list[dict]:
    """A loop made of one full circle."""
    return [{"type": "Circle3D", "center_point": _pt(center), "radius": r, "normal": _pt((0.0, 0.0, 1.0))}]


def polygon(points) -> list[dict]:
    """A closed loop of straight segments through `points`."""
    return [line(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]


def rect(x0, y0, x1, y1) -> list[dict]:
    """An axis-aligned rectangle loop."""
    return polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def rounded_rect(x0, y0, x1, y1, r) -> list[dict]:
    """A rectangle loop with corner arcs of radius r."""
    h = math.pi / 2
    return [
        line((x0 + r, y0), (x1 - r, y0)),
        arc((x1 - r, y0 + r), r, -h, 0.0),
        line((x1, y0 + r), (x1, y1 - r)),
        arc((x1 - r, y1 - r), r, 0.0, h),
        line((x1 - r, y1), (x0 + r, y1)),
        arc((x0 + r, y1 - r), r, h, 2 * h),
        line((x0, y1 - r), (x0, y0 + r)),
        arc((x0 + r, y0 + r), r, 2 * h, 3 * h),
    ]


def slot(cx, cy, length, r) -> list[dict]:
    """A stadium loop: two half circles of radius r whose centres are `length` apart."""
    a, b = cx - length / 2, cx + length / 2
    return [
        line((a, cy - r), (b, cy - r)),
        arc((b, cy), r, -math.pi / 2, math.pi / 2),
        line((b, cy + r), (a, cy + r)),
        arc((a, cy), r, math.pi / 2, 3 * math.pi / 2),
    ]


def _mm(rng: random.Random, lo: float, hi: float, step: float = 1.0) -> float:
    """A length in metres, drawn in whole `step` millimetres."""
    return round(rng.uniform(lo, hi) / step) * step / 1000.0


@_family
def plate_with_holes(rng: random.Random) -> dict:
    b = ModelBuilder()
    w, h, t = _mm(rng, 40, 120), _mm(rng, 30, 90), _mm(rng, 3, 12)
    r = _mm(rng, 2, 6, 0.5)
    nx, ny = rng.randint(1, 3), rng.randint(1, 2)
    outer = rounded_rect(0, 0, w, h, min(w, h) / 6) if rng.random() < 0.5 else rect(0, 0, w, h)
    holes = [
        circle((w * (i + 1) / (nx + 1), h * (j + 1) / (ny + 1)), r) for i in range(nx) for j in range(ny)
    ]
    b.extrude(rng.choice(list(_PLANES)), (0, 0, 0), [outer, *holes], "NewBody", "OneSide", t)
    return b.json()


@_family
def l_bracket(rng: random.Random) -> dict:
    b = ModelBuilder()
    a, c, t, w = _mm(rng, 30, 80), _mm(rng, 30, 80), _mm(rng, 4, 10), _mm(rng, 20, 60)
    pts = [(0, 0), (a, 0), (a, t), (t, t), (t, c), (0, c)]
    b.extrude("xz", (0, 0, 0), [polygon(pts)], "NewBody", "Symmetric", w / 2)
    # a hole through the horizontal flange, sketched on its top face
    r = min(t, w / 6)
    b.extrude("xy", (0, 0, t), [circle(((a + t) / 2, 0.0), r)], "Cut", "OneSide", -t)
    return b.json()


@_family
def stepped_shaft(rng: random.Random) -> dict:
    b = ModelBuilder()
    z = 0.0
    r = _mm(rng, 10, 25)
    for i in range(rng.randint(2, 4)):
        length = _mm(rng, 10, 40)
        b.extrude("xy", (0, 0, z), [circle((0, 0), r)], "NewBody" if i == 0 else "Join", "OneSide", length)
        z += length
        r = max(0.002, r - _mm(rng, 2, 6))
    if rng.random() < 0.5:  # a centre bore from the far end
        b.extrude("xy", (0, 0, z), [circle((0, 0), r / 2)], "Cut", "OneSide", -z / 2)
    return b.json()


@_family
def flange(rng: random.Random) -> dict:
    b = ModelBuilder()
    R, t = _mm(rng, 30, 60), _mm(rng, 5, 12)
    bore = _mm(rng, 5, 12)
    n, rb, pcd = rng.choice([3, 4, 6, 8]), _mm(rng, 2, 4, 0.5), (R + bore) / 2 + 0.004
    holes = [circle((pcd * math.cos(2 * math.pi * k / n), pcd * math.sin(2 * math.pi * k / n)), rb) for k in range(n)]
    b.extrude("xy", (0, 0, 0), [circle((0, 0), R), circle((0, 0), bore), *holes], "NewBody", "OneSide", t)
    hub = bore + _mm(rng, 4, 10)
    b.extrude("xy", (0, 0, t), [circle((0, 0), hub), circle((0, 0), bore)], "Join", "TwoSides", _mm(rng, 8, 25), 0.0)
    return b.json()


@_family
def boss_on_block(rng: random.Random) -> dict:
    b = ModelBuilder()
    w, d, h = _mm(rng, 40, 100), _mm(rng, 40, 100), _mm(rng, 10, 30)
    b.extrude("xy", (0, 0, 0), [rect(-w / 2, -d / 2, w / 2, d / 2)], "NewBody", "Symmetric", h / 2)
    r = _mm(rng, 5, min(w, d) * 1000 / 2 - 3)
    b.extrude("xy", (0, 0, h / 2), [circle((0, 0), r)], "Join", "OneSide", _mm(rng, 5, 30))
    return b.json()


@_family
def pocketed_block(rng: random.Random) -> dict:
    b = ModelBuilder()
    w, d, h = _mm(rng, 40, 100), _mm(rng, 40, 100), _mm(rng, 15, 40)
    b.extrude("xy", (0, 0, 0), [rect(0, 0, w, d)], "NewBody", "OneSide", h)
    m = _mm(rng, 5, 10)
    depth = h * rng.uniform(0.3, 0.7)
    b.extrude("xy", (0, 0, h), [rounded_rect(m, m, w - m, d - m, min(w, d) / 8)], "Cut", "OneSide", -depth)
    return b.json()


@_family
def slotted_plate(rng: random.Random) -> dict:
    b = ModelBuilder()
    w, h, t = _mm(rng, 60, 140), _mm(rng, 30, 70), _mm(rng, 4, 10)
    plane = rng.choice(list(_PLANES))
    b.extrude(plane, (0, 0, 0), [rect(-w / 2, -h / 2, w / 2, h / 2)], "NewBody", "Symmetric", t / 2)
    r = h / 8
    b.extrude(plane, (0, 0, 0), [slot(0, 0, w / 2, r)], "Cut", "Symmetric", t)
    return b.json()


@_family
def t_block(rng: random.Random) -> dict:
    b = ModelBuilder()
    a, c, s, t = _mm(rng, 40, 90), _mm(rng, 30, 70), _mm(rng, 8, 20), _mm(rng, 6, 15)
    pts = [(-a / 2, c - t), (a / 2, c - t), (a / 2, c), (-a / 2, c)]
    stem = [(-s / 2, 0), (s / 2, 0), (s / 2, c - t), (-s / 2, c - t)]
    depth = _mm(rng, 15, 50)
    b.extrude("yz", (0, 0, 0), [polygon(stem)], "NewBody", "TwoSides", depth * 0.6, depth * 0.4)
    b.extrude("yz", (0, 0, 0), [polygon(pts)], "Join", "TwoSides", depth * 0.6, depth * 0.4)
    return b.json()


def generate(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    """`n` models, cycling through the families, reproducible from `seed`."""
    rng = random.Random(seed)
    names = sorted(FAMILIES)
    out = []
    for i in range(n):
        fam = names[i % len(names)]
        out.append((f"synth_{seed}_{i:05d}_{fam}", FAMILIES[fam](rng)))
    return out


def write_synthetic(out_dir: str | Path, n: int, seed: int = 0) -> list[Path]:
    """Writes `n` generated models as `<name>.json` under `out_dir` (atomically) and lists them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate(n, seed):
        path = out_dir / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return paths
