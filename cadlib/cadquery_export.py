"""CadSequence -> a CadQuery script in the style CAD-Recode and cadrille train on.

One `cq.Workplane` per extrude on the extrude's sketch plane (`cq.Plane(origin, xDir, normal)`),
its loops drawn with `moveTo`/`lineTo`/`threePointArc`/`close` and `circle`, extruded over the
extrude's span, and combined with `union`/`cut`/`intersect`. The model ends in the variable
`result` (a `cq.Workplane`).

Two spellings:

- `cadquery_target(text)`, the training target: the numbers of the sequence text. Each sketch
  defines its grid step (`u0 = 0.296875 / 254`: the sketch's size over the grid's steps) and writes
  every point as an integer times it (`lineTo(254 * u0, 127 * u0)`), exactly the arithmetic of the
  sequence decoder, so CadQuery builds bit-for-bit the points cadrecon builds: faces that meet in
  the sequence's solid meet in CadQuery's (a 6-decimal rounding left 1e-7 gaps that CadQuery kept
  as separate solids). Plane origins, offsets and depths are grid values written exactly; arc
  mid-points are written to 12 decimals. No float noise such as `9.18485099e-17`.
- `to_cadquery(seq)`: any sequence (in millimetres, say), every number to 12 decimals.

The script is executed by the real `cadquery` package in validation (`cadlib.cadquery_exec`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cadlib.quantize import DEFAULT_BITS, decode
from cadlib.sequence import Arc, CadSequence, Circle, Extrude, Line, Operation
from cadlib.text import parse_text

RESULT = "result"
"""The variable that holds the model when the script has run."""

_COMBINE = {Operation.JOIN: "union", Operation.NEW_BODY: "union", Operation.CUT: "cut", Operation.INTERSECT: "intersect"}


def _exact(x: float) -> str:
    """The shortest decimal that reads back as the same float, once float noise (< 1e-12) is gone;
    never in exponent notation."""
    v = round(float(x), 12)
    return "0" if v == 0 else np.format_float_positional(v, unique=True, trim="-")


def _v(v) -> str:
    return f"({_exact(v[0])}, {_exact(v[1])}, {_exact(v[2])})"


def to_cadquery(seq: CadSequence) -> str:
    """A CadQuery script that rebuilds any `seq` into `result` (numbers to 12 decimals)."""
    return _script(seq, [None] * len(seq.extrudes))


def cadquery_target(text: str, bits: int = DEFAULT_BITS, *, source: str | None = None) -> str:
    """The CadQuery training target of a sequence text: the same solid, on the text's own grid
    (its header's; `bits` only for old headerless text).

    Raises:
        TextSyntaxError: the text does not parse.
    """
    grid, codes = parse_text(text, bits, source=source)
    seq = decode(codes, grid.bits, version=grid.version)
    steps = []
    for c in codes:
        steps.append((_exact(grid.d_scale(c.scale)), grid.unit_max, c))
    return _script(seq, steps)


def _script(seq: CadSequence, steps: list) -> str:
    out = ["import cadquery as cq", ""]
    for i, (ex, step) in enumerate(zip(seq.extrudes, steps, strict=True)):
        if step is None:
            num: Callable[[float, int | None], str] = _plain_number
        else:
            out.append(f"u{i} = {step[0]} / {step[1]}")
            num = _grid_number(f"u{i}")
        out.append(f"w{i} = " + _workplane(ex))
        body = _body(ex, f"w{i}", num, step[2] if step else None)
        out.append(f"r = {body}" if i == 0 else f"r = r.{_COMBINE[ex.operation]}({body})")
    out.append(f"{RESULT} = r")
    return "\n".join(out) + "\n"


def _plain_number(x: float, q: int | None) -> str:
    return _exact(x)


def _grid_number(step: str) -> Callable[[float, int | None], str]:
    """Spells a sketch coordinate as its grid integer times the sketch's step variable."""
    def spell(x: float, q: int | None) -> str:
        if q is None:  # no grid integer for this value: spelled as a number
            return _exact(x)
        return "0" if q == 0 else f"{q} * {step}"
    return spell


def _workplane(ex: Extrude) -> str:
    pl = ex.plane
    return f"cq.Workplane(cq.Plane(origin={_v(pl.origin)}, xDir={_v(pl.x_axis)}, normal={_v(pl.z_axis)}))"


def _body(ex: Extrude, wp: str, num: Callable[[float, int | None], str], code) -> str:
    """The chain that draws and extrudes one profile; `num(value, grid integer)` spells a coordinate."""
    near, far = ex.span()
    chain = [wp]
    if abs(near) > 1e-12:
        chain.append(f"workplane(offset={_exact(near)})")
    for li, lp in enumerate(ex.profile.loops):
        qs = [cur.values for cur in code.loops[li]] if code is not None else [(None,) * 3] * len(lp.curves)

        def pt(p, q) -> str:
            return f"({num(p[0], q[0])}, {num(p[1], q[1])})"

        first = lp.curves[0]
        if isinstance(first, Circle):
            chain.append(f"moveTo{pt(first.center, qs[0])}.circle({num(first.radius, qs[0][2])})")
            continue
        chain.append(f"moveTo{pt(first.start, qs[-1])}")  # a loop starts where its last curve ends
        for c, q in zip(lp.curves, qs, strict=True):
            if isinstance(c, Line):
                chain.append(f"lineTo{pt(c.end, q)}")
            elif isinstance(c, Arc):
                m = c.mid()
                chain.append(f"threePointArc(({_exact(m[0])}, {_exact(m[1])}), {pt(c.end, q)})")
        chain.append("close()")
    chain.append(f"extrude({_exact(far - near)})")
    return ".".join(chain)
