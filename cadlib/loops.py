"""Chaining loose curves into closed loops, and the canonical form of a loop.

CAD exports list a loop's curves in any order and direction. The sequence text stores one point per
curve, so a loop must be a proper chain; and a language model learns best from one canonical
spelling of each shape: counter-clockwise, starting at the lowest-left point (DeepCAD's choice).
"""

from __future__ import annotations

import numpy as np

from cadlib.sequence import Arc, Circle, Curve, Line, Loop


def chain_curves(curves: list[Curve], tol: float) -> Loop:
    """Orders and orients `curves` so that each starts where the previous one ends.

    Args:
        curves: open curves (lines, arcs) in any order and direction, or one circle.
        tol: largest gap between end points still taken as the same point.

    Raises:
        ValueError: the curves do not form one closed loop.
    """
    if len(curves) == 1 and isinstance(curves[0], Circle):
        return Loop((curves[0],))
    rest = _open_curves(curves)
    if not rest:
        raise ValueError("empty loop")
    chain = [rest.pop(0)]
    while rest:
        tail = np.asarray(chain[-1].end)
        best, flip, gap = -1, False, float("inf")
        for i, c in enumerate(rest):
            for rev, p in ((False, c.start), (True, c.end)):
                d = float(np.linalg.norm(np.asarray(p) - tail))
                if d < gap:
                    best, flip, gap = i, rev, d
        if gap > tol:
            raise ValueError(f"curves do not chain (gap {gap:.3g} at {tuple(tail.round(6))})")
        nxt = rest.pop(best)
        chain.append(nxt.reversed() if flip else nxt)
    closing = float(np.linalg.norm(np.asarray(chain[-1].end) - np.asarray(chain[0].start)))
    if closing > tol:
        raise ValueError(f"loop is not closed (gap {closing:.3g})")
    return Loop(tuple(_snap(chain)))


def _open_curves(curves: list[Curve] | tuple[Curve, ...]) -> list[Line | Arc]:
    out: list[Line | Arc] = []
    for c in curves:
        if isinstance(c, Circle):
            raise ValueError("a circle shares a loop with other curves")
        out.append(c)
    return out


def _snap(chain: list[Line | Arc]) -> list[Curve]:
    """Makes shared end points bit-identical (each curve starts at the previous curve's end)."""
    out: list[Curve] = []
    n = len(chain)
    for i, c in enumerate(chain):
        start = chain[i - 1].end if i > 0 else chain[n - 1].end
        out.append(_with_ends(c, start, c.end))
    return out


def _with_ends(c: Curve, start, end) -> Curve:
    start = (float(start[0]), float(start[1]))
    end = (float(end[0]), float(end[1]))
    if isinstance(c, Line):
        return Line(start, end)
    if isinstance(c, Arc):
        return Arc(start, end, c.sweep)
    raise TypeError(c)


def canonical_loop(loop: Loop) -> Loop:
    """Counter-clockwise, starting with the curve whose start point is lowest in (x, y)."""
    if len(loop.curves) == 1 and isinstance(loop.curves[0], Circle):
        return loop
    curves = _open_curves(loop.curves)
    if loop.signed_area() < 0:
        curves = [c.reversed() for c in reversed(curves)]
    keys = [(round(c.start[0], 9), round(c.start[1], 9)) for c in curves]
    k = min(range(len(curves)), key=lambda i: keys[i])
    ordered: list[Curve] = [*curves[k:], *curves[:k]]
    return Loop(tuple(ordered))
