"""The canonical frame, as a separate pure step: Z up, centred, scaled into the unit box.

Up axes per format: STEP, IFC, reconstruction JSON, STL, PLY and OFF are Z-up; OBJ and glTF/GLB
are Y-up (glTF by specification, OBJ by the common convention of the tools that write it) and are
turned so that their +Y becomes +Z (a right-handed rotation of +90 degrees about X).
"""

from __future__ import annotations

import numpy as np

from cadlib.mesh import Mesh
from cadlib.transform import NORM_FACTOR

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_canonical_frame(mesh: Mesh, up_axis: str = "z", *, half_size: float = NORM_FACTOR) -> Mesh:
    """A new mesh: Z up, bounding box centred at the origin, largest half-size `half_size`.

    The default `half_size` is DeepCAD's 0.75, the same box sequences are normalised into, so meshes
    and sequences render at the same scale.
    """
    if up_axis not in ("y", "z"):
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    v = mesh.vertices @ Y_UP_TO_Z_UP.T if up_axis == "y" else mesh.vertices.copy()
    if len(v):
        lo, hi = v.min(axis=0), v.max(axis=0)
        size = float(np.max(hi - lo))
        v = (v - (lo + hi) / 2.0) * (2.0 * half_size / size if size > 0 else 1.0)
    return Mesh(v, mesh.faces.copy(), dict(mesh.metadata))
