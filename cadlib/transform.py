"""Pure transforms of a CadSequence: move, scale, and normalise to the unit box."""

from __future__ import annotations

import math

import numpy as np

from cadlib.sequence import Arc, CadSequence, Circle, Extrude, Line, Loop, Profile

NORM_FACTOR = 0.75
"""DeepCAD's normalisation: the model's largest half-size becomes 0.75, leaving room in [-1, 1]."""

CENTRE_STEP = 2.0 ** -7
"""The step a model already centred to within one step is moved by (`normalize`): the 8-bit origin
grid's (2/2^8), a whole number of steps of every finer grid."""

SCALE_SNAP = 1.0 / 64
"""A normalising scale this close (relative) to a power of two is that power of two: above what
quantising does to a model's size (at most two 8-bit steps in 1.5, 1/96)."""


def transformed(seq: CadSequence, *, scale: float = 1.0, offset=(0.0, 0.0, 0.0)) -> CadSequence:
    """The sequence mapped by p -> scale * p + offset (a similarity; `scale` > 0).

    `unit_mm` follows the scale, so the result still knows its size in millimetres.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    off = np.asarray(offset, dtype=float)
    out = []
    for ex in seq.extrudes:
        plane = ex.plane.moved_to(np.asarray(ex.plane.origin) * scale + off)
        out.append(
            Extrude(
                plane,
                _scaled_profile(ex.profile, scale),
                ex.operation,
                ex.extent_type,
                ex.extent_one * scale,
                ex.extent_two * scale,
            )
        )
    return CadSequence(tuple(out), name=seq.name, unit_mm=seq.unit_mm / scale)


def normalize(seq: CadSequence, *, half_size: float = NORM_FACTOR) -> CadSequence:
    """Centres the sequence's envelope box at the origin and scales its largest half-size to
    `half_size` (DeepCAD's NORM_FACTOR by default).

    DeepCAD scales about the file's origin without centring; centring uses the quantisation range
    evenly whatever the file's origin, so small models far from their origin keep their precision.

    A model that is normalised already is not moved off its grid: along an axis where it is
    centred to within one `CENTRE_STEP` it moves by whole steps (zero or one), and a scale within
    `SCALE_SNAP` of a power of two is that power of two. Both moves are exact in binary floating
    point, so numbers on a grid of 8 or more bits stay on it, and a model written from its own
    quantised sequence (the synthetic generator's parts, an exported reconstruction) normalises to
    that sequence exactly, which the dataset build then needs to check no further
    (`cadlib.fidelity.same_sequence`). Any other model is centred and scaled exactly as before. The
    box fits in [-0.77, 0.77]^3: centred within half a step, its largest half-size within 1/64 of
    `half_size`.
    """
    lo, hi = seq.envelope()
    size = float(np.max(hi - lo))
    if not size > 0:
        raise ValueError(f"{seq.name or 'sequence'}: has no extent to normalise")
    scale = snapped_scale(2.0 * half_size / size)
    offset = -(lo + hi) / 2.0 * scale
    near = np.abs(offset) <= CENTRE_STEP  # centred already, to within a step: moved by whole steps
    offset[near] = np.round(offset[near] / CENTRE_STEP) * CENTRE_STEP
    return transformed(seq, scale=scale, offset=offset)


def snapped_scale(scale: float) -> float:
    """`scale`, or the power of two it is within `SCALE_SNAP` of (relative)."""
    power = 2.0 ** round(math.log2(scale))
    return power if abs(scale / power - 1.0) <= SCALE_SNAP else scale


def _scaled_profile(profile: Profile, s: float) -> Profile:
    return Profile(tuple(Loop(tuple(_scaled_curve(c, s) for c in lp.curves)) for lp in profile.loops))


def _scaled_curve(c, s: float):
    if isinstance(c, Line):
        return Line(_mul(c.start, s), _mul(c.end, s))
    if isinstance(c, Arc):
        return Arc(_mul(c.start, s), _mul(c.end, s), c.sweep)
    if isinstance(c, Circle):
        return Circle(_mul(c.center, s), c.radius * s)
    raise TypeError(type(c).__name__)


def _mul(p, s: float) -> tuple[float, float]:
    return (float(p[0]) * s, float(p[1]) * s)




def in_mm(seq: CadSequence) -> CadSequence:
    """The sequence scaled so that one unit is a millimetre (by its `unit_mm`)."""
    return seq if seq.unit_mm == 1.0 else transformed(seq, scale=seq.unit_mm)
