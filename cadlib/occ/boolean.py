"""Exact volumes of the intersection and union of two solids (for volumetric IoU)."""

from __future__ import annotations

from OCP.BRepAlgoAPI import BRepAlgoAPI_Common, BRepAlgoAPI_Fuse
from OCP.TopoDS import TopoDS_Shape

from cadlib.errors import BuildError
from cadlib.occ.shape import volume


def common_and_union_volume(a: TopoDS_Shape, b: TopoDS_Shape) -> tuple[float, float]:
    """(volume of a AND b, volume of a OR b); BuildError when OCCT's booleans fail."""
    common = BRepAlgoAPI_Common(a, b)
    fuse = BRepAlgoAPI_Fuse(a, b)
    if not common.IsDone() or not fuse.IsDone():
        raise BuildError("the boolean operations of the IoU failed")
    return volume(common.Shape()), volume(fuse.Shape())
