"""B-rep sources: STEP files, and reconstruction JSON / sequence text built into solids.

Both keep the exact OCP shape (millimetres) next to the mesh, so renderers can draw exact edges.
Assemblies and multiple solids are flattened into one shape; shells and faces that belong to no
solid are meshed too. The tessellation tolerance is relative to the model's size. Z is up.
"""

from __future__ import annotations

from pathlib import Path

from cadlib import occ
from cadlib.errors import BuildError, ParseError
from cadlib.ingest.model import LoadedModel, ModelInfo, mesh_facts
from cadlib.quantize import DEFAULT_BITS
from cadlib.sequence import CadSequence
from cadlib.sequence_io import read_sequence
from cadlib.transform import in_mm

_UNIT_NAMES = {1.0: "mm", 10.0: "cm", 1000.0: "m", 25.4: "inch"}


def load_step(path: str | Path) -> LoadedModel:
    """Loads a STEP file (AP203/AP214/AP242) in millimetres, whatever unit it declares."""
    path = Path(path)
    content = occ.read_step_content(path)
    mesh = occ.tessellate(content.shape)
    if not len(mesh.faces):
        raise ParseError(
            f"STEP file holds no surface to mesh ({occ.count_solids(content.shape)} solids, {content.roots} roots)",
            source=str(path),
        )
    info = ModelInfo(
        file=str(path), format="step", kind="brep", schema=content.schema, units=content.units,
        scale_to_mm=content.unit_mm or 1.0, solids=occ.count_solids(content.shape), parts=content.roots,
        up_axis="z", **mesh_facts(mesh),
    )
    return LoadedModel(mesh, info, shape=content.shape)


def load_sequence_model(path: str | Path, *, bits: int = DEFAULT_BITS) -> LoadedModel:
    """Loads reconstruction JSON (file units -> mm) or sequence text (normalised units) as a solid."""
    path = Path(path)
    seq, source = read_sequence(path, bits=bits)
    return model_from_sequence(seq, file=str(path), fmt=source.value)


def model_from_sequence(seq: CadSequence, *, file: str, fmt: str = "reconstruction-json") -> LoadedModel:
    """Builds, meshes and describes a sequence (scaled to millimetres by its `unit_mm`)."""
    return model_from_solid(occ.build_solid(in_mm(seq)), seq, file=file, fmt=fmt)


def model_from_solid(shape, seq: CadSequence, *, file: str, fmt: str = "reconstruction-json") -> LoadedModel:
    """Meshes and describes the solid `seq` built (in millimetres): `model_from_sequence` for a
    solid built already (`cadlib.dataset.solids` keeps extract's)."""
    lo, hi = occ.bbox(shape)
    box = float((hi - lo).prod()) if len(lo) else 0.0
    if occ.volume(shape) <= 1e-9 * max(box, 1e-12):
        raise BuildError("the solid has no volume: its profiles self-intersect or collapse", source=file)
    mesh = occ.tessellate(shape)
    info = ModelInfo(
        file=file, format=fmt, kind="sequence", units=_UNIT_NAMES.get(seq.unit_mm),
        scale_to_mm=seq.unit_mm, solids=occ.count_solids(shape), parts=len(seq.extrudes), up_axis="z",
        **mesh_facts(mesh),
    )
    return LoadedModel(mesh, info, shape=shape, sequence=seq)
