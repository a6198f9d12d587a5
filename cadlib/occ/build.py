"""CadSequence -> OCP solid: faces from loops with holes, one prism per extrude, booleans."""

from __future__ import annotations

import math

import numpy as np
from OCP.BRepAlgoAPI import BRepAlgoAPI_Common, BRepAlgoAPI_Cut, BRepAlgoAPI_Fuse
from OCP.BRepBuilderAPI import (
    BRepBuilderAPI_MakeEdge,
    BRepBuilderAPI_MakeFace,
    BRepBuilderAPI_MakeWire,
    BRepBuilderAPI_Transform,
)
from OCP.BRepCheck import BRepCheck_Analyzer
from OCP.BRepPrimAPI import BRepPrimAPI_MakePrism
from OCP.collections import List_TopoDS_Shape
from OCP.GC import GC_MakeArcOfCircle
from OCP.gp import gp_Ax2, gp_Ax3, gp_Circ, gp_Dir, gp_Pln, gp_Pnt, gp_Trsf, gp_Vec
from OCP.ShapeFix import ShapeFix_Shape
from OCP.ShapeUpgrade import ShapeUpgrade_UnifySameDomain
from OCP.TopoDS import TopoDS, TopoDS_Shape

from cadlib.errors import BuildError
from cadlib.occ.shape import bbox, count_solids, volume
from cadlib.sequence import Arc, CadSequence, Circle, Extrude, Line, Loop, Operation, SketchPlane


def build_solid(seq: CadSequence, *, unify: bool = True) -> TopoDS_Shape:
    """Builds the solid a sequence describes (`build_checked` without the verdict)."""
    return build_checked(seq, unify=unify)[0]


def build_checked(seq: CadSequence, *, unify: bool = True) -> tuple[TopoDS_Shape, bool | None]:
    """Builds the solid a sequence describes, with BRepCheck's verdict where the build already knows
    it: True when the solid passed as built, None when ShapeFix repaired it (not checked since).

    Each extrude's profile becomes a planar face (outer loop minus holes), is swept into a prism
    over the extrude's span, and is fused (new body, join), cut or intersected with the body so far.

    Args:
        seq: the sequence.
        unify: merge coplanar faces and collinear edges afterwards (cleaner edges for drawings).

    Raises:
        BuildError: a profile or boolean fails, or the result has no volume.
    """
    body = build_raw(seq)
    if unify:
        up = ShapeUpgrade_UnifySameDomain(body, True, True, False)
        up.Build()
        body = up.Shape()
    if BRepCheck_Analyzer(body).IsValid():
        return body, True
    # Booleans between tangent or coincident faces can leave tolerances BRepCheck rejects although
    # every face, wire and edge is valid on its own; ShapeFix repairs those.
    try:
        fix = ShapeFix_Shape(body)
        fix.Perform()
        return fix.Shape(), None
    except Exception as exc:  # noqa: BLE001 - OCCT raises its own kinds (Standard_ConstructionError)
        raise BuildError(f"the solid is invalid and ShapeFix fails on it ({type(exc).__name__})",
                         source=seq.name) from None


def build_raw(seq: CadSequence) -> TopoDS_Shape:
    """The solid as the booleans leave it: no face merging, no BRepCheck, no repair. For measuring
    a solid (its volume, bodies, tessellation) rather than drawing or exporting it; the checks
    `build_checked` adds cost ~5 ms of a ~25 ms synthetic part.

    Raises:
        BuildError: a profile or boolean fails.
    """
    body: TopoDS_Shape | None = None
    body_volume: float | None = None  # known once a boolean has measured it
    for i, ex in enumerate(seq.extrudes):
        where = f"extrude {i + 1}/{len(seq.extrudes)}"
        tool = _extrude_body(ex, where, seq.name)
        if body is None:
            if ex.operation in (Operation.CUT, Operation.INTERSECT):
                raise BuildError(f"{where} is a {ex.operation.value} with nothing to act on", source=seq.name)
            body = tool
            continue
        body, body_volume = _boolean(body, body_volume, tool, ex.operation, where, seq.name,
                                     0.0 if _axis_normal(ex.plane) else TILTED_FUZZY)
    if body is None:
        raise BuildError("empty sequence", source=seq.name)
    return body


_ALGOS = {
    Operation.NEW_BODY: BRepAlgoAPI_Fuse,
    Operation.JOIN: BRepAlgoAPI_Fuse,
    Operation.CUT: BRepAlgoAPI_Cut,
    Operation.INTERSECT: BRepAlgoAPI_Common,
}
_FUZZY = (1e-7, 1e-6, 1e-5)
"""Fuzzy tolerances (relative to the operands' size) a boolean is retried with when its plain result
is implausible: faces a fraction of a micro-unit apart (two sketches of one outline on opposite
planes, after quantisation) can make OCCT's fuse return the two solids overlapping, unfused."""


TILTED_FUZZY = 5e-5
"""The fuzzy tolerance (relative to the operands' size) of every boolean whose tool was sketched on a
tilted plane (normal to no world axis). A quantised sketch's origin is a point of the integer grid
and its plane's position along a tilted normal is not, so two sketches on one tilted plane, or a
face an extent ends on, miss each other by up to ~2 grid steps (6e-5 at 16 bits, where the plain
booleans then left a hair gap, a second solid, in 9 of 30 long tilted sequences; cadlib.fidelity
dropped them); faces that close are one face to OCCT's fuzzy booleans. Axis-aligned sketches snap
their faces exactly (`cadlib.quantize`) and keep exact booleans; 5e-5 of the size is a fraction of an
8-bit step, so no feature the 8-bit grid can hold is merged away."""


def _axis_normal(plane: SketchPlane) -> bool:
    return float(np.max(np.abs(plane.z_axis))) > 1.0 - 1e-9


def _boolean(body: TopoDS_Shape, vb: float | None, tool: TopoDS_Shape, op: Operation, where: str,
             name: str, fuzzy: float = 0.0) -> tuple[TopoDS_Shape, float]:
    """The boolean's result and its volume (`vb`: the body's where the step before measured it);
    `fuzzy`: the tolerance, relative to the operands' size, of the first try."""
    size = _size(body, tool) if fuzzy else 1.0
    result = _run_boolean(body, tool, op, fuzzy * size)
    if result is None and fuzzy:  # OCCT's fuzzy mode fails on some pairs its exact one does not
        result = _run_boolean(body, tool, op, 0.0)
    if result is None:
        raise BuildError(f"{where}: the {op.value} boolean failed", source=name)
    vb = volume(body) if vb is None else vb
    vt, vr = volume(tool), volume(result)
    if _plausible(body, vb, tool, vt, result, vr, op):
        return result, vr
    size = size if fuzzy else _size(body, tool)
    for retry in _FUZZY:
        if retry <= fuzzy:
            continue
        again = _run_boolean(body, tool, op, retry * size)
        if again is not None:
            va = volume(again)
            if _plausible(body, vb, tool, vt, again, va, op):
                return again, va
    return result, vr  # nothing better: the plain result, which validation will judge


def _run_boolean(body: TopoDS_Shape, tool: TopoDS_Shape, op: Operation, fuzzy: float) -> TopoDS_Shape | None:
    algo = _ALGOS[op]()
    args, tools = List_TopoDS_Shape(), List_TopoDS_Shape()
    args.Append(body)
    tools.Append(tool)
    algo.SetArguments(args)
    algo.SetTools(tools)
    if fuzzy > 0:  # non-destructive: a fuzzy run that fails must leave its arguments for the next try
        algo.SetFuzzyValue(fuzzy)
        algo.SetNonDestructive(True)
    algo.Build()
    return algo.Shape() if algo.IsDone() else None


def _plausible(body: TopoDS_Shape, vb: float, tool: TopoDS_Shape, vt: float, result: TopoDS_Shape, vr: float,
               op: Operation) -> bool:
    """Cheap checks a correct result passes, on the volumes of body, tool and result: a fuse has no
    more solids than its operands and no more volume than both (overlapping solids left unfused
    break one of these), a cut or common no more volume than the body."""
    tol = 1e-6 * (vb + vt)
    if op in (Operation.NEW_BODY, Operation.JOIN):
        if vr > vb + vt + tol or vr < max(vb, vt) - tol:
            return False
        if count_solids(result) > 1 and count_solids(result) >= count_solids(body) + count_solids(tool):
            return _solids_disjoint(result, vr)
        return True
    return -tol <= vr <= vb + tol


def _solids_disjoint(shape: TopoDS_Shape, total: float) -> bool:
    """Whether the solids of a compound overlap nowhere: their fused volume is their summed volume."""
    from OCP.TopAbs import TopAbs_SOLID
    from OCP.TopExp import TopExp_Explorer

    exp, solids = TopExp_Explorer(shape, TopAbs_SOLID), []
    while exp.More():
        solids.append(exp.Current())
        exp.Next()
    fused = solids[0]
    for s in solids[1:]:
        fused = _run_boolean(fused, s, Operation.JOIN, 0.0)
        if fused is None:
            return False
    return abs(volume(fused) - total) <= 1e-6 * max(total, 1e-12)


def _size(a: TopoDS_Shape, b: TopoDS_Shape) -> float:
    lo_a, hi_a = bbox(a)
    lo_b, hi_b = bbox(b)
    return float(np.linalg.norm(np.maximum(hi_a, hi_b) - np.minimum(lo_a, lo_b))) or 1.0


def _extrude_body(ex: Extrude, where: str, name: str) -> TopoDS_Shape:
    near, far = ex.span()
    if far - near <= 1e-12:
        raise BuildError(f"{where} has zero depth", source=name)
    face = make_face(ex.plane, ex.profile.loops, where, name)
    n = np.asarray(ex.plane.z_axis)
    if abs(near) > 0:
        t = gp_Trsf()
        t.SetTranslation(gp_Vec(*(n * near)))
        face = BRepBuilderAPI_Transform(face, t, True).Shape()
    prism = BRepPrimAPI_MakePrism(face, gp_Vec(*(n * (far - near))))
    if not prism.IsDone():
        raise BuildError(f"{where}: the prism failed", source=name)
    return prism.Shape()


def make_face(plane: SketchPlane, loops: tuple[Loop, ...], where: str = "", name: str = "") -> TopoDS_Shape:
    """A planar face bounded by `loops[0]` with holes `loops[1:]` (all counter-clockwise)."""
    ax3 = gp_Ax3(gp_Pnt(*plane.origin), gp_Dir(*plane.z_axis), gp_Dir(*plane.x_axis))
    outer = _wire(plane, loops[0], where, name)
    builder = BRepBuilderAPI_MakeFace(gp_Pln(ax3), outer, True)
    for hole in loops[1:]:
        builder.Add(TopoDS.Wire(_wire(plane, hole, where, name).Reversed()))
    if not builder.IsDone():
        raise BuildError(f"{where}: could not make a face from its loops", source=name)
    return builder.Face()


def _wire(plane: SketchPlane, loop: Loop, where: str, name: str):
    mk = BRepBuilderAPI_MakeWire()
    for c in loop.curves:
        mk.Add(_edge(plane, c, where, name))
    if not mk.IsDone():
        raise BuildError(f"{where}: a loop does not close into a wire", source=name)
    return mk.Wire()


def _pnt(plane: SketchPlane, uv) -> gp_Pnt:
    p = plane.to_world(np.asarray(uv, dtype=float))[0]
    return gp_Pnt(float(p[0]), float(p[1]), float(p[2]))


def _edge(plane: SketchPlane, c, where: str, name: str):
    try:
        if isinstance(c, Line):
            mk = BRepBuilderAPI_MakeEdge(_pnt(plane, c.start), _pnt(plane, c.end))
        elif isinstance(c, Arc):
            arc = GC_MakeArcOfCircle(_pnt(plane, c.start), _pnt(plane, c.mid()), _pnt(plane, c.end))
            if not arc.IsDone():
                raise ValueError("three points are collinear")
            mk = BRepBuilderAPI_MakeEdge(arc.Value())
        elif isinstance(c, Circle):
            if c.radius <= 0 or not math.isfinite(c.radius):
                raise ValueError(f"radius {c.radius}")
            ax = gp_Ax2(_pnt(plane, c.center), gp_Dir(*plane.z_axis), gp_Dir(*plane.x_axis))
            mk = BRepBuilderAPI_MakeEdge(gp_Circ(ax, c.radius))
        else:
            raise TypeError(type(c).__name__)
        if not mk.IsDone():
            raise ValueError("degenerate edge")
        return mk.Edge()
    except ValueError as exc:
        raise BuildError(f"{where}: bad {type(c).__name__.lower()} ({exc})", source=name) from None
