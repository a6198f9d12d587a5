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
from OCP.GC import GC_MakeArcOfCircle
from OCP.gp import gp_Ax2, gp_Ax3, gp_Circ, gp_Dir, gp_Pln, gp_Pnt, gp_Trsf, gp_Vec
from OCP.ShapeFix import ShapeFix_Shape
from OCP.ShapeUpgrade import ShapeUpgrade_UnifySameDomain
from OCP.TopoDS import TopoDS, TopoDS_Shape

from cadlib.errors import BuildError
from cadlib.sequence import Arc, CadSequence, Circle, Extrude, Line, Loop, Operation, SketchPlane


def build_solid(seq: CadSequence, *, unify: bool = True) -> TopoDS_Shape:
    """Builds the solid a sequence describes.

    Each extrude's profile becomes a planar face (outer loop minus holes), is swept into a prism
    over the extrude's span, and is fused (new body, join), cut or intersected with the body so far.

    Args:
        seq: the sequence.
        unify: merge coplanar faces and collinear edges afterwards (cleaner edges for drawings).

    Raises:
        BuildError: a profile or boolean fails, or the result has no volume.
    """
    body: TopoDS_Shape | None = None
    for i, ex in enumerate(seq.extrudes):
        where = f"extrude {i + 1}/{len(seq.extrudes)}"
        tool = _extrude_body(ex, where, seq.name)
        if body is None:
            if ex.operation in (Operation.CUT, Operation.INTERSECT):
                raise BuildError(f"{where} is a {ex.operation.value} with nothing to act on", source=seq.name)
            body = tool
            continue
        body = _boolean(body, tool, ex.operation, where, seq.name)
    if body is None:
        raise BuildError("empty sequence", source=seq.name)
    if unify:
        up = ShapeUpgrade_UnifySameDomain(body, True, True, False)
        up.Build()
        body = up.Shape()
    if not BRepCheck_Analyzer(body).IsValid():
        # Booleans between tangent or coincident faces can leave tolerances BRepCheck rejects
        # although every face, wire and edge is valid on its own; ShapeFix repairs those.
        fix = ShapeFix_Shape(body)
        fix.Perform()
        body = fix.Shape()
    return body


def _boolean(body: TopoDS_Shape, tool: TopoDS_Shape, op: Operation, where: str, name: str) -> TopoDS_Shape:
    algo_cls = {
        Operation.NEW_BODY: BRepAlgoAPI_Fuse,
        Operation.JOIN: BRepAlgoAPI_Fuse,
        Operation.CUT: BRepAlgoAPI_Cut,
        Operation.INTERSECT: BRepAlgoAPI_Common,
    }[op]
    algo = algo_cls(body, tool)
    if not algo.IsDone():
        raise BuildError(f"{where}: the {op.value} boolean failed", source=name)
    return algo.Shape()


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
