"""Questions about an OCP shape: validity, volume, bounding box, and its triangle mesh."""

from __future__ import annotations

import numpy as np
from OCP.Bnd import Bnd_Box
from OCP.BRep import BRep_Tool
from OCP.BRepBndLib import BRepBndLib
from OCP.BRepCheck import BRepCheck_Analyzer
from OCP.BRepGProp import BRepGProp
from OCP.BRepMesh import BRepMesh_IncrementalMesh
from OCP.GProp import GProp_GProps
from OCP.TopAbs import TopAbs_FACE, TopAbs_REVERSED, TopAbs_SOLID
from OCP.TopExp import TopExp_Explorer
from OCP.TopLoc import TopLoc_Location
from OCP.TopoDS import TopoDS, TopoDS_Shape

from cadlib.errors import BuildError
from cadlib.mesh import Mesh


def is_valid(shape: TopoDS_Shape) -> bool:
    """BRepCheck's verdict on the whole shape."""
    return bool(BRepCheck_Analyzer(shape).IsValid())


def to_bytes(shape: TopoDS_Shape) -> bytes:
    """The shape in OCCT's binary B-rep format (exact geometry, no triangulation): reading it back
    takes ~0.5 ms where building a synthetic part takes ~35."""
    import io

    from OCP.BinTools import BinTools, BinTools_FormatVersion

    buf = io.BytesIO()
    BinTools.Write_s(shape, buf, False, False, BinTools_FormatVersion.BinTools_FormatVersion_CURRENT)
    return buf.getvalue()


def from_bytes(data: bytes) -> TopoDS_Shape:
    """A shape from `to_bytes`.

    Raises:
        BuildError: the bytes are not a binary B-rep (truncated or another format).
    """
    import io

    from OCP.BinTools import BinTools

    if b"Open CASCADE Topology" not in data[:64]:
        raise BuildError("not a binary B-rep (no OCCT topology header)")
    shape = TopoDS_Shape()
    try:
        BinTools.Read_s(shape, io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - OCCT raises Standard_Failure kinds
        raise BuildError(f"not a binary B-rep ({type(exc).__name__})") from None
    if shape.IsNull():
        raise BuildError("not a binary B-rep (empty shape)")
    return shape


def volume(shape: TopoDS_Shape) -> float:
    """Enclosed volume (0 for shells and faces)."""
    props = GProp_GProps()
    BRepGProp.VolumeProperties_s(shape, props)
    return float(props.Mass())


def bbox(shape: TopoDS_Shape) -> tuple[np.ndarray, np.ndarray]:
    """Tight axis-aligned bounding box (min corner, max corner)."""
    box = Bnd_Box()
    BRepBndLib.AddOptimal_s(shape, box, False, False)
    if box.IsVoid():  # AddOptimal skips some geometry (bare vertices, odd surfaces): the plain box
        box = Bnd_Box()
        BRepBndLib.Add_s(shape, box, False)
    if box.IsVoid():
        return np.zeros(3), np.zeros(3)
    lo, hi = box.CornerMin(), box.CornerMax()
    return np.array([lo.X(), lo.Y(), lo.Z()]), np.array([hi.X(), hi.Y(), hi.Z()])


def count_solids(shape: TopoDS_Shape) -> int:
    """Number of solids in the shape."""
    exp = TopExp_Explorer(shape, TopAbs_SOLID)
    n = 0
    while exp.More():
        n += 1
        exp.Next()
    return n


def tessellate(shape: TopoDS_Shape, *, rel_deflection: float = 1e-3, angle: float = 0.3) -> Mesh:
    """Triangulates every face; the deflection is relative to the shape's largest dimension.

    Face orientation is honoured, so the triangles of a closed solid face outwards.
    """
    lo, hi = bbox(shape)
    size = float(np.max(hi - lo)) if np.all(np.isfinite(hi - lo)) else 0.0
    deflection = size * rel_deflection if size > 1e-6 else 1e-3
    try:
        BRepMesh_IncrementalMesh(shape, deflection, False, angle, True)
    except Exception as exc:  # OCCT's Standard_Failure family
        raise BuildError(f"the shape could not be meshed ({type(exc).__name__}: {exc})") from None
    verts, faces, offset = [], [], 0
    exp = TopExp_Explorer(shape, TopAbs_FACE)
    while exp.More():
        face = TopoDS.Face(exp.Current())
        loc = TopLoc_Location()
        tri = BRep_Tool.Triangulation_s(face, loc)
        exp.Next()
        if tri is None:
            continue
        n, m = tri.NbNodes(), tri.NbTriangles()
        # one call per node and triangle (Coord, Get): the loops are most of a small part's time
        if loc.IsIdentity():
            pts = np.array([tri.Node(i).Coord() for i in range(1, n + 1)], dtype=float).reshape(n, 3)
        else:
            trsf = loc.Transformation()
            pts = np.array([tri.Node(i).Transformed(trsf).Coord() for i in range(1, n + 1)], dtype=float).reshape(n, 3)
        idx = np.array([tri.Triangle(i).Get() for i in range(1, m + 1)], dtype=np.int64).reshape(m, 3) - 1
        if face.Orientation() == TopAbs_REVERSED:
            idx = idx[:, ::-1]
        verts.append(pts)
        faces.append(idx + offset)
        offset += n
    if not verts:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    return Mesh(np.concatenate(verts), np.concatenate(faces))


def scaled(shape: TopoDS_Shape, scale: float, offset) -> TopoDS_Shape:
    """A copy of `shape` scaled about the origin by `scale`, then moved by `offset`."""
    from OCP.BRepBuilderAPI import BRepBuilderAPI_Transform
    from OCP.gp import gp_Pnt, gp_Trsf, gp_Vec

    s, t = gp_Trsf(), gp_Trsf()
    s.SetScale(gp_Pnt(0, 0, 0), float(scale))
    t.SetTranslation(gp_Vec(*(float(x) for x in offset)))
    return BRepBuilderAPI_Transform(shape, t.Multiplied(s), True).Shape()


def transformed(shape: TopoDS_Shape, matrix) -> TopoDS_Shape:
    """A copy of `shape` under a 4x4 similarity `matrix` (a rotation times a uniform scale, then a
    translation), as OCCT's gp_Trsf takes it."""
    from OCP.BRepBuilderAPI import BRepBuilderAPI_Transform
    from OCP.gp import gp_Trsf

    m = np.asarray(matrix, dtype=float)
    t = gp_Trsf()
    t.SetValues(*(float(x) for x in m[:3, :4].ravel()))
    return BRepBuilderAPI_Transform(shape, t, True).Shape()
