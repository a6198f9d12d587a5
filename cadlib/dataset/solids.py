"""The quantised solid of a sequence model, kept from extract for render.

Extract builds every JSON model's quantised solid to check it against the source
(`cadlib.fidelity`); render draws that same solid. Building it again costs ~35 ms a model, reading
it back ~0.5 ms, so extract keeps it: OCCT's binary B-rep, with the facts render reports (validity,
volume, bodies) and the points that frame its views, under the hash of the sequence text it was
built from. A file whose text changed since is stale and is not read: render builds the solid
itself, as it does where no file was kept. Render removes the file once it has drawn the model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cadlib.atomic import write_bytes_atomic

FORMAT = "cadrecon-kept-solid/1"


@dataclass(frozen=True, slots=True)
class KeptSolid:
    """A solid read back, with what extract knew of it."""

    shape: Any  # OCP TopoDS_Shape, in the text's (normalised) units
    valid: bool
    volume: float
    solids: int
    frame_points: np.ndarray  # (N, 3): `cadlib.views.frame_points` of its fine tessellation


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def keep(path: str | Path, text: str, shape: Any, *, valid: bool, mesh_vertices: np.ndarray) -> Path:
    """Writes `shape` (built from `text`) and its facts to `path`, atomically."""
    from cadlib import occ
    from cadlib.views import frame_points

    head = {"format": FORMAT, "text_sha256": text_key(text), "valid": bool(valid), "volume": occ.volume(shape),
            "solids": occ.count_solids(shape), "frame_points": frame_points(mesh_vertices).tolist()}
    return write_bytes_atomic(path, json.dumps(head).encode() + b"\n" + occ.to_bytes(shape))


def take(path: str | Path, text: str) -> KeptSolid | None:
    """The solid kept at `path` for exactly this `text`; None where there is none, it was built from
    another text, or the file does not read (render then builds the solid itself)."""
    from cadlib import occ
    from cadlib.errors import BuildError

    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    head_bytes, sep, brep = data.partition(b"\n")
    try:
        head = json.loads(head_bytes)
        if not sep or head.get("format") != FORMAT or head.get("text_sha256") != text_key(text):
            return None
        shape = occ.from_bytes(brep)
        return KeptSolid(shape, bool(head["valid"]), float(head["volume"]), int(head["solids"]),
                         np.asarray(head["frame_points"], dtype=float).reshape(-1, 3))
    except (ValueError, KeyError, TypeError, AttributeError, BuildError):
        return None
