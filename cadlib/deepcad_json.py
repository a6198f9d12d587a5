"""Parser for DeepCAD `cad_json` and Fusion 360 Gallery reconstruction JSON.

Both come from the same exporter family: `entities` (sketches and extrude features) and a
`sequence` giving the order. Curves in a sketch's profiles are in the sketch's own 2D frame; the
sketch `transform` places that frame in the world. Lengths are in the file's units (metres for
DeepCAD/Onshape, centimetres for Fusion 360); `normalize` removes them.

What the typed sequence cannot represent raises `ParseError` naming the file and the entity, so a
dataset build can record it and go on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

from cadlib.errors import ParseError
from cadlib.limits import check_size
from cadlib.loops import canonical_loop, chain_curves
from cadlib.sequence import (
    Arc,
    CadSequence,
    Circle,
    Curve,
    ExtentType,
    Extrude,
    Line,
    Loop,
    Operation,
    Profile,
    SketchPlane,
)

_OPERATIONS = {
    "NewBodyFeatureOperation": Operation.NEW_BODY,
    # A new component is a new body elsewhere in the assembly tree; geometrically a union.
    "NewComponentFeatureOperation": Operation.NEW_BODY,
    "JoinFeatureOperation": Operation.JOIN,
    "CutFeatureOperation": Operation.CUT,
    "IntersectFeatureOperation": Operation.INTERSECT,
}
_EXTENTS = {
    "OneSideFeatureExtentType": ExtentType.ONE_SIDE,
    "SymmetricFeatureExtentType": ExtentType.SYMMETRIC,
    "TwoSidesFeatureExtentType": ExtentType.TWO_SIDES,
}


class JsonPoint(TypedDict):
    x: float
    y: float
    z: float


class JsonLine(TypedDict):
    type: Literal["Line3D"]
    start_point: JsonPoint
    end_point: JsonPoint


class JsonArc(TypedDict):
    """An arc as DeepCAD stores it: centre, radius, sweep from `reference_vector`, and its ends."""

    type: Literal["Arc3D"]
    center_point: JsonPoint
    radius: float
    start_angle: float
    end_angle: float
    reference_vector: JsonPoint
    normal: JsonPoint
    start_point: JsonPoint
    end_point: JsonPoint


class JsonCircle(TypedDict):
    type: Literal["Circle3D"]
    center_point: JsonPoint
    radius: float
    normal: JsonPoint


JsonCurve = JsonLine | JsonArc | JsonCircle
"""One sketch curve of a DeepCAD profile loop, as the JSON spells it."""


class DeepCadDocument(TypedDict):
    """A DeepCAD `cad_json` file: entities by id (sketches with profiles of loops of `JsonCurve`s,
    extrudes), and the sequence of features that orders them (what `parse_sequence` reads)."""

    entities: dict[str, dict[str, Any]]
    properties: dict[str, Any]
    sequence: list[dict[str, Any]]


def load_json_sequence(path: str | Path) -> CadSequence:
    """Reads a DeepCAD / Fusion 360 reconstruction JSON file into a `CadSequence`.

    Raises:
        ParseError: the file is not valid JSON, not a reconstruction file, or uses something the
            sketch-and-extrude model cannot represent; the message names the file and entity.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # not UTF-8, not JSON, an integer of more than 4,300 digits
        raise ParseError(f"not readable as JSON ({str(exc).split('; use sys.', 1)[0]})", source=str(path)) from None
    return parse_sequence(data, source=str(path), name=path.stem)


def describe_json_kind(data: Any) -> str | None:
    """Names what a JSON document is when it is not a reconstruction file, else None."""
    if not isinstance(data, dict):
        return "a JSON document that is not an object"
    keys = set(data)
    if {"body_one", "body_two", "joints"} <= keys:
        return "a Fusion 360 Gallery joint-set file, not a reconstruction file"
    if "entities" not in keys and "sequence" in keys:
        return "a Fusion 360 Gallery face-extrude (regraph) sequence, not a reconstruction file"
    if "entities" in keys and "sequence" not in keys:
        return (
            "an early Fusion 360 Gallery layout without a 'sequence' list; "
            "re-export it with the released reconstruction tools"
        )
    if "entities" not in keys:
        return f"not a DeepCAD/Fusion reconstruction file (top-level keys: {sorted(keys)[:6]})"
    return None


def parse_sequence(data: Any, *, source: str = "<json>", name: str = "") -> CadSequence:
    """Turns an already-decoded reconstruction JSON document into a `CadSequence`.

    Raises:
        ParseError: the document is not a reconstruction file, or one whose entities do not have
            the shapes the format gives them (a string where an object belongs, a missing key).
    """
    try:
        with np.errstate(all="ignore"):  # huge numbers are refused by name (`cadlib.limits`), not warned on
            return _parse_sequence(data, source, name)
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
        if isinstance(exc, ParseError):
            raise
        raise ParseError(f"malformed reconstruction JSON ({type(exc).__name__}: {exc})", source=source) from None


def _parse_sequence(data: Any, source: str, name: str) -> CadSequence:
    kind = describe_json_kind(data)
    if kind:
        raise ParseError(f"{kind}", source=source)
    entities = data["entities"]
    extrudes: list[Extrude] = []
    for step in data["sequence"]:
        ent_id = step.get("entity")
        ent = entities.get(ent_id)
        if ent is None:
            raise ParseError(f"sequence names entity {ent_id!r} that is not in 'entities'", source=source)
        kind = ent.get("type")
        if kind == "Sketch":
            continue  # sketches are used through the extrudes that reference them
        if kind != "ExtrudeFeature":
            raise ParseError(f"entity {ent_id} is a {kind}; only sketches and extrudes are supported", source=source)
        extrudes.extend(_parse_extrude(entities, ent_id, source))
    if not extrudes:
        raise ParseError("no extrude in the sequence", source=source)
    # Fusion 360 Gallery files (with a timeline) are in centimetres, DeepCAD's Onshape exports in metres.
    unit_mm = 10.0 if ("timeline" in data or "metadata" in data) else 1000.0
    seq = CadSequence(tuple(extrudes), name=name, unit_mm=unit_mm)
    check_size(*seq.envelope(), source, unit_mm)  # 1e300 or 1e-12 m: refused here, not by the modeller
    return seq


def _parse_extrude(entities: dict, ent_id: str, source: str) -> list[Extrude]:
    ent = entities[ent_id]
    where = f"extrude {ent_id} ({ent.get('name', '?')})"
    start = (ent.get("start_extent") or {}).get("type")
    if start != "ProfilePlaneStartDefinition":
        raise ParseError(f"{where} starts at {start}; only the profile plane is supported", source=source)
    try:
        op = _OPERATIONS[ent["operation"]]
        extent_type = _EXTENTS[ent["extent_type"]]
    except KeyError as exc:
        raise ParseError(f"{where} has unsupported {exc.args[0]!r}", source=source) from None
    one = _distance(ent.get("extent_one"), where, "extent_one", source)
    two = _distance(ent.get("extent_two"), where, "extent_two", source) if extent_type is ExtentType.TWO_SIDES else 0.0
    refs = ent.get("profiles") or []
    if not refs:
        raise ParseError(f"{where} extrudes no profile", source=source)
    out = []
    for i, ref in enumerate(refs):
        sketch = entities.get(ref.get("sketch"))
        if sketch is None or ref.get("profile") not in sketch.get("profiles", {}):
            raise ParseError(f"{where} references missing sketch/profile {ref}", source=source)
        plane = _parse_plane(sketch.get("transform"), f"sketch {ref['sketch']}", source)
        profile = _parse_profile(sketch["profiles"][ref["profile"]], plane, f"{where} profile {ref['profile']}", source)
        # DeepCAD splits a multi-profile extrude into one extrude per profile; a new body made of
        # several profiles becomes the first one joined with the rest.
        this_op = Operation.JOIN if (op is Operation.NEW_BODY and i > 0) else op
        out.append(Extrude(plane, profile, this_op, extent_type, one, two))
    return out


def _distance(extent: dict | None, where: str, key: str, source: str) -> float:
    if not extent:
        raise ParseError(f"{where} has no {key}", source=source)
    if extent.get("type") != "DistanceExtentDefinition":
        raise ParseError(f"{where} {key} is a {extent.get('type')}; only distances are supported", source=source)
    taper = (extent.get("taper_angle") or {}).get("value", 0.0) or 0.0
    if abs(float(taper)) > 1e-9:
        raise ParseError(f"{where} {key} has a taper angle ({taper}); tapers are not supported", source=source)
    try:
        value = float(extent["distance"]["value"])
    except (KeyError, TypeError, ValueError):
        raise ParseError(f"{where} {key} has no numeric distance", source=source) from None
    if not math.isfinite(value):
        raise ParseError(f"{where} {key} distance is {value}", source=source)
    return value


def _finite(v: Any) -> float:
    """`v` as a float; ValueError (a clean ParseError at the caller) for Infinity or NaN, which
    Python's JSON reader accepts."""
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"a coordinate is {x}")
    return x


def _xyz(d: dict) -> np.ndarray:
    return np.array([_finite(d.get("x", 0.0)), _finite(d.get("y", 0.0)), _finite(d.get("z", 0.0))])


def _xy(d: dict) -> tuple[float, float]:
    return (_finite(d["x"]), _finite(d["y"]))


def _parse_plane(transform: dict | None, where: str, source: str) -> SketchPlane:
    try:
        if transform is None:
            raise TypeError("no transform")
        origin = _xyz(transform["origin"])
        x_axis = _xyz(transform["x_axis"])
        z_axis = _xyz(transform["z_axis"])
        return SketchPlane.from_axes(origin, x_axis, z_axis)
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"{where} has no usable transform ({exc})", source=source) from None


def _parse_profile(prof: dict, plane: SketchPlane, where: str, source: str) -> Profile:
    raw_loops = prof.get("loops") or []
    if not raw_loops:
        raise ParseError(f"{where} has no loops", source=source)
    curves_per_loop = [[_parse_curve(c, plane, where, source) for c in lp.get("profile_curves", [])] for lp in raw_loops]
    pts = np.array([p for cs in curves_per_loop for c in cs for p in _ends(c)])
    size = float(np.ptp(pts, axis=0).max()) if len(pts) else 0.0
    tol = max(1e-9, 1e-5 * size)
    loops: list[tuple[bool, Loop]] = []
    for raw, curves in zip(raw_loops, curves_per_loop, strict=True):
        try:
            loops.append((bool(raw.get("is_outer", False)), canonical_loop(chain_curves(curves, tol))))
        except ValueError as exc:
            raise ParseError(f"{where}: {exc}", source=source) from None
    # The outer boundary goes first: the flagged loop enclosing the most area (or, if none is
    # flagged, the largest loop); the holes follow in a fixed order.
    flagged = [lp for outer, lp in loops if outer] or [lp for _, lp in loops]
    outer = max(flagged, key=lambda lp: abs(lp.signed_area()))
    holes = [lp for _, lp in loops if lp is not outer]
    holes.sort(key=lambda lp: tuple(np.round(lp.points().min(axis=0), 9)))
    return Profile((outer, *holes))


def _ends(c: Curve) -> list[tuple[float, float]]:
    if isinstance(c, Circle):
        return [(c.center[0] - c.radius, c.center[1] - c.radius), (c.center[0] + c.radius, c.center[1] + c.radius)]
    return [c.start, c.end]


def _parse_curve(c: dict, plane: SketchPlane, where: str, source: str) -> Curve:
    kind = c.get("type")
    try:
        if kind == "Line3D":
            return Line(_xy(c["start_point"]), _xy(c["end_point"]))
        if kind == "Circle3D":
            r = _finite(c["radius"])
            if not r > 0:
                raise ValueError(f"radius {r}")
            return Circle(_xy(c["center_point"]), r)
        if kind == "Arc3D":
            return _parse_arc(c)
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"{where}: bad {kind} {c.get('curve', '')} ({exc})", source=source) from None
    raise ParseError(f"{where}: curve type {kind} is not supported (lines, arcs, circles only)", source=source)


def _parse_arc(c: dict) -> Arc:
    center = np.array(_xy(c["center_point"]))
    r = _finite(c["radius"])
    ref = np.array(_xy(c["reference_vector"]))
    ref = ref / np.linalg.norm(ref)
    sa, ea = _finite(c["start_angle"]), _finite(c["end_angle"])
    # Angles turn counter-clockwise in the sketch's own frame, from the reference vector. The
    # `normal` field is not needed: on every real DeepCAD and Fusion sample where the direction
    # is decidable (all but half circles) counter-clockwise matches the listed end points, also
    # where the normal points against the sketch normal (DeepCAD's own reader ignores it too).
    sweep = ea - sa
    if not 1e-9 < abs(sweep) < 2 * math.pi - 1e-9:
        raise ValueError(f"sweep {sweep}")

    def at(a: float) -> np.ndarray:
        return center + r * np.array([ref[0] * math.cos(a) - ref[1] * math.sin(a), ref[0] * math.sin(a) + ref[1] * math.cos(a)])

    a_pt = at(sa)
    start, end = _xy(c["start_point"]), _xy(c["end_point"])
    if np.linalg.norm(np.asarray(start) - a_pt) <= np.linalg.norm(np.asarray(end) - a_pt):
        return Arc(start, end, sweep)
    return Arc(start, end, -sweep)
