"""Metrics on known cases: identical shapes, the analytic Chamfer distance of a shifted cube,
exact IoU, DeepCAD's ACC_cmd / ACC_param on hand-made sequences."""

from __future__ import annotations

import numpy as np
import pytest

from cadlib.mesh import Mesh
from cadlib.metrics import chamfer, command_accuracy, invalid_ratio, sample_surface, volumetric_iou
from cadlib.protocols import PROTOCOLS, get_protocol, shape_chamfer
from cadlib.quantize import CurveCode, CurveKind, ExtrudeCode
from cadlib.sequence import ExtentType, Operation

CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def cube(shift=(0.0, 0.0, 0.0)) -> Mesh:
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float) + shift
    return Mesh(v, CUBE_FACES)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_identical_shapes_have_zero_chamfer(name):
    assert shape_chamfer(get_protocol(name), cube(), cube()) == 0.0


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


def code(*loops, extents=(10,), op=Operation.NEW_BODY) -> ExtrudeCode:
    return ExtrudeCode((128, 128, 128), (100, 100, 100), 50, tuple(loops), op, ExtentType.ONE_SIDE, extents)


LINE = lambda x, y: CurveCode(CurveKind.LINE, (x, y))  # noqa: E731
CIRCLE = lambda x, y, r: CurveCode(CurveKind.CIRCLE, (x, y, r))  # noqa: E731


def test_command_and_parameter_accuracy():
    truth = [code((LINE(10, 0), LINE(10, 10), LINE(0, 10), LINE(0, 0)), (CIRCLE(5, 5, 2),))]
    assert command_accuracy(truth, truth) == (1.0, 1.0)
    close = [code((LINE(12, 0), LINE(10, 10), LINE(0, 10), LINE(0, 0)), (CIRCLE(5, 5, 2),))]
    assert command_accuracy(close, truth) == (1.0, 1.0)  # off by 2 < 3 levels
    far = [code((LINE(13, 0), LINE(10, 10), LINE(0, 10), LINE(0, 0)), (CIRCLE(5, 5, 2),))]
    acc_cmd, acc_param = command_accuracy(far, truth)
    n_params = 8 + 3 + 11  # 4 lines, 1 circle, the Ext (3 angles, 3 origin, scale, op, type, 2 extents)
    assert acc_cmd == 1.0 and acc_param == pytest.approx((n_params - 1) / n_params)
    wrong = [code((LINE(10, 0), LINE(10, 10), LINE(0, 10), LINE(0, 0)), (LINE(5, 5),))]
    acc_cmd, acc_param = command_accuracy(wrong, truth)
    # commands: SOL L L L L SOL C Ext EOS -> the circle is wrong: 8 of 9
    assert acc_cmd == pytest.approx(8 / 9) and acc_param == 1.0
    assert command_accuracy([], truth)[0] == 0.0


def test_invalid_ratio():
    assert invalid_ratio([True, False, True, True]) == 0.25 and invalid_ratio([]) == 0.0


def test_mesh_iou_of_watertight_meshes():
    from cadlib.metrics import mesh_iou

    assert mesh_iou(cube(), cube()) == pytest.approx(1.0)
    assert mesh_iou(cube(), cube((0.5, 0, 0))) == pytest.approx(1 / 3, abs=0.02)  # half overlap
    assert mesh_iou(cube(), cube((2.0, 0, 0))) == 0.0
