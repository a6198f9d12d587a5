"""Prediction and truth files of every kind a method writes, read into `Geometry`.

A prediction is CadQuery code (`.py`: its result in `result`, `r` or `show_object`, run by the real
CadQuery with a time limit), a STEP file, a mesh (`.stl`, `.obj`, `.ply`, `.off`, `.glb`, `.gltf`),
cadrecon sequence text (`.txt`) or DeepCAD JSON (`.json`). Several samples of one model are named
`<id>+<k>.<ext>` (cadrille's naming) and scored best-of-N. A prediction is valid when it executes
and gives a solid with volume (meshes: a surface of at least 3 triangles); otherwise
`InvalidPrediction` says why, in one line.

Everything is taken in the file's own coordinates and units: the protocols decide what is
normalised (`cadlib.scoring.protocols`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cadlib.errors import CadlibError
from cadlib.ingest.detect import MESH_FORMATS
from cadlib.scoring.geometry import Geometry

SUFFIXES = (".py", ".txt", ".step", ".stp", ".json", *(f".{f}" for f in MESH_FORMATS))


class InvalidPrediction(CadlibError):
    """A prediction that does not execute or build a solid; `kind` is the short cause."""

    def __init__(self, kind: str, message: str, *, source: str | None = None) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}", source=source)


def split_name(path: Path) -> tuple[str, str]:
    """(model id, sample) of a prediction file: `00001234+3.py` -> ("00001234", "3"); a name
    without `+` is sample "0"."""
    stem = path.stem
    if "+" in stem:
        mid, _, k = stem.rpartition("+")
        return mid, k
    return stem, "0"


def load_geometry(path: str | Path, *, timeout_s: float = 3.0, bits: int = 8) -> Geometry:
    """The geometry of one file, whatever wrote it.

    Raises:
        InvalidPrediction: the file does not give a solid (the kind and the cause, one line).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidPrediction("Unsupported", f"not a prediction file (expected one of {', '.join(SUFFIXES)})",
                                source=str(path))
    try:
        if suffix == ".py":
            return _cadquery(path, timeout_s)
        if suffix == ".txt":
            from cadlib.evaluation import build_text

            return build_text(path.read_text(encoding="utf-8", errors="replace"), bits)[1]
        return _loaded(path)
    except InvalidPrediction:
        raise
    except CadlibError as exc:
        raise InvalidPrediction(type(exc).__name__, exc.cause, source=str(path)) from exc
    except (OSError, ValueError, MemoryError, RecursionError) as exc:
        raise InvalidPrediction(type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", source=str(path)) from exc


def _cadquery(path: Path, timeout_s: float) -> Geometry:
    from cadlib import occ
    from cadlib.cadquery_exec import run_cadquery

    with tempfile.TemporaryDirectory(prefix="cadrecon-score-") as tmp:
        step = Path(tmp) / "result.step"
        run = run_cadquery(path.read_text(encoding="utf-8", errors="replace"), step, timeout_s=timeout_s)
        if not run.ok:
            kind, _, message = run.error.partition(": ")
            raise InvalidPrediction(kind or "Error", message or run.error, source=str(path))
        shape = occ.read_step(step)
    return _solid(shape, path)


def _loaded(path: Path) -> Geometry:
    from cadlib.ingest import load_model

    model = load_model(path)
    if model.shape is not None:
        return _solid(model.shape, path)
    if len(model.mesh.faces) < 3 or model.mesh.area() <= 0:
        raise InvalidPrediction("Empty", "the mesh has no surface", source=str(path))
    return Geometry(model.mesh)


def _solid(shape, path: Path) -> Geometry:
    from cadlib import occ

    if occ.count_solids(shape) == 0:
        raise InvalidPrediction("NoSolid", "the result holds no solid (a face, shell or wire only)", source=str(path))
    if occ.volume(shape) <= 0:
        raise InvalidPrediction("Empty", "the solid has no volume", source=str(path))
    g = Geometry.from_shape(shape)
    if len(g.mesh.faces) < 3:
        raise InvalidPrediction("Empty", "the solid tessellates to nothing", source=str(path))
    return g
