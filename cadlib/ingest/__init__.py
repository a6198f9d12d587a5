"""Loading every supported file into one `LoadedModel` (a millimetre `Mesh` plus `ModelInfo`, and
the exact OCP shape / CAD sequence where the source has one).

| format | loader | notes |
|---|---|---|
| STEP/STP (AP203, AP214, AP242) | OCP | units honoured, assemblies flattened, open shells meshed |
| IFC (IFC2X3, IFC4, IFC4X3) | IfcOpenShell geometry iterator | world coordinates, all products |
| OBJ, STL, PLY, OFF, GLB/glTF | trimesh | documented repairs, tolerant OBJ fallback |
| DeepCAD/Fusion JSON, sequence text | cadlib parser + OCP builder | keeps the sequence |

Formats are detected by content (`detect_format`); `load_isolated` loads many files in worker
processes with a time limit each.
"""

from cadlib.ingest.detect import FORMATS, MESH_FORMATS, detect_format
from cadlib.ingest.frame import to_canonical_frame
from cadlib.ingest.isolated import load_isolated
from cadlib.ingest.model import LoadedModel, ModelInfo
from cadlib.ingest.registry import LOADERS, load_model, summarize_model

__all__ = [
    "FORMATS",
    "LOADERS",
    "MESH_FORMATS",
    "LoadedModel",
    "ModelInfo",
    "detect_format",
    "load_isolated",
    "load_model",
    "summarize_model",
    "to_canonical_frame",
]
