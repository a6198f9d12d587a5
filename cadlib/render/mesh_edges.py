"""Edges of a triangle mesh worth drawing: creases above a dihedral angle, open boundaries, and
per-view silhouettes (where a front-facing triangle meets a back-facing one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadlib.mesh import Mesh


@dataclass(frozen=True, slots=True, eq=False)
class EdgeSet:
    """Mesh edges by kind: vertex positions (M, 2, 3) of crease/boundary edges, plus the
    adjacency needed for silhouettes."""

    feature: np.ndarray  # (M, 2, 3)
    pair_edges: np.ndarray  # (P, 2, 3) edges between two faces
    pair_normals: np.ndarray  # (P, 2, 3) the two faces' normals


def mesh_edges(mesh: Mesh, *, crease_deg: float = 30.0) -> EdgeSet:
    """Creases sharper than `crease_deg`, boundary edges, and every two-face edge (for
    silhouettes). Coincident vertices are merged first so that edges are shared."""
    import trimesh

    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    tm.merge_vertices()
    v = np.asarray(tm.vertices)
    normals = np.asarray(tm.face_normals)
    adj = np.asarray(tm.face_adjacency)
    adj_edges = np.asarray(tm.face_adjacency_edges)
    angles = np.asarray(tm.face_adjacency_angles)
    crease = adj_edges[angles > np.radians(crease_deg)]
    boundary_idx = trimesh.grouping.group_rows(tm.edges_sorted, require_count=1)
    boundary = tm.edges_sorted[boundary_idx]
    feature = np.concatenate([v[crease], v[boundary]]) if len(crease) + len(boundary) else np.zeros((0, 2, 3))
    return EdgeSet(feature.reshape(-1, 2, 3), v[adj_edges].reshape(-1, 2, 3), normals[adj].reshape(-1, 2, 3))


def silhouette(edges: EdgeSet, look: np.ndarray) -> np.ndarray:
    """Edges (K, 2, 3) where one adjacent face faces the viewer and the other faces away."""
    if not len(edges.pair_edges):
        return np.zeros((0, 2, 3))
    d = edges.pair_normals @ np.asarray(look, dtype=float)
    return edges.pair_edges[(d[:, 0] < 0) != (d[:, 1] < 0)]


def visible_runs(pix: np.ndarray, depth: np.ndarray, zbuf: np.ndarray, tol: float) -> list[np.ndarray]:
    """Splits sampled segments into their visible runs by testing samples against a depth buffer.

    Args:
        pix: (K, S, 2) pixel positions of S samples along each of K segments.
        depth: (K, S) the samples' depths along the view direction.
        zbuf: (H, W) depth of the nearest surface per pixel (inf where there is none).
        tol: depth slack; a sample up to `tol` behind the surface still counts as on it.
    """
    if not len(pix):
        return []
    h, w = zbuf.shape
    # nearest surface around each sample (3x3): edges lie on the surface's border pixels
    pad = np.pad(zbuf, 1, constant_values=np.inf)
    near = np.max(np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]), axis=0)
    u = np.clip(np.rint(pix[..., 0]).astype(int), 0, w - 1)
    vv = np.clip(np.rint(pix[..., 1]).astype(int), 0, h - 1)
    vis = depth <= near[vv, u] + tol
    runs = []
    for k in range(len(pix)):
        row = vis[k]
        if row.all():
            runs.append(pix[k])
            continue
        idx = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        for a, b in zip(idx[::2], idx[1::2], strict=True):
            if b - a >= 2:
                runs.append(pix[k, a:b])
    return runs
