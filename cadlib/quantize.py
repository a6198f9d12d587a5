"""Quantisation of a normalised CadSequence to integer codes, and back.

The codes are what the sequence text spells out. Per extrude (DeepCAD's scheme, `bits` = 8):

| quantity | range | levels |
|---|---|---|
| plane angles theta, phi, gamma | [-pi, pi), wrapping | 2^bits, so quarter turns are exact |
| sketch origin x, y, z (the profile's lower-left corner) | [-1, 1) | 2^bits, step 2/2^bits |
| sketch scale (the profile's larger side) | (0, 2) | 2^bits, step 2/2^bits |
| profile points, circle radius (relative to origin and scale) | [0, 1] | 2^bits-1, step 1/(2^bits-2) |
| arc sweep (signed, counter-clockwise > 0) | (-2pi, 2pi) | 2^bits, step 4pi/2^bits |
| extents (version 2) | [-2, 2) | 2^(bits+1), step 2/2^bits (the origin step) |
| extents (version 1, headerless text) | [-2, 2) | 2^bits, step 4/2^bits |

Geometry is expected normalised (`cadlib.transform.normalize`): the model then fits in
[-0.75, 0.75]^3, so origins and extents stay inside their ranges. Worst-case errors, in normalised
units, are half a step: origin 1/2^bits, scale 1/2^bits, profile points scale/(2*(2^bits-2)),
extents 2/2^bits; angles pi/2^bits.

Two choices keep the quantised solid the solid the source describes:

- **Faces snap as positions.** A version-2 extent is on the origin grid, and it is chosen so that
  the extruded face (for `sym`, the face along the normal) lands on the grid point nearest to where the source puts it (for a plane
  normal to an axis the sketch origin is on that grid too). Two bodies that touch in the source
  (a boss standing on a block) touch after quantisation; snapping the extent length on its own,
  with a step twice the origin's (DeepCAD, version 1), opened a one-step gap between them.
- **The profile frame is canonical and fits the grid.** A plane whose normal is a world axis gets
  its x axis turned onto the nearest world axis (the profile turned with it), so the profile box
  lies inside the model box; a tilted plane whose profile box would overrun the origin or scale
  range is turned to the orientation with the smallest box that fits. Before, a sketch with a
  turned x axis (a square seen as a diamond) had its scale or corner clipped, and the solid lost
  part of its body at any number of bits.

`quantize(seq)` snaps a sequence onto this grid; its result is a fixed point
(`quantize(quantize(s)) == quantize(s)`), and `decode(encode(s))` is that fixed point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from cadlib.errors import QuantizeError
from cadlib.sequence import (
    Arc,
    CadSequence,
    Circle,
    Curve,
    ExtentType,
    Extrude,
    Line,
    Loop,
    Operation,
    Profile,
    SketchPlane,
)
from cadlib.sketch_frame import Collapsed as _Collapsed
from cadlib.sketch_frame import canonical_frame

DEFAULT_BITS = 8
TEXT_VERSION = 2
"""The grid version new text is written in (1: DeepCAD's extent step, read for old headerless text)."""


class CurveKind(Enum):
    """The curve commands of the sequence text."""

    LINE = "line"  # end x, end y
    ARC = "arc"  # end x, end y, sweep
    CIRCLE = "circle"  # centre x, centre y, radius


@dataclass(frozen=True, slots=True)
class CurveCode:
    kind: CurveKind
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ExtrudeCode:
    """One extrude as integers: plane angles, origin, scale, loops, operation, extents."""

    angles: tuple[int, int, int]
    origin: tuple[int, int, int]
    scale: int
    loops: tuple[tuple[CurveCode, ...], ...]
    operation: Operation
    extent_type: ExtentType
    extents: tuple[int, ...]  # one value, or two for TWO_SIDES


@dataclass(frozen=True, slots=True)
class Grid:
    """The quantisation grid for a number of bits."""

    bits: int = DEFAULT_BITS
    version: int = TEXT_VERSION

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 16:
            raise ValueError(f"bits must be within 2..16, got {self.bits}")
        if self.version not in (1, 2):
            raise ValueError(f"grid version must be 1 or 2, got {self.version}")

    @property
    def levels(self) -> int:
        return 1 << self.bits

    # -- linear ranges [lo, lo + levels*step) --------------------------------------------------
    def _q(self, x: float, lo: float, step: float, qmin: int = 0) -> int:
        return int(min(self.levels - 1, max(qmin, round((x - lo) / step))))

    def q_origin(self, x: float) -> int:
        return self._q(x, -1.0, 2.0 / self.levels)

    def d_origin(self, q: int) -> float:
        return -1.0 + q * (2.0 / self.levels)

    def q_scale(self, x: float) -> int:
        return self._q(x, 0.0, 2.0 / self.levels, qmin=1)

    def d_scale(self, q: int) -> float:
        return q * (2.0 / self.levels)

    @property
    def extent_levels(self) -> int:
        return self.levels * 2 if self.version >= 2 else self.levels

    @property
    def extent_step(self) -> float:
        return 4.0 / self.extent_levels

    def q_extent(self, x: float) -> int:
        return int(min(self.extent_levels - 1, max(0, round((x + 2.0) / self.extent_step))))

    def d_extent(self, q: int) -> float:
        return -2.0 + q * self.extent_step

    def q_face(self, start: float, end: float) -> int:
        """The extent code that puts a face at `end`, measured from a plane at `start`.

        The face position is snapped onto the origin grid (so faces that coincide in the source
        coincide after quantisation); `start` is the quantised plane position. Version 2 only."""
        step = self.extent_step
        steps = round(end / step) - round(start / step)
        return int(min(self.extent_levels - 1, max(0, steps + self.extent_levels // 2)))

    @property
    def max_scale(self) -> float:
        return self.d_scale(self.levels - 1)

    def origin_fits(self, x: float) -> bool:
        half = 1.0 / self.levels  # half a step: rounding stays in range
        return -1.0 - half <= x <= self.d_origin(self.levels - 1) + half

    # -- profile coordinates: [0, 1] inclusive, an even number of steps -------------------------
    # 2^bits - 2 steps put 1/2 on the grid, so a circle that spans its frame (centre 1/2,
    # radius 1/2) is exact and re-measuring the decoded profile gives back the same frame.
    @property
    def unit_max(self) -> int:
        return self.levels - 2

    def q_unit(self, x: float) -> int:
        return int(min(self.unit_max, max(0, round(x * self.unit_max))))

    def d_unit(self, q: int) -> float:
        return q / self.unit_max

    # -- angles, wrapping ----------------------------------------------------------------------
    def q_angle(self, a: float) -> int:
        return int(round((a + math.pi) / (2 * math.pi / self.levels))) % self.levels

    def d_angle(self, q: int) -> float:
        return -math.pi + q * (2 * math.pi / self.levels)

    # -- arc sweep: signed, never zero ---------------------------------------------------------
    def q_sweep(self, a: float) -> int:
        half = self.levels // 2
        q = int(round(a / (4 * math.pi / self.levels)))
        if q == 0:
            q = 1 if a >= 0 else -1
        return int(min(self.levels - 1, max(1, q + half)))

    def d_sweep(self, q: int) -> float:
        return (q - self.levels // 2) * (4 * math.pi / self.levels)


def encode(seq: CadSequence, bits: int = DEFAULT_BITS, *, version: int = TEXT_VERSION) -> tuple[ExtrudeCode, ...]:
    """Integer codes of a normalised sequence (values outside a range are clipped to it).

    Curves that snapping shrinks to nothing are dropped, and so are holes that collapse.

    Raises:
        QuantizeError: an extrude's outer loop collapses at this resolution, or its profile is
            larger than the grid's frame in every orientation.
    """
    grid = Grid(bits, version)
    out = []
    for i, ex in enumerate(seq.extrudes):
        try:
            out.append(_encode_extrude(ex, grid))
        except _Collapsed as exc:
            raise QuantizeError(
                f"extrude {i + 1}: {exc} at {bits} bits", source=seq.name or None
            ) from None
    return tuple(out)


def decode(codes: tuple[ExtrudeCode, ...], bits: int = DEFAULT_BITS, *, name: str = "",
           version: int = TEXT_VERSION) -> CadSequence:
    """The sequence the codes describe: each plane's origin is its profile's lower-left corner."""
    grid = Grid(bits, version)
    return CadSequence(tuple(_decode_extrude(c, grid) for c in codes), name=name)


def quantize(seq: CadSequence, bits: int = DEFAULT_BITS, *, version: int = TEXT_VERSION) -> CadSequence:
    """Snaps a normalised sequence onto the grid; the result is a fixed point of `quantize`.

    Snapping moves control points, which can move the profile's lower-left corner or larger side
    and so the frame the next snapping uses; a second pass (rarely a third) settles it.
    """
    codes = encode(seq, bits, version=version)
    for _ in range(4):
        again = encode(decode(codes, bits, version=version), bits, version=version)
        if again == codes:
            break
        codes = again
    return decode(codes, bits, name=seq.name, version=version)


def dequantize(codes: tuple[ExtrudeCode, ...], bits: int = DEFAULT_BITS, *, version: int = TEXT_VERSION) -> CadSequence:
    """Alias of `decode`, named for symmetry with `quantize`."""
    return decode(codes, bits, version=version)




def _drop_collapsed(codes: list[CurveCode]) -> list[CurveCode] | None:
    """Removes curves that end where the previous one ends; None if the loop is gone."""
    if len(codes) == 1 and codes[0].kind is CurveKind.CIRCLE:
        return codes
    changed = True
    while changed and codes:
        changed = False
        for j in range(len(codes)):
            if codes[j].values[:2] == codes[j - 1].values[:2] and len(codes) > 1:
                del codes[j]
                changed = True
                break
    if len(codes) < 2 or (len(codes) == 2 and all(c.kind is CurveKind.LINE for c in codes)):
        return None
    return codes


def _fits(ex: Extrude, corner: np.ndarray, scale: float, g: Grid) -> bool:
    origin = ex.plane.to_world(corner)[0]
    return scale <= g.max_scale + 1e-9 and all(g.origin_fits(float(v)) for v in origin)


def _encode_extrude(ex: Extrude, g: Grid) -> ExtrudeCode:
    ex, corner, scale = canonical_frame(ex, lambda e, corner, scale: _fits(e, corner, scale, g))
    theta, phi, gamma = ex.plane.angles()  # phi is 0 when the normal is +-z
    q_scale = g.q_scale(scale)
    origin = ex.plane.to_world(corner)[0]

    def unit(p) -> tuple[int, int]:
        return (g.q_unit((p[0] - corner[0]) / scale), g.q_unit((p[1] - corner[1]) / scale))

    loops: list[tuple[CurveCode, ...]] = []
    for lp in ex.profile.loops:
        codes = []
        for c in lp.curves:
            if isinstance(c, Line):
                codes.append(CurveCode(CurveKind.LINE, unit(c.end)))
            elif isinstance(c, Arc):
                codes.append(CurveCode(CurveKind.ARC, (*unit(c.end), g.q_sweep(c.sweep))))
            else:
                cx, cy = unit(c.center)
                # Keep the circle inside its frame, so snapping never widens the frame.
                r = min(g.q_unit(c.radius / scale), cx, cy, g.unit_max - cx, g.unit_max - cy)
                codes.append(CurveCode(CurveKind.CIRCLE, (cx, cy, max(1, r))))
        kept = _drop_collapsed(codes)
        if kept is None:
            if not loops:
                raise _Collapsed("the outer loop collapses (feature too small for the grid)")
            continue  # a hole smaller than the grid vanishes
        loops.append(tuple(kept))
    q_origin = (g.q_origin(float(origin[0])), g.q_origin(float(origin[1])), g.q_origin(float(origin[2])))
    n = np.asarray(ex.plane.z_axis)
    at = float(np.dot(origin, n))  # where the sketch plane is, along its normal
    at_q = float(np.dot([g.d_origin(q) for q in q_origin], n))
    if g.version < 2:  # version 1 snaps lengths
        extents = tuple(g.q_extent(e) for e in (ex.extent_one, ex.extent_two)[: 2 if ex.extent_type is ExtentType.TWO_SIDES else 1])
    elif ex.extent_type is ExtentType.SYMMETRIC:
        # One number moves both faces: the face along the normal lands on the grid, the other
        # within a step and a half of its place.
        extents = (g.q_face(at_q, at + abs(ex.extent_one)),)
    elif ex.extent_type is ExtentType.TWO_SIDES:
        # extent_two is measured against the normal: its face is at -extent_two.
        extents = (g.q_face(at_q, at + ex.extent_one), g.q_face(-at_q, -(at - ex.extent_two)))
    else:
        extents = (g.q_face(at_q, at + ex.extent_one),)
    return ExtrudeCode(
        angles=(g.q_angle(theta), g.q_angle(phi), g.q_angle(gamma)),
        origin=q_origin,
        scale=q_scale,
        loops=tuple(loops),
        operation=ex.operation,
        extent_type=ex.extent_type,
        extents=extents,
    )


def _decode_extrude(code: ExtrudeCode, g: Grid) -> Extrude:
    origin = [g.d_origin(q) for q in code.origin]
    plane = SketchPlane.from_angles(origin, *(g.d_angle(q) for q in code.angles))
    u = g.d_scale(code.scale) / g.unit_max  # one sketch step; a point is q * u (CadQuery targets spell it so)

    def point(qx: int, qy: int) -> tuple[float, float]:
        return (qx * u, qy * u)

    loops = []
    for lc in code.loops:
        if len(lc) == 1 and lc[0].kind is CurveKind.CIRCLE:
            qx, qy, qr = lc[0].values
            loops.append(Loop((Circle(point(qx, qy), qr * u),)))
            continue
        ends = [point(c.values[0], c.values[1]) for c in lc]
        curves: list[Curve] = []
        for i, c in enumerate(lc):
            start = ends[i - 1]  # the first curve starts where the last one ends
            if c.kind is CurveKind.LINE:
                curves.append(Line(start, ends[i]))
            else:
                curves.append(Arc(start, ends[i], g.d_sweep(c.values[2])))
        loops.append(Loop(tuple(curves)))
    one = g.d_extent(code.extents[0])
    two = g.d_extent(code.extents[1]) if code.extent_type is ExtentType.TWO_SIDES else 0.0
    return Extrude(plane, Profile(tuple(loops)), code.operation, code.extent_type, one, two)
