"""Scoring one generated construction sequence against a ground truth under the protocols of
`cadlib.scoring`: does it parse, does it build a valid solid, its CD and IoU per protocol, and
DeepCAD's ACC_cmd / ACC_param where the truth is a sequence too.

A truth is kept in its own frame (a dataset model's sequence frame, or a file's own coordinates
and units); a generated sequence lives in the normalised frame the model was trained in, and
`frame` (file -> normalised) maps it back before it is scored, so pose and scale count as the
protocols say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadlib.errors import CadlibError
from cadlib.metrics import command_accuracy
from cadlib.scoring.geometry import Geometry, similarity
from cadlib.scoring.protocols import PROTOCOLS, get_protocol, score_pair
from cadlib.scoring.reports import TextScore

MIN_VOLUME = 1e-9
"""In the normalised frame (a 1.5-wide box); a smaller solid counts as invalid, as DeepCAD's
invalid ratio counts sequences that build nothing."""

@dataclass(frozen=True, slots=True, eq=False)
class Truth:
    """A ground truth in its own frame, and its codes where it is a sequence."""

    geometry: Geometry
    codes: tuple | None = None


def build_text(text: str, bits: int = 8) -> tuple[tuple, Geometry]:
    """(codes, geometry) of a sequence text, built in its normalised frame.

    Raises:
        CadlibError: a TextSyntaxError/ParseError when it does not parse, a BuildError (or the
            validity checks' CadlibError) when it parses but builds no valid solid.
    """
    from cadlib import occ
    from cadlib.quantize import decode
    from cadlib.text import parse_text
    from cadlib.transform import in_mm

    grid, codes = parse_text(text, bits)
    seq = decode(codes, grid.bits, version=grid.version)
    try:
        shape = occ.build_solid(in_mm(seq))
    except ValueError as exc:
        raise CadlibError(f"the sequence does not build: {exc}") from exc
    if not occ.is_valid(shape):
        raise CadlibError("the solid is not valid (BRepCheck)")
    if occ.volume(shape) <= MIN_VOLUME:
        raise CadlibError("the solid has no volume (its sketches collapse)")
    return codes, Geometry.from_shape(shape)


def truth_from_text(text: str, bits: int = 8) -> Truth:
    """The truth of a dataset model: its sequence text, built."""
    codes, geometry = build_text(text, bits)
    return Truth(geometry, codes)


def truth_from_model(model) -> tuple[Truth, np.ndarray]:
    """The truth of any loaded file (`cadlib.ingest.LoadedModel`) in the file's own frame and
    units, and the 4x4 `frame` that takes the file into the normalised frame a model sees (Y-up
    formats turned Z-up, centred, largest half-size 0.75, as `cadlib.ingest.frame`)."""
    from cadlib.ingest.frame import Y_UP_TO_Z_UP
    from cadlib.transform import NORM_FACTOR

    rot = Y_UP_TO_Z_UP if (model.shape is None and model.info.up_axis == "y") else np.eye(3)
    v = model.mesh.vertices @ rot.T
    lo, hi = v.min(axis=0), v.max(axis=0)
    size = float(np.max(hi - lo)) or 1.0
    scale = 2.0 * NORM_FACTOR / size
    frame = similarity(scale, -(lo + hi) / 2.0 * scale, rot)
    return Truth(Geometry(model.mesh, model.shape)), frame


def score_text(text: str, truth: Truth, *, bits: int = 8, protocols=tuple(PROTOCOLS), seed: int = 0,
               frame: np.ndarray | None = None) -> TextScore:
    """The scores of one generated text: ``{"parsed", "valid", "error", "cd": {protocol: value},
    "iou": {protocol: value}, "iou_method": {...}, "acc_cmd", "acc_param"}`` (metrics None where
    they do not apply or the text failed), and the built `geometry` (in the truth's frame) when valid."""
    from cadlib.text import parse_text

    out: TextScore = {"parsed": False, "valid": False, "error": "", "cd": dict.fromkeys(protocols),
                 "iou": dict.fromkeys(protocols), "iou_method": dict.fromkeys(protocols),
                 "acc_cmd": None, "acc_param": None}
    try:
        _, codes = parse_text(text, bits)
    except CadlibError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        if truth.codes is not None:
            out["acc_cmd"], out["acc_param"] = 0.0, 0.0
        return out
    out["parsed"] = True
    if truth.codes is not None:
        out["acc_cmd"], out["acc_param"] = command_accuracy(codes, truth.codes)
    try:
        _, pred = build_text(text, bits)
    except CadlibError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    if frame is not None:
        pred = pred.transformed(np.linalg.inv(frame))
    # It builds: from here on a failure is the scorer's, never the prediction's.
    out["valid"] = True
    out["geometry"] = pred
    rng = np.random.default_rng(seed)
    for name in protocols:
        s = score_pair(get_protocol(name), truth.geometry, pred, rng)
        out["cd"][name], out["iou"][name], out["iou_method"][name] = s["cd"], s["iou"], s["iou_method"]
    return out
