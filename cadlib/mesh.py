"""The triangle mesh every loader and the tessellator return."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Mesh:
    """Vertices (N, 3) float64 and triangles (M, 3) int64 indexing them."""

    vertices: np.ndarray
    faces: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        f = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if len(f) and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError("face index out of range")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        """(min corner, max corner); zeros for an empty mesh."""
        if not len(self.vertices):
            return np.zeros(3), np.zeros(3)
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def volume(self) -> float:
        """Signed volume by the divergence theorem (meaningful for closed, outward meshes)."""
        if not len(self.faces):
            return 0.0
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)

    def area(self) -> float:
        """Total triangle area."""
        if not len(self.faces):
            return 0.0
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2.0)

    def is_watertight(self) -> bool:
        """Every edge shared by exactly two faces, once coincident vertices are merged.

        numpy only: trimesh's full processing costs ~10x more, and loaders call this every time."""
        if not len(self.faces):
            return False
        _, inverse = np.unique(self.vertices, axis=0, return_inverse=True)
        f = inverse.reshape(-1)[self.faces]
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        key = edges[:, 0] * (int(f.max()) + 1) + edges[:, 1]
        _, counts = np.unique(key, return_counts=True)
        return bool((counts == 2).all())

    def welded(self) -> Mesh:
        """The same surface with coincident vertices merged and degenerate triangles dropped (a
        B-rep's tessellation repeats each vertex per face; booleans want one shared vertex)."""
        if not len(self.faces):
            return self
        uniq, inverse = np.unique(self.vertices, axis=0, return_inverse=True)
        f = inverse.reshape(-1)[self.faces]
        keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
        return Mesh(uniq, f[keep], dict(self.metadata))
