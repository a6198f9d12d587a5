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


def sample_surface(mesh: Mesh, n: int, *, seed: int = 0) -> np.ndarray:
    """`n` points uniformly on the surface (area-weighted triangles, uniform barycentrics), seeded."""
    tri = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not len(tri) or area.sum() <= 0:
        raise ValueError("the mesh has no surface to sample")
    rng = np.random.default_rng(seed)
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


def to_unit_cube(*clouds: np.ndarray, reference: np.ndarray | None = None) -> list[np.ndarray]:
    """Scales and shifts point clouds together so the reference (default: the first) fits the
    cube [-0.5, 0.5]^3 (centred, longest side 1)."""
    ref = clouds[0] if reference is None else reference
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    scale = float((hi - lo).max()) or 1.0
    centre = (lo + hi) / 2
    return [(c - centre) / scale for c in clouds]


def volumetric_iou(a, b) -> float:
    """Exact IoU of two solids (OCP shapes): vol(a AND b) / vol(a OR b)."""
    from cadlib import occ

    common, union = occ.common_and_union_volume(a, b)
    return common / union if union > 0 else 0.0


def unit_cube_solid(shape):
    """A copy of a solid centred and scaled so its longest bounding-box side is 1 (cadrille's
    normalisation, up to the shift into [0, 1]^3, which IoU does not see)."""
    from cadlib import occ

    lo, hi = occ.bbox(shape)
    size = float(np.max(hi - lo))
    if size <= 0:
        raise ValueError("the solid has no extent to normalise")
    return occ.scaled(shape, 1.0 / size, -(lo + hi) / 2.0 / size)


def unit_cube_iou(a, b) -> float:
    """cadrille's IoU: exact IoU after each solid is scaled to the unit cube on its own, so a
    right shape at another scale or place scores 1."""
    return volumetric_iou(unit_cube_solid(a), unit_cube_solid(b))


def voxel_occupancy(mesh: Mesh, lo: np.ndarray, hi: np.ndarray, n: int = 64) -> np.ndarray:
    """Which cells of an n^3 grid over [lo, hi] have their centre inside a closed mesh: a ray
    along +z through each column's centre (nudged off the grid lines, so it misses edges), and the
    parity of the crossings below each cell centre."""
    step = (hi - lo) / n
    xs = lo[0] + (np.arange(n) + 0.5 + 1e-4) * step[0]
    ys = lo[1] + (np.arange(n) + 0.5 + 2e-4) * step[1]
    zc = lo[2] + (np.arange(n) + 0.5) * step[2]
    hits: list[list[float]] = [[] for _ in range(n * n)]
    tri = mesh.vertices[mesh.faces]
    for a, b, c in tri:
        x0, x1 = min(a[0], b[0], c[0]), max(a[0], b[0], c[0])
        y0, y1 = min(a[1], b[1], c[1]), max(a[1], b[1], c[1])
        i = np.nonzero((xs >= x0) & (xs <= x1))[0]
        j = np.nonzero((ys >= y0) & (ys <= y1))[0]
        if not len(i) or not len(j):
            continue
        px, py = np.meshgrid(xs[i], ys[j], indexing="ij")
        d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if abs(d) < 1e-18:
            continue  # the triangle is edge-on to the rays
        w0 = ((b[1] - c[1]) * (px - c[0]) + (c[0] - b[0]) * (py - c[1])) / d
        w1 = ((c[1] - a[1]) * (px - c[0]) + (a[0] - c[0]) * (py - c[1])) / d
        w2 = 1 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        for ii, jj in zip(*np.nonzero(inside), strict=True):
            hits[i[ii] * n + j[jj]].append(float(z[ii, jj]))
    occ = np.zeros((n, n, n), dtype=bool)
    for k, zs in enumerate(hits):
        if zs:
            crossings = np.searchsorted(np.sort(zs), zc)  # crossings below each cell centre
            occ[k // n, k % n] = crossings % 2 == 1
    return occ


def mesh_iou(a: Mesh, b: Mesh, n: int = 64) -> float:
    """Volumetric IoU of two closed (watertight) meshes on an n^3 grid over their joint box."""
    lo = np.minimum(a.vertices.min(axis=0), b.vertices.min(axis=0))
    hi = np.maximum(a.vertices.max(axis=0), b.vertices.max(axis=0))
    pad = (hi - lo) * 0.01 + 1e-9
    va, vb = voxel_occupancy(a, lo - pad, hi + pad, n), voxel_occupancy(b, lo - pad, hi + pad, n)
    union = np.logical_or(va, vb).sum()
    return float(np.logical_and(va, vb).sum() / union) if union else 0.0


def invalid_ratio(built: Sequence[bool]) -> float:
    """The share of generated sequences that did not give a valid solid."""
    return 1.0 - (sum(built) / len(built)) if built else 0.0


def commands(codes: Sequence[ExtrudeCode]) -> list[tuple[str, tuple[int, ...]]]:
    """A sequence as DeepCAD's flat command list: per extrude, SOL before every loop, its curves,
    then Ext carrying the plane angles, origin, scale, operation, extent type and extents; EOS last."""
    out: list[tuple[str, tuple[int, ...]]] = []
    for c in codes:
        for loop in c.loops:
            out.append(("SOL", ()))
            out.extend((cur.kind.value, tuple(cur.values)) for cur in loop)
        ext = tuple(c.extents) + (0,) * (2 - len(c.extents))
        out.append(("Ext", (*c.angles, *c.origin, c.scale, list(type(c.operation)).index(c.operation),
                            list(type(c.extent_type)).index(c.extent_type), *ext)))
    out.append(("EOS", ()))
    return out


def command_accuracy(pred: Sequence[ExtrudeCode], truth: Sequence[ExtrudeCode],
                     tolerance: int = PARAM_TOLERANCE) -> tuple[float, float]:
    """DeepCAD's (ACC_cmd, ACC_param): position by position along the true command list, the share
    of commands of the right type, and among those the share of parameters within `tolerance`
    quantisation levels (a missing predicted command counts as wrong)."""
    p, t = commands(pred), commands(truth)
    right, params_ok, params_n = 0, 0, 0
    for i, (cmd, values) in enumerate(t):
        if i < len(p) and p[i][0] == cmd:
            right += 1
            params_n += len(values)
            params_ok += sum(abs(a - b) < tolerance for a, b in zip(p[i][1], values, strict=True))
    acc_cmd = right / len(t)
    acc_param = params_ok / params_n if params_n else 1.0
    return acc_cmd, acc_param
