"""The one result type of every loader: a millimetre mesh, facts about the file, and (for B-rep
sources) the exact shape and (for sequence sources) the CAD sequence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, TypedDict, cast

import numpy as np

from cadlib.mesh import Mesh
from cadlib.sequence import CadSequence


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loader learned about a file; JSON-friendly (`as_dict`)."""

    file: str
    format: str  # step | ifc | obj | stl | ply | off | glb | gltf | reconstruction-json
    kind: str  # brep | mesh | sequence
    schema: str | None = None  # AP214, IFC4, ... where the format has one
    units: str | None = None  # declared length unit, as the file names it
    scale_to_mm: float = 1.0  # factor applied to reach millimetres
    solids: int = 0
    products: int = 0  # IFC products with geometry
    parts: int = 1  # bodies / objects / geometries
    vertices: int = 0
    faces: int = 0
    watertight: bool = False
    bbox_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    bbox_max: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up_axis: str = "z"
    repairs: tuple[str, ...] = ()

    def as_dict(self) -> ModelSummary:
        d = asdict(self)
        d["bbox_min"], d["bbox_max"] = list(self.bbox_min), list(self.bbox_max)
        d["repairs"] = list(self.repairs)
        return cast(ModelSummary, d)


class ModelSummary(TypedDict):
    """`ModelInfo` as JSON (`cadrecon info`, a worker's answer), with the exact shape's volume and
    validity and a sequence's counts where the file has them (`cadlib.ingest.summarize_model`)."""

    file: str
    format: str
    kind: str
    schema: str | None
    units: str | None
    scale_to_mm: float
    solids: int
    products: int
    parts: int
    vertices: int
    faces: int
    watertight: bool
    bbox_min: list[float]
    bbox_max: list[float]
    up_axis: str
    repairs: list[str]
    volume_mm3: NotRequired[float]
    valid: NotRequired[bool]
    extrudes: NotRequired[int]
    loops: NotRequired[int]
    lines: NotRequired[int]
    arcs: NotRequired[int]
    circles: NotRequired[int]


class MeshFacts(TypedDict):
    """The `ModelInfo` fields a mesh determines."""

    vertices: int
    faces: int
    watertight: bool
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]


@dataclass(frozen=True, slots=True, eq=False)
class LoadedModel:
    """A loaded file: `mesh` in millimetres, `info`, and the exact sources where there are any."""

    mesh: Mesh
    info: ModelInfo
    shape: Any = field(default=None)  # OCP TopoDS_Shape for STEP and sequence sources (mm)
    sequence: CadSequence | None = None


def mesh_facts(mesh: Mesh) -> MeshFacts:
    """The ModelInfo fields a mesh determines."""
    lo, hi = (np.round(b, 9) for b in mesh.bbox())
    return {
        "vertices": int(len(mesh.vertices)),
        "faces": int(len(mesh.faces)),
        "watertight": mesh.is_watertight(),
        "bbox_min": (float(lo[0]), float(lo[1]), float(lo[2])),
        "bbox_max": (float(hi[0]), float(hi[1]), float(hi[2])),
    }
