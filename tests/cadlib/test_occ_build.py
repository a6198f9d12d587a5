"""Exact volumes of solids built from sequences, STEP round trips and tessellation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cadlib import BuildError, CadSequence, Operation, occ
from tests.cadlib import models

CASES = {
    "cube": (models.cube, 125.0),
    "plate_with_hole": (models.plate_with_hole, 200.0 - math.pi * 4 * 2),
    "pocket": (models.pocket, 1000.0 - 80.0),
    "joined": (models.joined, 212.0),
    "symmetric": (models.symmetric, 120.0),
    "two_sided": (models.two_sided, 100.0),
    "slot": (models.slot_plate, 24.0 + math.pi * 4),
    "rounded": (models.rounded_plate, (60.0 - (4 - math.pi)) * 2),
    "intersected": (models.intersected, 160.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_volume(name):
    make, expected = CASES[name]
    seq = make()
    shape = occ.build_solid(seq)
    assert occ.is_valid(shape)
    assert occ.count_solids(shape) == 1
    assert occ.volume(shape) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_raw_build_is_the_same_solid_unmerged(name):
    """build_raw skips face merging and BRepCheck only: same volume and bodies, more faces or as many."""
    from OCP.TopAbs import TopAbs_FACE
    from OCP.TopExp import TopExp_Explorer

    def faces(shape):
        exp, n = TopExp_Explorer(shape, TopAbs_FACE), 0
        while exp.More():
            n, _ = n + 1, exp.Next()
        return n

    make, expected = CASES[name]
    raw, built = occ.build_raw(make()), occ.build_solid(make())
    assert occ.volume(raw) == pytest.approx(expected, rel=1e-9)
    assert occ.count_solids(raw) == occ.count_solids(built) == 1
    assert faces(raw) >= faces(built)


def test_cube_bbox_and_units():
    seq = models.cube()
    assert seq.unit_mm == 1000.0  # DeepCAD JSON is in metres
    lo, hi = occ.bbox(occ.build_solid(seq))
    np.testing.assert_allclose(lo, [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(hi, [5, 5, 5], atol=1e-7)


def test_symmetric_spans_both_sides_of_the_plane():
    lo, hi = occ.bbox(occ.build_solid(models.symmetric()))
    # "xz" sketch: normal is -y, so the body spans y in [-3, 3]
    assert lo[1] == pytest.approx(-3, abs=1e-7) and hi[1] == pytest.approx(3, abs=1e-7)


def test_two_sided_spans_asymmetrically():
    lo, hi = occ.bbox(occ.build_solid(models.two_sided()))
    # "yz" sketch: normal is +x; 3 along it, 2 against it
    assert lo[0] == pytest.approx(-2, abs=1e-7) and hi[0] == pytest.approx(3, abs=1e-7)


def test_cut_first_is_a_build_error():
    seq = models.pocket()
    only_cut = CadSequence(seq.extrudes[1:], name="cut-only")
    assert only_cut.extrudes[0].operation is Operation.CUT
    with pytest.raises(BuildError, match="cut-only.*nothing to act on"):
        occ.build_solid(only_cut)


def test_step_round_trip(tmp_path):
    shape = occ.build_solid(models.pocket())
    path = occ.write_step(shape, tmp_path / "pocket.step")
    back = occ.read_step(path)
    assert occ.volume(back) == pytest.approx(920.0, rel=1e-6)
    assert occ.is_valid(back)
    assert not list(tmp_path.glob("*.tmp*"))  # atomic write leaves no temp file


def test_read_step_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.step"
    bad.write_text("ISO-10303-21;\nthis is not step\n")
    with pytest.raises(Exception, match="broken.step"):
        occ.read_step(bad)


def test_tessellation_is_closed_and_outward():
    mesh = occ.tessellate(occ.build_solid(models.plate_with_hole()))
    assert mesh.faces.shape[1] == 3 and len(mesh.faces) > 10
    # a closed, outward mesh has the solid's volume (up to chordal error on the hole)
    assert mesh.volume() == pytest.approx(200.0 - math.pi * 8, rel=2e-3)
    cube = occ.tessellate(occ.build_solid(models.cube()))
    assert cube.volume() == pytest.approx(125.0, rel=1e-12)
    assert cube.area() == pytest.approx(150.0, rel=1e-12)
