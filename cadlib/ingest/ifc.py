"""IFC (IFC2X3, IFC4, IFC4X3) through IfcOpenShell's geometry iterator, in world coordinates.

Every product with a 3D representation is triangulated and merged into one millimetre mesh. The
iterator returns metres whatever the file's unit, so the scale to millimetres is always 1000; the
file's declared length unit is reported alongside. IFC is Z-up.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from cadlib.errors import ParseError, UnsupportedFormat
from cadlib.ingest.meshes import clean_mesh
from cadlib.ingest.model import LoadedModel, ModelInfo, mesh_facts
from cadlib.mesh import Mesh


def _ifcopenshell():
    try:
        import ifcopenshell
        import ifcopenshell.geom
        import ifcopenshell.util.unit
    except ImportError:  # pragma: no cover - a declared dependency
        raise UnsupportedFormat("IFC needs ifcopenshell: pip install ifcopenshell") from None
    return ifcopenshell


def load_ifc(path: str | Path) -> LoadedModel:
    """Loads the 3D geometry of every product of an IFC file.

    Raises:
        ParseError: the file does not open (syntax, unknown schema) or has no product geometry.
    """
    path = Path(path)
    ios = _ifcopenshell()
    try:
        model = ios.open(str(path))
    except Exception as exc:  # ifcopenshell raises its own error types and RuntimeError
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ParseError(f"IFC could not be opened ({type(exc).__name__}: {msg})", source=str(path)) from None
    settings = ios.geom.settings()
    settings.set("use-world-coords", True)
    try:
        with _native_stdout_silenced():
            notes: list[str] = []
            pieces = _iterate(ios, model, settings) or _product_by_product(ios, model, settings, notes)
    except Exception as exc:
        raise ParseError(f"IFC geometry failed ({type(exc).__name__}: {exc})", source=str(path)) from None
    verts, faces, offset = [], [], 0
    for v, f in pieces:
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    products = len(pieces)
    if not faces:
        n = len(model.by_type("IfcProduct"))
        raise ParseError(f"{model.schema} file has no product with 3D geometry that IfcOpenShell can triangulate ({n} IfcProduct)", source=str(path))
    v, f, repairs = clean_mesh(np.concatenate(verts) * 1000.0, np.concatenate(faces))
    repairs = notes + repairs
    mesh = Mesh(v, f)
    info = ModelInfo(
        file=str(path), format="ifc", kind="mesh", schema=model.schema, units=_length_unit(ios, model),
        scale_to_mm=1000.0, products=products, parts=products, up_axis="z", repairs=tuple(repairs),
        **mesh_facts(mesh),
    )
    return LoadedModel(mesh, info)


def _iterate(ios, model, settings) -> list[tuple[np.ndarray, np.ndarray]]:
    """All products through the (fast) geometry iterator; empty if it cannot start."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    it = ios.geom.iterator(settings, model, 1)
    if not it.initialize():
        return out
    while True:
        out += _piece(it.get())
        if not it.next():
            break
    return out


def _product_by_product(ios, model, settings, notes: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The iterator refuses a whole file when some products fail; here each product is tried on
    its own, and triangulated face sets IfcOpenShell rejects are read directly. Products that
    still fail are skipped and named in `notes`."""
    out = []
    for product in model.by_type("IfcProduct"):
        if not getattr(product, "Representation", None):
            continue
        try:
            out += _piece(ios.geom.create_shape(settings, product))
            continue
        except Exception:
            pass
        try:
            direct = _direct_face_sets(ios, model, product, notes)
        except Exception as exc:
            direct = []
            notes.append(f"skipped #{product.id()} {product.is_a()} ({type(exc).__name__})")
        else:
            if not direct:
                notes.append(f"skipped #{product.id()} {product.is_a()} (IfcOpenShell could not triangulate it)")
        out += direct
    return out


def _piece(shape) -> list[tuple[np.ndarray, np.ndarray]]:
    geom = shape.geometry
    v = np.asarray(geom.verts, dtype=float).reshape(-1, 3)
    f = np.asarray(geom.faces, dtype=np.int64).reshape(-1, 3)
    return [(v, f)] if len(f) else []


def _direct_face_sets(ios, model, product, notes: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """IfcTriangulatedFaceSet items of a product's Body, placed in world coordinates (metres)."""
    import ifcopenshell.util.placement

    verts, faces, offset = [], [], 0
    scale = ios.util.unit.calculate_unit_scale(model)
    matrix = np.asarray(ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement), dtype=float)
    for rep in product.Representation.Representations:
        if rep.RepresentationIdentifier not in (None, "Body", "Facetation"):
            continue
        for item in rep.Items:
            if not item.is_a("IfcTriangulatedFaceSet"):
                continue
            pts = np.asarray(item.Coordinates.CoordList, dtype=float)
            idx = np.asarray(item.CoordIndex, dtype=np.int64) - 1
            pn = item.PnIndex
            if pn and all(isinstance(k, int) for k in pn):  # CoordIndex indexes PnIndex, which indexes points
                idx = np.asarray(pn, dtype=np.int64)[idx] - 1
            elif pn:
                notes.append(f"#{item.id()} IfcTriangulatedFaceSet: malformed PnIndex ignored, CoordIndex used directly")
            verts.append((np.c_[pts, np.ones(len(pts))] @ matrix.T)[:, :3] * scale)
            faces.append(idx + offset)
            offset += len(pts)
    return [(np.concatenate(verts), np.concatenate(faces))] if faces else []


@contextlib.contextmanager
def _native_stdout_silenced():
    """IfcOpenShell's geometry kernel prints debugging dumps on the C-level stdout; keep them out
    of the CLI's output (its own errors are raised, not printed)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (embedded): nothing to protect
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _length_unit(ios, model) -> str | None:
    try:
        unit = ios.util.unit.get_project_unit(model, "LENGTHUNIT")
    except Exception:
        return None
    if unit is None:
        return None
    name = getattr(unit, "Name", None)
    prefix = getattr(unit, "Prefix", None) if unit.is_a("IfcSIUnit") else None
    return f"{prefix or ''}{name}".lower() if name else None
