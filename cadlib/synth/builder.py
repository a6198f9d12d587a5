"""Writing DeepCAD-format JSON models one sketch-and-extrude at a time (the synthetic families'
pen): `ModelBuilder` and the loop shapes (`rect`, `rounded_rect`, `slot`, `circle`, `polygon`, ...).

A builder can be turned as a whole (`orientation`: a signed permutation of the axes), so every
family appears in every axis-aligned orientation.
"""

from __future__ import annotations

import math
from typing import Any

from cadlib.deepcad_json import (
    _EXTENTS,
    _OPERATIONS,
    DeepCadDocument,
    JsonArc,
    JsonCircle,
    JsonCurve,
    JsonLine,
    JsonPoint,
)
from cadlib.sequence import CadSequence, Circle, Curve, Line

# Orientation of a family's base sketch: (x axis, normal). The sketch y axis is normal x x-axis.
PLANES = {
    "xy": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "xz": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "yz": ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),
}


class ModelBuilder:
    """Writes a model in DeepCAD's JSON layout, one sketch-and-extrude at a time.

    Loops are lists of `JsonCurve`s made by `line`, `arc`, `circle`, `polygon`, `rect`,
    `rounded_rect` and `slot` (2D points in the sketch plane).
    """

    def __init__(self, orientation: tuple[tuple[float, float, float], ...] | None = None) -> None:
        self.orientation = orientation  # rows of a rotation applied to every plane and origin
        self.entities: dict[str, dict[str, Any]] = {}
        self.sequence: list[dict[str, Any]] = []
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:04d}"

    def extrude(
        self,
        plane: str,
        origin: tuple[float, float, float],
        loops: list[list[JsonCurve]],
        operation: str,
        extent: str,
        d1: float,
        d2: float = 0.0,
    ) -> None:
        """One sketch with one profile (loops[0] outer, the rest holes) and its extrude."""
        x_axis, z_axis = PLANES[plane]
        if self.orientation is not None:
            x_axis, z_axis, origin = (self._turn(v) for v in (x_axis, z_axis, origin))
        self._write(origin, x_axis, z_axis, loops, f"{operation}FeatureOperation", f"{extent}FeatureExtentType", d1, d2)

    def _write(self, origin, x_axis, z_axis, loops: list[list[JsonCurve]], operation: str, extent: str,
               d1: float, d2: float) -> None:
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
            "operation": operation,
            "start_extent": {"type": "ProfilePlaneStartDefinition"},
            "extent_type": extent,
            "extent_one": _distance(d1),
            "extent_two": _distance(d2),
        }
        self.sequence.append({"index": len(self.sequence), "type": "Sketch", "entity": sid})
        self.sequence.append({"index": len(self.sequence), "type": "ExtrudeFeature", "entity": eid})

    @classmethod
    def from_sequence(cls, seq: CadSequence, unit: float) -> ModelBuilder:
        """A builder holding `seq` (every plane, curve and extent as it is), lengths times `unit`
        metres: what `cadlib.deepcad_json.parse_sequence` reads back as `seq` scaled by `unit`."""
        b = cls()
        for ex in seq.extrudes:
            p = ex.plane
            loops = [[_curve(c, unit) for c in lp.curves] for lp in ex.profile.loops]
            b._write(tuple(v * unit for v in p.origin), p.x_axis, p.z_axis, loops,
                     _OPERATION_NAMES[ex.operation], _EXTENT_NAMES[ex.extent_type], ex.extent_one * unit, ex.extent_two * unit)
        return b

    def _turn(self, v) -> tuple[float, float, float]:
        m = self.orientation or ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        x, y, z = (float(sum(r[i] * v[i] for i in range(3))) for r in m)
        return (x, y, z)

    def json(self) -> DeepCadDocument:
        return {"entities": self.entities, "properties": {}, "sequence": self.sequence}


# The parser's tables turned round (a new component reads as a new body; a new body writes as one).
_OPERATION_NAMES = {op: name for name, op in _OPERATIONS.items() if name != "NewComponentFeatureOperation"}
_EXTENT_NAMES = {extent: name for name, extent in _EXTENTS.items()}


def _curve(c: Curve, unit: float) -> JsonCurve:
    if isinstance(c, Line):
        return line(_scaled(c.start, unit), _scaled(c.end, unit))
    if isinstance(c, Circle):
        return circle(_scaled(c.center, unit), c.radius * unit)[0]
    center, r = c.center_radius()
    a0 = math.atan2(c.start[1] - center[1], c.start[0] - center[0])
    return arc(_scaled(center, unit), r * unit, a0, a0 + c.sweep)


def _scaled(p, unit: float) -> tuple[float, float]:
    return (float(p[0]) * unit, float(p[1]) * unit)


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _pt(p) -> JsonPoint:
    return {"x": float(p[0]), "y": float(p[1]), "z": float(p[2]) if len(p) > 2 else 0.0}


def _distance(d: float) -> dict[str, Any]:
    return {
        "type": "DistanceExtentDefinition",
        "distance": {"type": "ModelParameter", "role": "AlongDistance", "name": "none", "value": float(d)},
        "taper_angle": {"type": "ModelParameter", "role": "TaperAngle", "name": "none", "value": 0.0},
    }


def line(p, q) -> JsonLine:
    """A straight segment from p to q."""
    return {"type": "Line3D", "start_point": _pt(p), "end_point": _pt(q)}


def arc(center, r: float, a0: float, a1: float) -> JsonArc:
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


def circle(center, r: float) -> list[JsonCurve]:
    """A loop made of one full circle."""
    one: JsonCircle = {"type": "Circle3D", "center_point": _pt(center), "radius": r, "normal": _pt((0.0, 0.0, 1.0))}
    return [one]


def polygon(points) -> list[JsonCurve]:
    """A closed loop of straight segments through `points`."""
    return [line(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]


def mm(rng, lo: float, hi: float, step: float = 1.0) -> float:
    """A length in metres, drawn in whole `step` millimetres."""
    return round(rng.uniform(lo, hi) / step) * step / 1000.0


def ring(center, r: float, n: int, hole_r: float, phase: float = 0.0) -> list[list[JsonCurve]]:
    """`n` circle loops of radius `hole_r` evenly on a circle of radius `r` (a bolt pattern)."""
    return [circle((center[0] + r * math.cos(phase + 2 * math.pi * k / n),
                    center[1] + r * math.sin(phase + 2 * math.pi * k / n)), hole_r) for k in range(n)]


def rect(x0, y0, x1, y1) -> list[JsonCurve]:
    """An axis-aligned rectangle loop."""
    return polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def rounded_rect(x0, y0, x1, y1, r) -> list[JsonCurve]:
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


def slot(cx, cy, length, r) -> list[JsonCurve]:
    """A stadium loop: two half circles of radius r whose centres are `length` apart."""
    a, b = cx - length / 2, cx + length / 2
    return [
        line((a, cy - r), (b, cy - r)),
        arc((b, cy), r, -math.pi / 2, math.pi / 2),
        line((b, cy + r), (a, cy + r)),
        arc((a, cy), r, math.pi / 2, 3 * math.pi / 2),
    ]


