"""The loader registry: one `{format: loader}` table, and `load_model` in front of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cadlib.errors import CadlibError, ParseError, readable
from cadlib.ingest.detect import MESH_FORMATS, detect_format
from cadlib.ingest.model import LoadedModel, ModelSummary
from cadlib.limits import check_coordinates, check_size

DEFAULT_MAX_MB = 200.0


def _step(path: Path) -> LoadedModel:
    from cadlib.ingest.brep import load_step  # OCP is heavy: imported on first use

    return load_step(path)


def _sequence(path: Path) -> LoadedModel:
    from cadlib.ingest.brep import load_sequence_model

    return load_sequence_model(path)


def _ifc(path: Path) -> LoadedModel:
    from cadlib.ingest.ifc import load_ifc

    return load_ifc(path)


def _mesh(fmt: str) -> Callable[[Path], LoadedModel]:
    def load(path: Path) -> LoadedModel:
        from cadlib.ingest.meshes import load_mesh_file

        return load_mesh_file(path, fmt)

    load.__name__ = f"load_{fmt}"
    return load


LOADERS: dict[str, Callable[[Path], LoadedModel]] = {
    "step": _step,
    "ifc": _ifc,
    "reconstruction-json": _sequence,
    "sequence-text": _sequence,
    **{fmt: _mesh(fmt) for fmt in MESH_FORMATS},
}
"""Every supported format and its loader; all return a `LoadedModel` in millimetres."""


def load_model(path: str | Path, *, max_mb: float | None = DEFAULT_MAX_MB) -> LoadedModel:
    """Loads any supported CAD or mesh file, detecting its format by content.

    Raises:
        CadlibError: (ParseError, UnsupportedFormat, BuildError) naming the file and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise ParseError("no such file" if not path.exists() else "not a regular file", source=str(path))
    size_mb = path.stat().st_size / 1e6
    if max_mb is not None and size_mb > max_mb:
        raise ParseError(f"file is {size_mb:.1f} MB, over the {max_mb:g} MB limit (dataset.max_file_mb)", source=str(path))
    fmt = detect_format(path)
    if fmt in ("step", "ifc"):
        _check_step_ending(path, fmt)
    try:
        model = LOADERS[fmt](path)
    except RecursionError:
        raise ParseError("nested too deeply to read (a malformed or hostile file)", source=str(path)) from None
    except CadlibError as exc:
        if exc.source != str(path):  # said of the model ("part: extrude 1/1 ..."): say it of the file
            exc.args = (f"{readable(str(path))}: {exc.cause if exc.source else exc}",)
            exc.source = str(path)
        raise
    _check_extent(model, path)
    return model


def _check_extent(model: LoadedModel, path: Path) -> None:
    v = model.mesh.vertices
    if len(v):
        check_size(v.min(axis=0), v.max(axis=0), path)
    else:
        check_coordinates(v, path)


def _check_step_ending(path: Path, fmt: str) -> None:
    """A STEP or IFC file (ISO 10303-21) ends with END-ISO-10303-21; one that does not was cut off
    (a partial model would load silently otherwise)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        tail = fh.read()
    if b"END-ISO-10303-21" not in tail.upper():
        raise ParseError(f"{fmt.upper()} file is truncated: it does not end with END-ISO-10303-21;", source=str(path))


def summarize_model(path: str | Path, max_mb: float | None = DEFAULT_MAX_MB) -> ModelSummary:
    """`load_model(path).info` as a dict, plus volume and validity for exact shapes (picklable:
    what worker processes send back)."""
    model = load_model(path, max_mb=max_mb)
    out = model.info.as_dict()
    if model.shape is not None:
        from cadlib import occ

        out["volume_mm3"] = round(occ.volume(model.shape), 6)
        out["valid"] = occ.is_valid(model.shape)
    if model.sequence is not None:
        out.update(model.sequence.counts())
    return out
