"""Exact volumes of the intersection and union of two solids (for volumetric IoU)."""

from __future__ import annotations

import numpy as np
from OCP.BRepAlgoAPI import BRepAlgoAPI_BooleanOperation, BRepAlgoAPI_Common, BRepAlgoAPI_Fuse
from OCP.collections import List_TopoDS_Shape
from OCP.TopoDS import TopoDS_Shape

from cadlib.errors import BuildError
from cadlib.occ.shape import bbox, volume

FUZZY = (0.0, 1e-6, 1e-5, 1e-4, 1e-3)
"""Fuzzy tolerances tried in turn, relative to the shapes' size. Two solids whose faces lie a
fraction of a grid step apart (a quantised solid and its source) can make OCCT's common return an
empty shape although they overlap almost everywhere; a fuzzy value that merges those faces mends
it. A result is taken only when it is consistent (see `_consistent`)."""


def common_and_union_volume(a: TopoDS_Shape, b: TopoDS_Shape) -> tuple[float, float]:
    """(volume of a AND b, volume of a OR b); BuildError when OCCT's booleans fail."""
    lo_a, hi_a = bbox(a)
    lo_b, hi_b = bbox(b)
    size = float(np.linalg.norm(np.maximum(hi_a, hi_b) - np.minimum(lo_a, lo_b))) or 1.0
    overlap = bool(np.all(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b) > 1e-3 * size))
    va, vb = volume(a), volume(b)
    for fuzzy in FUZZY:
        c = volume(_run(BRepAlgoAPI_Common(), a, b, fuzzy * size))
        u = volume(_run(BRepAlgoAPI_Fuse(), a, b, fuzzy * size))
        if _consistent(c, u, va, vb, overlap):
            return c, u
    raise BuildError("the boolean operations of the IoU give inconsistent volumes at every fuzzy tolerance")


def _consistent(c: float, u: float, va: float, vb: float, overlap: bool) -> bool:
    """Inclusion-exclusion holds (|A & B| + |A | B| = |A| + |B|), the common fits in both, and an
    empty common is believed only for boxes that do not overlap."""
    tol = 1e-3 * (va + vb)
    if not (-tol <= c <= min(va, vb) + tol and u >= max(va, vb) - tol and abs(c + u - va - vb) <= tol):
        return False
    return c > tol or not overlap


def _run(algo: BRepAlgoAPI_BooleanOperation, a: TopoDS_Shape, b: TopoDS_Shape, fuzzy: float) -> TopoDS_Shape:
    args, tools = List_TopoDS_Shape(), List_TopoDS_Shape()
    args.Append(a)
    tools.Append(b)
    algo.SetArguments(args)
    algo.SetTools(tools)
    algo.SetFuzzyValue(fuzzy)
    algo.Build()
    if not algo.IsDone():
        raise BuildError("the boolean operations of the IoU failed")
    return algo.Shape()
