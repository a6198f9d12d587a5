"""Metrics and protocols on hand-computed cases: the analytic Chamfer distance of a shifted cube,
exact and mesh IoU, the protocols' normalisations (a box against its half-size shifted copy), the
independent sampling the papers use, and DeepCAD's ACC_cmd / ACC_param as `evaluate_ae_acc.py`
computes them."""

from __future__ import annotations

import numpy as np
import pytest

from cadlib.mesh import Mesh
from cadlib.metrics import (
    chamfer,
    command_accuracy,
    invalid_ratio,
    manifold_iou,
    sample_surface,
    volumetric_iou,
)
from cadlib.quantize import CurveCode, CurveKind, ExtrudeCode
from cadlib.scoring import Geometry, get_protocol, score_pair
from cadlib.scoring.protocols import best_of, summarize
from cadlib.sequence import ExtentType, Operation

CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def cube(shift=(0.0, 0.0, 0.0), size=(1.0, 1.0, 1.0)) -> Mesh:
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float) * size + shift
    return Mesh(v, CUBE_FACES)


def score(protocol: str, truth: Mesh, pred: Mesh, seed: int = 0) -> dict:
    return score_pair(get_protocol(protocol), Geometry(truth), Geometry(pred), np.random.default_rng(seed))


def test_sampling_is_independent_so_a_shape_against_itself_scores_small_but_not_zero():
    for name, points in (("cadrille", 8192), ("deepcad", 2000)):
        cd = score(name, cube(), cube())["cd"]
        # two independent 8,192-point samples of a unit cube: ~2 x mean NN distance^2 ~ 1e-4 (x1e3: ~0.1)
        assert 0 < cd < (0.5 if points == 8192 else 2.0), (name, cd)


def test_cadrille_normalises_each_shape_so_a_scaled_shifted_copy_is_perfect():
    # a 2x1x1 box against its half-size copy moved far away: cadrille scales each into [0,1]^3
    truth, pred = cube(size=(2, 1, 1)), cube(shift=(10, -5, 3), size=(1, 0.5, 0.5))
    s = score("cadrille", truth, pred)
    assert s["iou"] == pytest.approx(1.0, abs=1e-6) and s["iou_method"] == "mesh" and s["cd"] < 0.5


def test_deepcad_keeps_the_truths_frame_so_the_same_copy_scores_its_analytic_iou():
    # DeepCAD scales the truth (and the prediction with it) about the origin, nothing else: a box
    # [0,2]x[0,1]x[0,1] and its half-size copy at the origin overlap in the copy: IoU = 0.25/2 = 1/8
    truth, pred = cube(size=(2, 1, 1)), cube(size=(1, 0.5, 0.5))
    s = score("deepcad", truth, pred)
    assert s["iou"] == pytest.approx(1 / 8, abs=1e-6)
    # in DeepCAD's frame (x0.375) the analytic CD: the copy's points lie on the truth's faces or
    # inside it; a large positive number, far above the self-distance
    assert s["cd"] > 10 * score("deepcad", truth, truth)["cd"]


def test_deepcad_rescales_an_out_of_bound_prediction():
    truth = cube(shift=(-0.5, -0.5, -0.5))  # max |x| 0.5 -> scaled by 1.5
    far = cube(shift=(9.5, -0.5, -0.5))  # x up to 10.5 -> 15.75 > 2: divided by its largest magnitude
    s = score("deepcad", truth, far)
    assert s["cd"] is not None and s["iou"] == 0.0


def test_aligned_finds_the_pose_cadrille_misses():
    truth, turned = cube(size=(3, 1, 0.5)), cube(size=(0.5, 3, 1))  # the same box, axes permuted
    plain, aligned = score("cadrille", truth, turned), score("aligned", truth, turned)
    assert plain["iou"] < 0.5 and aligned["iou"] == pytest.approx(1.0, abs=1e-6)
    assert aligned["rotation"] not in (None, 0) and aligned["cd"] < plain["cd"] / 10


def test_best_of_n_takes_the_smallest_cd_and_the_largest_iou_separately():
    samples = [{"valid": True, "cd": 2.0, "iou": 0.9}, {"valid": True, "cd": 1.0, "iou": 0.5}, {"valid": False}]
    assert best_of(samples) == {"valid": True, "cd": 1.0, "iou": 0.9}
    assert best_of([{"valid": False}]) == {"valid": False, "cd": None, "iou": None}


def test_summary_reports_the_median_cd_and_mean_iou_over_valid_models():
    rows = [{"valid": True, "cd": 1.0, "iou": 0.2}, {"valid": True, "cd": 3.0, "iou": 0.4},
            {"valid": True, "cd": 10.0, "iou": 0.9}, {"valid": False, "cd": None, "iou": None}]
    s = summarize(rows)
    assert s["median_cd"] == 3.0 and s["mean_iou"] == pytest.approx(0.5) and s["invalid_ratio"] == 0.25


def test_shifted_cube_matches_the_analytic_chamfer_distance():
    # A = [0,1]^3, B = A + (d,0,0). Per direction, the mean squared distance to the other surface is
    # [d^2 (the face x=0) + (d^2 - 8/3 d^3 + 2 d^4) (x=1, inside B) + 4 d^3/3 (side strips)] / 6,
    # and both directions are equal: CD = (2 d^2 - 4/3 d^3 + 2 d^4) / 3.
    d = 0.1
    expected = (2 * d**2 - 4 / 3 * d**3 + 2 * d**4) / 3
    a = sample_surface(cube(), 200_000, seed=1)
    b = sample_surface(cube((d, 0, 0)), 200_000, seed=2)
    assert chamfer(a, b) == pytest.approx(expected, rel=0.01)


def test_samples_lie_on_the_surface_and_are_seeded():
    pts = sample_surface(cube(), 5000, seed=3)
    on_face = np.isclose(pts, 0) | np.isclose(pts, 1)
    assert on_face.any(axis=1).all() and (pts >= -1e-12).all() and (pts <= 1 + 1e-12).all()
    assert np.array_equal(pts, sample_surface(cube(), 5000, seed=3))


def test_volumetric_iou_is_exact():
    from cadlib import occ
    from cadlib.deepcad_json import parse_sequence
    from cadlib.synth import ModelBuilder, rect

    def box(x0: float) -> object:
        b = ModelBuilder()
        b.extrude("xy", (0, 0, 0), [rect(x0, 0, x0 + 0.01, 0.01)], "NewBody", "OneSide", 0.01)
        return occ.build_solid(parse_sequence(b.json()))

    assert volumetric_iou(box(0), box(0)) == pytest.approx(1.0, abs=1e-9)
    assert volumetric_iou(box(0), box(0.005)) == pytest.approx(1 / 3, rel=1e-6)  # half overlap: 0.5/1.5
    assert volumetric_iou(box(0), box(0.02)) == pytest.approx(0.0, abs=1e-12)


def code(*loops, extents=(10,), op=Operation.NEW_BODY, extent_type=ExtentType.ONE_SIDE) -> ExtrudeCode:
    return ExtrudeCode((128, 128, 128), (100, 100, 100), 50, tuple(loops), op, extent_type, extents)


LINE = lambda x, y: CurveCode(CurveKind.LINE, (x, y))  # noqa: E731
ARC = lambda x, y, s: CurveCode(CurveKind.ARC, (x, y, s))  # noqa: E731
CIRCLE = lambda x, y, r: CurveCode(CurveKind.CIRCLE, (x, y, r))  # noqa: E731
SQUARE = (LINE(10, 0), LINE(10, 10), LINE(0, 10), LINE(0, 0))


def test_command_and_parameter_accuracy_as_deepcad_computes_them():
    truth = [code(SQUARE, (CIRCLE(5, 5, 2),))]
    # commands, EOS not counted: SOL L L L L SOL C Ext = 8; arguments: 4 x 2 + 3 + Ext's 11 = 22
    assert command_accuracy(truth, truth) == (1.0, 1.0)
    close = [code((LINE(12, 0), *SQUARE[1:]), (CIRCLE(5, 5, 2),))]
    assert command_accuracy(close, truth) == (1.0, 1.0)  # off by 2 < 3 levels
    far = [code((LINE(13, 0), *SQUARE[1:]), (CIRCLE(5, 5, 2),))]
    assert command_accuracy(far, truth) == (1.0, pytest.approx(21 / 22))
    wrong = [code(SQUARE, (LINE(5, 5),))]
    # the circle is a line: 7 of 8 commands; its 3 arguments are not counted: 19 of 19 right
    assert command_accuracy(wrong, truth) == (pytest.approx(7 / 8), 1.0)
    assert command_accuracy([], truth) == (0.0, 0.0)


def test_operation_and_extent_type_are_compared_exactly():
    truth = [code(SQUARE)]  # SOL L L L L Ext: 8 + 11 = 19 arguments
    cut = [code(SQUARE, op=Operation.CUT)]  # index 0 -> 2: within 3 levels, but DeepCAD compares exactly
    assert command_accuracy(cut, truth) == (1.0, pytest.approx(18 / 19))
    sym = [code(SQUARE, extent_type=ExtentType.SYMMETRIC)]
    assert command_accuracy(sym, truth) == (1.0, pytest.approx(18 / 19))


def test_an_arcs_direction_is_exact_and_its_sweep_within_tolerance():
    truth = [code((LINE(10, 0), ARC(0, 0, 130)))]  # sweep 130: 2 levels counter-clockwise of the half
    assert command_accuracy([code((LINE(10, 0), ARC(0, 0, 131)))], truth) == (1.0, 1.0)
    mirrored = [code((LINE(10, 0), ARC(0, 0, 126)))]  # the same sweep clockwise: only the flag is wrong
    assert command_accuracy(mirrored, truth) == (1.0, pytest.approx(16 / 17))  # of 2 + 4 + 11
    flipped = [code((LINE(10, 0), ARC(0, 0, 122)))]  # sweep 6 levels (4 off), clockwise: 2 wrong
    assert command_accuracy(flipped, truth) == (1.0, pytest.approx(15 / 17))


def test_nothing_matched_scores_zero_not_one():
    truth = [code(SQUARE)]
    circle = [code((CIRCLE(5, 5, 2),))]  # SOL matches, the circle is no line, the Ext is off by one position
    acc_cmd, acc_param = command_accuracy(circle, truth)
    assert acc_cmd == pytest.approx(1 / 6) and acc_param == 0.0


def test_invalid_ratio():
    assert invalid_ratio([True, False, True, True]) == 0.25 and invalid_ratio([]) == 0.0


def test_mesh_iou_of_watertight_meshes():
    from cadlib.metrics import voxel_iou

    for iou, tol in ((manifold_iou, 1e-9), (voxel_iou, 0.02)):
        assert iou(cube(), cube()) == pytest.approx(1.0)
        assert iou(cube(), cube((0.5, 0, 0))) == pytest.approx(1 / 3, abs=tol)  # half overlap
        assert iou(cube(), cube((2.0, 0, 0))) == 0.0


def test_manifold_iou_refuses_an_open_surface():
    with pytest.raises(ValueError, match="not a closed manifold"):
        manifold_iou(Mesh(cube().vertices, CUBE_FACES[:-2]), cube())


def _occupancy_one_triangle_at_a_time(mesh: Mesh, lo, hi, n: int) -> np.ndarray:
    """The reference: voxel occupancy with a Python loop over triangles and columns (what the
    vectorised `voxel_occupancy` replaced)."""
    step = (hi - lo) / n
    xs = lo[0] + (np.arange(n) + 0.5 + 1e-4) * step[0]
    ys = lo[1] + (np.arange(n) + 0.5 + 2e-4) * step[1]
    zc = lo[2] + (np.arange(n) + 0.5) * step[2]
    hits: list[list[float]] = [[] for _ in range(n * n)]
    for a, b, c in mesh.vertices[mesh.faces]:
        i = np.nonzero((xs >= min(a[0], b[0], c[0])) & (xs <= max(a[0], b[0], c[0])))[0]
        j = np.nonzero((ys >= min(a[1], b[1], c[1])) & (ys <= max(a[1], b[1], c[1])))[0]
        d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if not len(i) or not len(j) or abs(d) < 1e-18:
            continue
        px, py = np.meshgrid(xs[i], ys[j], indexing="ij")
        w0 = ((b[1] - c[1]) * (px - c[0]) + (c[0] - b[0]) * (py - c[1])) / d
        w1 = ((c[1] - a[1]) * (px - c[0]) + (a[0] - c[0]) * (py - c[1])) / d
        w2 = 1 - w0 - w1
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        for ii, jj in zip(*np.nonzero((w0 >= 0) & (w1 >= 0) & (w2 >= 0)), strict=True):
            hits[i[ii] * n + j[jj]].append(float(z[ii, jj]))
    occ = np.zeros((n, n, n), dtype=bool)
    for k, zs in enumerate(hits):
        if zs:
            occ[k // n, k % n] = np.searchsorted(np.sort(zs), zc) % 2 == 1
    return occ


def test_vectorised_voxel_occupancy_matches_the_per_triangle_loop(monkeypatch):
    import trimesh

    from cadlib import metrics

    rotated = trimesh.creation.annulus(r_min=0.3, r_max=1.0, height=0.7, sections=40)
    rotated.apply_transform(trimesh.transformations.rotation_matrix(0.6, [1, 1, 0]))
    shapes = [cube(), Mesh(np.asarray(rotated.vertices), np.asarray(rotated.faces)),
              Mesh(*(np.asarray(x) for x in (trimesh.creation.icosphere(3).vertices,
                                              trimesh.creation.icosphere(3).faces)))]
    for mesh in shapes:
        lo, hi = mesh.vertices.min(0) - 0.05, mesh.vertices.max(0) + 0.05
        want = _occupancy_one_triangle_at_a_time(mesh, lo, hi, 24)
        assert want.any() and np.array_equal(metrics.voxel_occupancy(mesh, lo, hi, 24), want)
    monkeypatch.setattr(metrics, "PAIRS_PER_CHUNK", 7)  # many small chunks give the same grid
    assert np.array_equal(metrics.voxel_occupancy(shapes[1], lo, hi, 24),
                          _occupancy_one_triangle_at_a_time(shapes[1], lo, hi, 24))
