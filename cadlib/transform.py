"""Pure transforms of a CadSequence: move, scale, and normalise to the unit box."""

from __future__ import annotations

import numpy as np

from cadlib.sequence import Arc, CadSequence, Circle, Extrude, Line, Loop, Profile

NORM_FACTOR = 0.75
"""DeepCAD's normalisation: the model's largest half-size becomes 0.75, leaving room in [-1, 1]."""


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
    """
    lo, hi = seq.envelope()
    size = float(np.max(hi - lo))
    if not size > 0:
        raise ValueError(f"{seq.name or 'sequence'}: has no extent to normalise")
    scale = 2.0 * half_size / size
    return transformed(seq, scale=scale, offset=-(lo + hi) / 2.0 * scale)


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
