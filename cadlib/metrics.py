"""Reconstruction metrics: Chamfer distance, volumetric IoU, invalid ratio, and DeepCAD's command
and parameter accuracies. Each takes its conventions as arguments; `cadlib.protocols` fixes them
into the named protocols that reports state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cadlib.mesh import Mesh
from cadlib.quantize import ExtrudeCode

PARAM_TOLERANCE = 3
"""DeepCAD's ACC_param: a parameter is right when within 3 quantisation levels of the truth."""


def sample_surface(mesh: Mesh, n: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """`n` points uniformly on the surface (area-weighted triangles, uniform barycentrics), from a
    seed or a generator (pass one generator for both shapes of a pair: independent samples)."""
    tri = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not len(tri) or area.sum() <= 0:
        raise ValueError("the mesh has no surface to sample")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    pick = rng.choice(len(tri), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[pick]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def chamfer(a: np.ndarray, b: np.ndarray, *, squared: bool = True) -> float:
    """mean over a of the nearest distance to b, plus the same from b to a (squared distances
    when `squared`, as DeepCAD and most CAD papers)."""
    from scipy.spatial import cKDTree

    d_ab, _ = cKDTree(b).query(a)
    d_ba, _ = cKDTree(a).query(b)
    if squared:
        d_ab, d_ba = d_ab**2, d_ba**2
    return float(d_ab.mean() + d_ba.mean())


def volumetric_iou(a, b) -> float:
    """Exact IoU of two solids (OCP shapes): vol(a AND b) / vol(a OR b)."""
    from cadlib import occ

    common, union = occ.common_and_union_volume(a, b)
    return common / union if union > 0 else 0.0


def manifold_iou(a: Mesh, b: Mesh) -> float:
    """IoU of two closed meshes with manifold3d's exact mesh booleans (what trimesh's boolean
    engine runs). Raises ValueError when either mesh is not a closed manifold."""
    import manifold3d

    def solid(m: Mesh):
        m = m.welded()
        mf = manifold3d.Manifold(manifold3d.Mesh(vert_properties=np.asarray(m.vertices, np.float32),
                                                 tri_verts=np.asarray(m.faces, np.uint32)))
        if mf.status() != manifold3d.Error.NoError:
            raise ValueError(f"the mesh is not a closed manifold ({mf.status().name})")
        return mf

    sa, sb = solid(a), solid(b)
    inter = (sa ^ sb).volume()
    union = sa.volume() + sb.volume() - inter
    return float(inter / union) if union > 0 else 0.0


def voxel_occupancy(mesh: Mesh, lo: np.ndarray, hi: np.ndarray, n: int = 64) -> np.ndarray:
    """Which cells of an n^3 grid over [lo, hi] have their centre inside a closed mesh: a ray
    along +z through each column's centre (nudged off the grid lines, so it misses edges), and the
    parity of the crossings below each cell centre. Vectorised over (triangle, column) pairs, in
    chunks of about PAIRS_PER_CHUNK pairs."""
    step = (hi - lo) / n
    xs = lo[0] + (np.arange(n) + 0.5 + 1e-4) * step[0]
    ys = lo[1] + (np.arange(n) + 0.5 + 2e-4) * step[1]
    zc = lo[2] + (np.arange(n) + 0.5) * step[2]
    tri = mesh.vertices[mesh.faces]
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    d = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    tri = tri[np.abs(d) >= 1e-18]  # a triangle edge-on to the rays is never crossed
    # the columns whose centre lies in each triangle's x and y range: i0 <= i < i1, j0 <= j < j1
    i0, i1 = np.searchsorted(xs, tri[:, :, 0].min(1), "left"), np.searchsorted(xs, tri[:, :, 0].max(1), "right")
    j0, j1 = np.searchsorted(ys, tri[:, :, 1].min(1), "left"), np.searchsorted(ys, tri[:, :, 1].max(1), "right")
    ni, nj = np.maximum(i1 - i0, 0), np.maximum(j1 - j0, 0)
    pairs = ni * nj
    crossings = np.zeros(n * n * (n + 1), dtype=np.int64)  # per column: crossings starting at cell m
    ends = np.cumsum(pairs)
    first = 0
    while first < len(tri):
        last = int(np.searchsorted(ends, (ends[first - 1] if first else 0) + PAIRS_PER_CHUNK, "right"))
        last = max(last, first + 1)
        sel = slice(first, last)
        count = pairs[sel]
        t = np.repeat(np.arange(first, last), count)
        if len(t):
            offs = np.arange(len(t)) - np.repeat(np.cumsum(count) - count, count)
            ii, jj = i0[t] + offs // nj[t], j0[t] + offs % nj[t]
            px, py = xs[ii], ys[jj]
            ta, tb, tc = tri[t, 0], tri[t, 1], tri[t, 2]
            dd = (tb[:, 1] - tc[:, 1]) * (ta[:, 0] - tc[:, 0]) + (tc[:, 0] - tb[:, 0]) * (ta[:, 1] - tc[:, 1])
            w0 = ((tb[:, 1] - tc[:, 1]) * (px - tc[:, 0]) + (tc[:, 0] - tb[:, 0]) * (py - tc[:, 1])) / dd
            w1 = ((tc[:, 1] - ta[:, 1]) * (px - tc[:, 0]) + (ta[:, 0] - tc[:, 0]) * (py - tc[:, 1])) / dd
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            z = (w0 * ta[:, 2] + w1 * tb[:, 2] + w2 * tc[:, 2])[inside]
            column = (ii * n + jj)[inside]
            # a crossing at height z counts for every cell whose centre is above it
            crossings += np.bincount(column * (n + 1) + np.searchsorted(zc, z, "right"), minlength=len(crossings))
        first = last
    below = np.cumsum(crossings.reshape(n * n, n + 1)[:, :n], axis=1)
    return (below % 2 == 1).reshape(n, n, n)


PAIRS_PER_CHUNK = 1 << 20
"""(triangle, column) pairs handled at once by `voxel_occupancy` (bounds its memory: ~200 MB)."""


def voxel_iou(a: Mesh, b: Mesh, n: int = 64) -> float:
    """Volumetric IoU of two closed (watertight) meshes on an n^3 grid over their joint box (the
    fallback where a mesh is watertight but not a manifold that manifold3d accepts)."""
    lo = np.minimum(a.vertices.min(axis=0), b.vertices.min(axis=0))
    hi = np.maximum(a.vertices.max(axis=0), b.vertices.max(axis=0))
    pad = (hi - lo) * 0.01 + 1e-9
    va, vb = voxel_occupancy(a, lo - pad, hi + pad, n), voxel_occupancy(b, lo - pad, hi + pad, n)
    union = np.logical_or(va, vb).sum()
    return float(np.logical_and(va, vb).sum() / union) if union else 0.0


def invalid_ratio(built: Sequence[bool]) -> float:
    """The share of generated sequences that did not give a valid solid."""
    return 1.0 - (sum(built) / len(built)) if built else 0.0


def commands(codes: Sequence[ExtrudeCode], levels: int = 256) -> list[tuple[str, tuple[int, ...]]]:
    """A sequence as DeepCAD's flat command list, without EOS: per extrude, SOL before every loop,
    its curves, then Ext with DeepCAD's argument order (theta, phi, gamma, px, py, pz, s, e1, e2,
    boolean, extent type). An arc's signed sweep code becomes DeepCAD's (sweep, ccw flag)."""
    out: list[tuple[str, tuple[int, ...]]] = []
    half = levels // 2
    for c in codes:
        for loop in c.loops:
            out.append(("SOL", ()))
            for cur in loop:
                v = tuple(cur.values)
                if cur.kind.value == "arc":
                    v = (v[0], v[1], abs(v[2] - half), int(v[2] > half))
                out.append((cur.kind.value, v))
        ext = tuple(c.extents) + (0,) * (2 - len(c.extents))
        out.append(("Ext", (*c.angles, *c.origin, c.scale, *ext, list(type(c.operation)).index(c.operation),
                            list(type(c.extent_type)).index(c.extent_type))))
    return out


EXACT = {"Ext": (9, 10), "arc": (3,)}
"""Arguments DeepCAD compares exactly (`evaluate_ae_acc.py`): an extrude's boolean and extent
type, an arc's direction flag; every other argument is right within `PARAM_TOLERANCE` levels."""


def command_accuracy(pred: Sequence[ExtrudeCode], truth: Sequence[ExtrudeCode],
                     tolerance: int = PARAM_TOLERANCE, levels: int = 256) -> tuple[float, float]:
    """DeepCAD's (ACC_cmd, ACC_param) of one model, as its `evaluate_ae_acc.py`: position by
    position along the true command list up to (not counting) EOS, the share of commands of the
    right type; over the commands of the right type that carry arguments (not SOL), the share of
    arguments within `tolerance` levels (exact for `EXACT`). A missing command is wrong; when no
    argument-carrying command matched, ACC_param is 0."""
    p, t = commands(pred, levels), commands(truth, levels)
    right, params = 0, []
    for i, (cmd, values) in enumerate(t):
        if i >= len(p) or p[i][0] != cmd:
            continue
        right += 1
        exact = EXACT.get(cmd, ())
        params += [(a == b) if k in exact else abs(a - b) < tolerance
                   for k, (a, b) in enumerate(zip(p[i][1], values, strict=True))]
    acc_cmd = right / len(t) if t else 0.0
    acc_param = sum(params) / len(params) if params else 0.0
    return acc_cmd, acc_param
