"""Quantisation keeps the solid: long sequences on sketch planes of every orientation (turned x
axes, tilted planes, cut/join mixes) round-trip through 16-bit text within 1% of their volume, and
bodies that touch in the source still touch at 8 bits."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadlib import from_text, normalize, occ, quantize, to_text
from cadlib.errors import CadlibError
from cadlib.fidelity import check_quantised
from cadlib.sequence import (
    CadSequence,
    Circle,
    ExtentType,
    Extrude,
    Line,
    Loop,
    Operation,
    Profile,
    SketchPlane,
)
from tests.cadlib import models

AXES = [np.eye(3)[i] * s for i in range(3) for s in (1.0, -1.0)]


def _rect(x0, y0, w, h) -> Loop:
    p = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    return Loop(tuple(Line(p[i], p[(i + 1) % 4]) for i in range(4)))


@st.composite
def extrudes(draw, first: bool):
    if draw(st.booleans()):
        z = AXES[draw(st.integers(0, 5))]
    else:
        z = np.array([draw(st.floats(-1, 1)) for _ in range(3)])
        if np.linalg.norm(z) < 0.2:
            z = np.array([0.0, 0.0, 1.0])
    z = z / np.linalg.norm(z)
    helper = AXES[0] if abs(z[0]) < 0.9 else AXES[2]
    x0 = np.cross(z, helper)
    x0 /= np.linalg.norm(x0)
    turn = draw(st.floats(0, 2 * math.pi))  # the sketch's x axis turned in its plane
    x = x0 * math.cos(turn) + np.cross(z, x0) * math.sin(turn)
    plane = SketchPlane.from_axes([draw(st.floats(-20, 20)) for _ in range(3)], x, z)
    if draw(st.booleans()):
        w, h = draw(st.floats(3, 25)), draw(st.floats(3, 25))
        loops = (_rect(-w / 2, -h / 2, w, h),)
        if draw(st.booleans()):
            loops += (Loop((Circle((0.0, 0.0), min(w, h) / 4),)),)
    else:
        loops = (Loop((Circle((draw(st.floats(-5, 5)), draw(st.floats(-5, 5))), draw(st.floats(2, 10))),)),)
    op = Operation.NEW_BODY if first else draw(st.sampled_from([Operation.JOIN, Operation.JOIN, Operation.CUT]))
    et = draw(st.sampled_from(list(ExtentType)))
    e1 = draw(st.floats(2, 15)) * draw(st.sampled_from([1, -1]))
    e2 = draw(st.floats(2, 15)) if et is ExtentType.TWO_SIDES else 0.0
    return Extrude(plane, Profile(loops), op, et, e1, e2)


@st.composite
def long_sequences(draw):
    n = draw(st.integers(2, 16))
    return CadSequence(tuple(draw(extrudes(i == 0)) for i in range(n)), name="generated")


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(long_sequences())
def test_long_multi_plane_sequences_round_trip_at_16_bits(seq):
    """Within 1% of the volume, or flagged: OCCT's booleans can still go wrong where two faces lie
    a grid step apart (shrinking drives the generator to exactly such coincidences); the dataset's
    fidelity check then drops the model, so a changed solid is never kept silently."""
    seq = normalize(seq)
    try:
        v0 = occ.volume(occ.build_solid(seq))
    except CadlibError:
        return  # the source itself does not build (a cut of nothing, say)
    if v0 < 1e-3:
        return
    back = from_text(to_text(seq, 16))
    try:
        v1 = occ.volume(occ.build_solid(back))
    except CadlibError:
        return  # the quantised rebuild fails: extract's check raises QuantisationChangesTopology
    if abs(v1 - v0) > 0.01 * v0:
        with pytest.raises(CadlibError):
            check_quantised(seq, back, min_iou=0.99)


def test_seeded_random_long_sequences_keep_their_volume_at_16_bits():
    """The rate, on sequences drawn without shrinking: 2-16 extrudes on planes of every orientation."""
    import random

    rng = random.Random(7)
    ok = n = 0
    for _ in range(60):
        seq = normalize(_random_sequence(rng))
        try:
            v0 = occ.volume(occ.build_solid(seq))
        except CadlibError:
            continue
        if v0 < 1e-3:
            continue
        n += 1
        with contextlib.suppress(CadlibError):  # a rebuild that fails counts as not kept
            ok += abs(occ.volume(occ.build_solid(from_text(to_text(seq, 16)))) - v0) <= 0.01 * v0
    print(f"\nseeded random long sequences: {ok}/{n} keep their volume within 1% at 16 bits")
    assert n >= 30 and ok / n >= 0.97, (ok, n)


def _random_sequence(rng) -> CadSequence:
    out = []
    for i in range(rng.randint(2, 16)):
        z = AXES[rng.randrange(6)] if rng.random() < 0.5 else np.array([rng.gauss(0, 1) for _ in range(3)])
        z = z / (np.linalg.norm(z) or 1.0)
        helper = AXES[0] if abs(z[0]) < 0.9 else AXES[2]
        x0 = np.cross(z, helper)
        x0 /= np.linalg.norm(x0)
        t = rng.uniform(0, 2 * math.pi)
        plane = SketchPlane.from_axes([rng.uniform(-20, 20) for _ in range(3)], x0 * math.cos(t) + np.cross(z, x0) * math.sin(t), z)
        w, h = rng.uniform(3, 25), rng.uniform(3, 25)
        loops = (_rect(-w / 2, -h / 2, w, h),) if rng.random() < 0.6 else (Loop((Circle((0.0, 0.0), rng.uniform(2, 10)),)),)
        op = Operation.NEW_BODY if i == 0 else rng.choice([Operation.JOIN, Operation.JOIN, Operation.CUT])
        et = rng.choice(list(ExtentType))
        out.append(Extrude(plane, Profile(loops), op, et, rng.uniform(2, 15) * rng.choice([1, -1]),
                           rng.uniform(2, 15) if et is ExtentType.TWO_SIDES else 0.0))
    return CadSequence(tuple(out))


def test_a_profile_on_a_turned_sketch_frame_keeps_its_whole_body():
    """A square sketched in a frame turned by 45 degrees (a diamond in its own coordinates): its
    frame box is 1.41x the square, past the grid's scale range. It used to be clipped (11% of the
    volume lost at any bits); the canonical frame keeps it."""
    c = math.cos(math.pi / 4)
    plane = SketchPlane.from_axes((0, 0, 0), (c, c, 0), (0, 0, 1))
    corners = [(0, 0), (10, 0), (10, 10), (0, 10)]
    local = [(x * c + y * c, -x * c + y * c) for x, y in corners]
    loop = Loop(tuple(Line(local[i], local[(i + 1) % 4]) for i in range(4)))
    seq = normalize(CadSequence((Extrude(plane, Profile((loop,)), Operation.NEW_BODY, ExtentType.ONE_SIDE, 1.0),)))
    v0 = occ.volume(occ.build_solid(seq))
    assert occ.volume(occ.build_solid(from_text(to_text(seq, 16)))) == pytest.approx(v0, rel=0.001)
    # 8 bits: only the plate's thickness moves (one extent step of a thin plate), no part goes missing
    assert occ.volume(occ.build_solid(from_text(to_text(seq, 8)))) == pytest.approx(v0, rel=0.05)


@pytest.mark.parametrize("make", [models.joined, models.pocket])
def test_touching_bodies_stay_one_solid_at_8_bits(make):
    seq = normalize(make())
    got = check_quantised(seq, quantize(seq, 8))
    assert got.solids == 1 and got.iou > 0.95


def test_a_boss_on_a_block_stays_joined_at_8_bits_for_any_height():
    """Version-1 text snapped the block's extent as a length on a grid twice the origin's: the boss
    plane and the block's top face ended a step apart (two solids). Faces now snap as positions."""
    from cadlib.synth import ModelBuilder, circle, rect
    from tests.cadlib.models import sequence_of

    for h in range(8, 40, 3):
        b = ModelBuilder()
        b.extrude("xy", (0, 0, 0), [rect(-40, -30, 40, 30)], "NewBody", "Symmetric", h / 2)
        b.extrude("xy", (0, 0, h / 2), [circle((0, 0), 12)], "Join", "OneSide", 17)
        seq = normalize(sequence_of(b))
        assert occ.count_solids(occ.build_solid(quantize(seq, 8))) == 1, h


def _tilted_sequence(rng: np.random.Generator, n: int = 12) -> CadSequence:
    """A block on a tilted plane, then bosses and pockets sketched on its faces and on the faces
    earlier extrudes ended on, each sketch with its own origin in the plane (coplanar faces from
    different sketches), half of the extents ending on such a face, some sketched from the far side."""
    z = rng.normal(size=3)
    z /= np.linalg.norm(z)
    x = rng.normal(size=3)
    x -= np.dot(x, z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    unit = 0.05
    h = unit * rng.uniform(0.3, 1.0)
    out = [Extrude(SketchPlane.from_axes((0, 0, 0), x, z), Profile((_rect(0, 0, 2 * unit, 2 * unit),)),
                   Operation.NEW_BODY, ExtentType.ONE_SIDE, h)]
    levels = [0.0, h]
    for _ in range(n - 1):
        at = levels[rng.integers(len(levels))]
        shift = rng.uniform(-0.5, 0.5, 2) * unit
        flip = rng.random() < 0.3
        sign = -1.0 if flip else 1.0
        plane = SketchPlane.from_axes(z * at + x * shift[0] + y * shift[1], sign * x, sign * z)
        s = unit * rng.uniform(0.15, 0.7)
        cx, cy = rng.uniform(0.1, 1.5, 2) * unit - sign * shift
        if flip:
            cx = -cx - s
        loops = ((_rect(cx, cy, s, s * rng.uniform(0.4, 1.4)),) if rng.random() < 0.6
                 else (Loop((Circle((cx, cy), s / 2),)),))
        if rng.random() < 0.5:
            e = sign * (levels[rng.integers(len(levels))] - at) or 0.3 * unit
        else:
            e = rng.uniform(-0.8, 0.8) * unit
        et = ExtentType.ONE_SIDE if rng.random() < 0.7 else ExtentType.SYMMETRIC
        out.append(Extrude(plane, Profile(loops), Operation.JOIN if rng.random() < 0.5 else Operation.CUT, et, float(e)))
        levels.append(at + sign * e)
    return CadSequence(tuple(out), name="tilted")


def test_sketches_on_one_tilted_plane_keep_their_solids_at_16_bits(monkeypatch):
    """The long multi-plane sequences that still changed at 16 bits: a quantised origin is a grid
    point and its position along a tilted normal is not, so faces that two sketches share on a
    tilted plane miss each other by up to two steps, and the plain booleans leave a hair gap (a
    second solid) or join what was apart. Booleans of tilted sketches run fuzzy
    (`occ.build.TILTED_FUZZY`): every one keeps its bodies and volume, and the fidelity check keeps it.
    Without that, 11 of the first 40 seeds change their number of solids (the 8 here are of them);
    with it none of the 40 does."""
    from cadlib.occ import build

    def solids_and_volume(seq):
        shape = occ.build_solid(seq)
        return occ.count_solids(shape), occ.volume(shape)

    cases = [normalize(_tilted_sequence(np.random.default_rng(seed))) for seed in (1, 2, 4, 5, 16, 17, 29, 34)]
    for seq in cases:
        back = from_text(to_text(seq, 16))
        (n0, v0), (n1, v1) = solids_and_volume(seq), solids_and_volume(back)
        assert n1 == n0 and abs(v1 - v0) <= 1e-3 * v0, (n0, n1, v0, v1)
        assert check_quantised(seq, back).iou > 0.99
    monkeypatch.setattr(build, "TILTED_FUZZY", 0.0)  # exact booleans: the same cases split
    changed = sum(solids_and_volume(from_text(to_text(seq, 16)))[0] != solids_and_volume(seq)[0] for seq in cases)
    assert changed == len(cases), changed
