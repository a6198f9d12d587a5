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
    """Creases sharper than `crease_deg`, boundary edges (one face) and non-manifold edges (more
    than two faces, e.g. coincident duplicate bodies), plus every two-face edge for silhouettes.
    Coincident vertices are merged first so that edges are shared."""
    import trimesh

    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    tm.merge_vertices()
    v = np.asarray(tm.vertices)
    f = np.asarray(tm.faces)
    if not len(f):
        return EdgeSet(np.zeros((0, 2, 3)), np.zeros((0, 2, 3)), np.zeros((0, 2, 3)))
    normals = np.asarray(tm.face_normals)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    face_of = np.tile(np.arange(len(f)), 3)
    uniq, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    two = counts == 2
    first, second = face_of[order[starts[two]]], face_of[order[starts[two] + 1]]
    n1, n2 = normals[first], normals[second]
    # an edge is a crease when some face on it turns away from the group's first face by more
    # than the threshold (coplanar duplicates and their diagonals are not creases)
    group_first = normals[face_of[order[starts]]]
    cos_each = np.einsum("ij,ij->i", normals[face_of[order]], np.repeat(group_first, counts, axis=0))
    min_cos = np.minimum.reduceat(cos_each, starts)
    crease = (counts >= 2) & (min_cos < np.cos(np.radians(crease_deg)))
    drawn = uniq[crease | (counts == 1)]  # creases and open boundaries
    feature = v[drawn] if len(drawn) else np.zeros((0, 2, 3))
    return EdgeSet(feature.reshape(-1, 2, 3), v[uniq[two]].reshape(-1, 2, 3), np.stack([n1, n2], axis=1))


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
