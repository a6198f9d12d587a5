"""Scoring a generated construction sequence against a ground truth, under the named protocols
(`cadlib.protocols`): does it parse and build a valid solid, its Chamfer distance per protocol,
IoU (exact where both sides are solids, on a 64^3 voxel grid where the truth is a watertight
mesh, none otherwise), and DeepCAD's ACC_cmd / ACC_param where the truth is a
sequence too. Both sides live in the normalised frame of the sequence text (centred, largest
half-size 0.75)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cadlib.errors import CadlibError
from cadlib.mesh import Mesh
from cadlib.metrics import command_accuracy, mesh_iou, to_unit_cube, unit_cube_iou, volumetric_iou
from cadlib.protocols import PROTOCOLS, shape_chamfer

MIN_VOLUME = 1e-9
"""In the normalised frame (a 1.5-wide box); a smaller solid counts as invalid, as DeepCAD's
invalid ratio counts sequences that build nothing."""


@dataclass(frozen=True, slots=True, eq=False)
class Truth:
    """A ground truth in the normalised frame: its mesh, and its solid and codes where known."""

    mesh: Mesh
    shape: Any = None
    codes: tuple | None = None


def truth_from_text(text: str, bits: int = 8) -> Truth:
    """The truth of a dataset model: its sequence text, built."""
    from cadlib import occ
    from cadlib.quantize import decode
    from cadlib.text import parse_text
    from cadlib.transform import in_mm

    grid, codes = parse_text(text, bits)
    shape = occ.build_solid(in_mm(decode(codes, grid.bits, version=grid.version)))
    return Truth(occ.tessellate(shape), shape, codes)


def truth_from_model(model) -> tuple[Truth, float, np.ndarray]:
    """The truth of any loaded file (`cadlib.ingest.LoadedModel`) in the normalised frame, with
    the scale and offset that took it there (to map a reconstruction back to the file's frame)."""
    from cadlib import occ
    from cadlib.ingest.frame import to_canonical_frame
    from cadlib.transform import NORM_FACTOR

    mesh = model.mesh
    lo, hi = mesh.bbox()
    size = float(np.max(hi - lo)) or 1.0
    scale = 2.0 * NORM_FACTOR / size
    offset = -(lo + hi) / 2.0 * scale
    shape = occ.scaled(model.shape, scale, offset) if model.shape is not None else None
    canon = to_canonical_frame(mesh, model.info.up_axis if model.shape is None else "z")
    return Truth(canon, shape, None), scale, offset


def score_text(text: str, truth: Truth, *, bits: int = 8, protocols=tuple(PROTOCOLS), seed: int = 0) -> dict:
    """The scores of one generated text: ``{"valid", "error", "cd": {protocol: value}, "iou",
    "acc_cmd", "acc_param"}`` (metrics None where they do not apply or the text failed)."""
    from cadlib import occ
    from cadlib.quantize import decode
    from cadlib.text import parse_text
    from cadlib.transform import in_mm

    out: dict = {"valid": False, "error": "", "cd": dict.fromkeys(protocols), "iou": None, "iou_method": None,
                 "iou_cadrille": None, "acc_cmd": None, "acc_param": None}
    try:
        grid, codes = parse_text(text, bits)
        seq = decode(codes, grid.bits, version=grid.version)
    except CadlibError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        if truth.codes is not None:
            out["acc_cmd"], out["acc_param"] = 0.0, 0.0
        return out
    if truth.codes is not None:
        out["acc_cmd"], out["acc_param"] = command_accuracy(codes, truth.codes)
    try:
        shape = occ.build_solid(in_mm(seq))
        if not occ.is_valid(shape):
            raise CadlibError("the solid is not valid (BRepCheck)")
        if occ.volume(shape) <= MIN_VOLUME:
            raise CadlibError("the solid has no volume (its sketches collapse)")
        mesh = occ.tessellate(shape)
    except (CadlibError, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    # It builds: from here on a failure is the scorer's, never the prediction's.
    out["valid"] = True
    out["shape"] = shape
    for name in protocols:
        out["cd"][name] = shape_chamfer(PROTOCOLS[name], truth.mesh, mesh, seed=seed)
    if truth.shape is not None:
        out["iou"], out["iou_method"] = _iou(truth.shape, shape, truth.mesh, mesh, unit_cube=False)
        out["iou_cadrille"], _ = _iou(truth.shape, shape, truth.mesh, mesh, unit_cube=True)
    elif truth.mesh.is_watertight() and mesh.is_watertight():
        out["iou"], out["iou_method"] = mesh_iou(truth.mesh, mesh), "voxels-64"
    return out


def _iou(a, b, mesh_a: Mesh, mesh_b: Mesh, *, unit_cube: bool) -> tuple[float, str]:
    """Exact IoU of two solids; where OCCT's booleans give no consistent answer (it happens for
    solids that touch along faces), the voxel IoU of their meshes, said so in the method."""
    try:
        return (unit_cube_iou(a, b) if unit_cube else volumetric_iou(a, b)), "exact"
    except CadlibError:
        if unit_cube:
            mesh_a, mesh_b = (Mesh(to_unit_cube(m.vertices)[0], m.faces) for m in (mesh_a, mesh_b))
        return mesh_iou(mesh_a, mesh_b), "voxels-64"
