"""The canonical frame of a sketch: the in-plane orientation a profile is quantised in.

A plane whose normal is a world axis gets its x axis turned onto the nearest in-plane world axis
(the profile turned with it), so the profile box lies inside the model box; a tilted plane whose
box the grid cannot hold is turned to the orientation with the smallest box it can
(`cadlib.quantize` says why).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cadlib.loops import canonical_loop
from cadlib.sequence import Arc, Circle, Extrude, Line, Loop, Profile, SketchPlane


class Collapsed(Exception):
    """A profile (or loop) the grid cannot represent: no size, or no orientation that fits."""


def _control_points(profile: Profile) -> np.ndarray:
    pts = []
    for lp in profile.loops:
        for c in lp.curves:
            if isinstance(c, Circle):
                pts += [(c.center[0] - c.radius, c.center[1] - c.radius), (c.center[0] + c.radius, c.center[1] + c.radius)]
            else:
                pts.append(c.end)
    return np.asarray(pts, dtype=float)


def canonical_frame(ex: Extrude, fits: Callable[[Extrude, np.ndarray, float], bool]) -> tuple[Extrude, np.ndarray, float]:
    """The extrude in its canonical in-plane orientation, its profile's corner and larger side:
    turned onto the world axes where its plane is normal to one; where `fits(extrude, corner,
    scale)` refuses that, the orientation (in half-degree steps) with the smallest box it accepts.

    Raises:
        Collapsed: the profile has no size, or no orientation fits.
    """
    ex = _axis_aligned(ex)
    pts = _control_points(ex.profile)
    corner = pts.min(axis=0)
    scale = float(np.max(pts.max(axis=0) - corner))
    if not scale > 0:
        raise Collapsed("the profile has no size (feature too small for the grid)")
    if fits(ex, corner, scale):
        return ex, corner, scale
    best = None
    for deg in np.arange(0.0, 90.0, 0.5):  # a box repeats every quarter turn
        a = math.radians(float(deg))
        cand = _turned(ex, math.cos(a), math.sin(a))
        p = _control_points(cand.profile)
        c = p.min(axis=0)
        s = float(np.max(p.max(axis=0) - c))
        if fits(cand, c, s) and (best is None or s < best[2] - 1e-12):
            best = (cand, c, s)
    if best is None:
        raise Collapsed(f"the profile ({scale:.3g} wide) overruns the grid's sketch frame (size < 2, corner in "
                         "[-1, 1)) in every orientation of its plane")
    return best


def _axis_aligned(ex: Extrude) -> Extrude:
    """A plane normal to a world axis with its x axis turned onto the nearest in-plane world axis."""
    n, x, y = (np.asarray(v) for v in (ex.plane.z_axis, ex.plane.x_axis, ex.plane.y_axis))
    if float(np.max(np.abs(n))) < 1.0 - 1e-9:
        return ex
    axes = [sign * np.eye(3)[i] for i in range(3) if abs(n[i]) < 0.5 for sign in (1.0, -1.0)]
    target = max(axes, key=lambda a: float(np.dot(a, x)))
    c, s = float(np.dot(target, x)), float(np.dot(target, y))
    if abs(s) < 1e-12 and c > 0:
        return ex
    return _turned(ex, c, s)


def _turned(ex: Extrude, c: float, s: float) -> Extrude:
    """The same extrude with the plane's x axis turned by the angle (cos c, sin s) about its normal."""
    x, y = np.asarray(ex.plane.x_axis), np.asarray(ex.plane.y_axis)
    plane = SketchPlane.from_axes(ex.plane.origin, c * x + s * y, ex.plane.z_axis)

    def p(uv) -> tuple[float, float]:
        return (uv[0] * c + uv[1] * s, -uv[0] * s + uv[1] * c)

    def curve(cu):
        if isinstance(cu, Line):
            return Line(p(cu.start), p(cu.end))
        if isinstance(cu, Arc):
            return Arc(p(cu.start), p(cu.end), cu.sweep)
        return Circle(p(cu.center), cu.radius)

    loops = [canonical_loop(Loop(tuple(curve(cu) for cu in lp.curves))) for lp in ex.profile.loops]
    holes = sorted(loops[1:], key=lambda lp: tuple(np.round(lp.points().min(axis=0), 9)))
    return Extrude(plane, Profile((loops[0], *holes)), ex.operation, ex.extent_type, ex.extent_one, ex.extent_two)
