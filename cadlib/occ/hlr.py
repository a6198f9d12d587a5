"""Hidden-line removal of a B-rep for one view direction.

Two algorithms: exact (OCCT's HLRBRep_Algo, on the true curves and surfaces) and polygonal
(HLRBRep_PolyAlgo, on the shape's triangulation: a sub-pixel approximation when the shape is
meshed finely, orders of magnitude faster on complex parts such as threads, and it raises where
the exact one can crash). Both return polylines in view-plane coordinates (right, up), split into
visible and hidden lines. Sharp edges and outlines (silhouettes of curved faces) are kept; smooth
(tangent) edges and seam lines are dropped, as engineering drawings do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from OCP.BRepAdaptor import BRepAdaptor_Curve
from OCP.GCPnts import GCPnts_TangentialDeflection
from OCP.GeomAbs import GeomAbs_Line
from OCP.gp import gp_Ax2, gp_Dir, gp_Pnt
from OCP.HLRAlgo import HLRAlgo_Projector
from OCP.HLRBRep import HLRBRep_Algo, HLRBRep_HLRToShape, HLRBRep_PolyAlgo, HLRBRep_PolyHLRToShape
from OCP.TopAbs import TopAbs_EDGE
from OCP.TopExp import TopExp_Explorer
from OCP.TopoDS import TopoDS, TopoDS_Shape

from cadlib.errors import BuildError


@dataclass(frozen=True, slots=True)
class HiddenLines:
    """Polylines ((N, 2) arrays in view-plane coordinates) of one view."""

    visible: list[np.ndarray]
    hidden: list[np.ndarray]


def hidden_lines(
    shape: TopoDS_Shape,
    look,
    right,
    *,
    origin=(0.0, 0.0, 0.0),
    deflection: float = 1e-3,
    with_hidden: bool = True,
    exact: bool = True,
) -> HiddenLines:
    """Projects `shape` along `look` and removes hidden lines.

    Args:
        shape: the B-rep.
        look: direction the viewer looks along; `right` is the image's x direction (orthogonal).
        origin: the point that maps to (0, 0) in the view plane.
        deflection: chordal tolerance of the polylines, in model units.
        with_hidden: also compute hidden lines (they cost extra extraction time only).
        exact: exact algorithm; False uses the polygonal one on the shape's existing
            triangulation (mesh the shape first, e.g. with `tessellate`).

    Raises:
        BuildError: the polygonal algorithm failed on this shape.
    """
    look = np.asarray(look, dtype=float)
    right = np.asarray(right, dtype=float)
    # The projector sits at the world origin (the polygonal algorithm ignores a projector's
    # location); `origin` is subtracted from the 2D results instead.
    ax = gp_Ax2(gp_Pnt(0.0, 0.0, 0.0), gp_Dir(*(-look)), gp_Dir(*right))
    offset = np.array([np.dot(origin, right), np.dot(origin, np.cross(right, look))])
    if exact:
        algo = HLRBRep_Algo()
        algo.Add(shape)
        algo.Projector(HLRAlgo_Projector(ax))
        algo.Update()
        algo.Hide()
        out = HLRBRep_HLRToShape(algo)
    else:
        try:
            poly = HLRBRep_PolyAlgo(shape)
            poly.Projector(HLRAlgo_Projector(ax))
            poly.Update()
            out = HLRBRep_PolyHLRToShape()
            out.Update(poly)
        except Exception as exc:  # OCCT's Standard_Failure family
            raise BuildError(f"polygonal hidden-line removal failed ({type(exc).__name__}: {exc})") from None
    visible = _polylines(out.VCompound(), deflection) + _polylines(out.OutLineVCompound(), deflection)
    hidden = []
    if with_hidden:
        hidden = _polylines(out.HCompound(), deflection) + _polylines(out.OutLineHCompound(), deflection)
    return HiddenLines([p - offset for p in visible], [p - offset for p in hidden])


def _polylines(compound: TopoDS_Shape, deflection: float) -> list[np.ndarray]:
    if compound is None or compound.IsNull():
        return []
    lines = []
    exp = TopExp_Explorer(compound, TopAbs_EDGE)
    while exp.More():
        edge = TopoDS.Edge(exp.Current())
        exp.Next()
        curve = BRepAdaptor_Curve(edge)
        if curve.GetType() == GeomAbs_Line:
            a, b = curve.Value(curve.FirstParameter()), curve.Value(curve.LastParameter())
            pts = np.array([a.Coord()[:2], b.Coord()[:2]], dtype=float)
        else:
            disc = GCPnts_TangentialDeflection(curve, 0.1, deflection)
            n = disc.NbPoints()
            if n < 2:
                continue
            pts = np.array([disc.Value(i).Coord() for i in range(1, n + 1)], dtype=float)[:, :2]
        lines.append(pts)
    return lines

