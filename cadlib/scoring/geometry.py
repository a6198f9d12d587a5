"""A shape to score: its surface mesh, and its exact solid where there is one, moved together."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from cadlib.mesh import Mesh


@dataclass(frozen=True, slots=True, eq=False)
class Geometry:
    """`mesh` always; `shape` (an OCP solid) for B-rep and sequence sources."""

    mesh: Mesh
    shape: Any = None

    @classmethod
    def from_shape(cls, shape) -> Geometry:
        from cadlib import occ

        return cls(occ.tessellate(shape), shape)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mesh.bbox()

    def transformed(self, matrix: np.ndarray) -> Geometry:
        """The geometry under a 4x4 similarity (rotation x uniform scale, then translation)."""
        m = np.asarray(matrix, dtype=float)
        mesh = Mesh(self.mesh.vertices @ m[:3, :3].T + m[:3, 3], self.mesh.faces, dict(self.mesh.metadata))
        if self.shape is None:
            return Geometry(mesh)
        from cadlib import occ

        return Geometry(mesh, occ.transformed(self.shape, m))


def similarity(scale: float = 1.0, offset=(0.0, 0.0, 0.0), rotation: np.ndarray | None = None) -> np.ndarray:
    """The 4x4 matrix of x -> scale * R x + offset."""
    m = np.eye(4)
    m[:3, :3] = scale * (np.eye(3) if rotation is None else np.asarray(rotation, dtype=float))
    m[:3, 3] = offset
    return m


def about(matrix3: np.ndarray, centre) -> np.ndarray:
    """The 4x4 matrix of a rotation `matrix3` about the point `centre`."""
    c = np.asarray(centre, dtype=float)
    return similarity(1.0, c - np.asarray(matrix3) @ c, matrix3)


def axis_rotations() -> list[np.ndarray]:
    """The 24 rotations that map the coordinate axes onto themselves (the cube's rotation group),
    identity first."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            r = np.zeros((3, 3))
            for row, (col, sign) in enumerate(zip(perm, signs, strict=True)):
                r[row, col] = sign
            if np.isclose(np.linalg.det(r), 1.0):
                out.append(r)
    out.sort(key=lambda r: not np.allclose(r, np.eye(3)))
    return out
