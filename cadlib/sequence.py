"""The typed CAD sequence: sketch planes, curves, loops, profiles, extrudes.

This is the sketch-and-extrude model of DeepCAD and the Fusion 360 Gallery. Every entity is a
frozen dataclass; transforms return new objects. Curves live in the 2D coordinates of their sketch
plane; the plane places them in 3D.

A curve stores both its end points so that each one is usable on its own; inside a `Loop` the
curves are chained (each curve starts where the previous one ends, and the last one ends where the
first one starts), which is what the sequence text relies on to store one point per curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypedDict

import numpy as np

Point2 = tuple[float, float]
Vec3 = tuple[float, float, float]


class Operation(Enum):
    """How an extrude's body combines with the body built so far."""

    NEW_BODY = "new"
    JOIN = "join"
    CUT = "cut"
    INTERSECT = "intersect"


class ExtentType(Enum):
    """How far an extrude goes, measured from its sketch plane along the plane normal."""

    ONE_SIDE = "one"  # from 0 to extent_one (negative goes against the normal)
    SYMMETRIC = "sym"  # from -extent_one to +extent_one (DeepCAD's convention: extent_one each way)
    TWO_SIDES = "two"  # extent_one along the normal and extent_two against it


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        raise ValueError("zero-length axis")
    return v / n


@dataclass(frozen=True, slots=True)
class SketchPlane:
    """A right-handed frame: origin, x and y axes in the plane, z the normal (extrude direction)."""

    origin: Vec3
    x_axis: Vec3
    y_axis: Vec3
    z_axis: Vec3

    @classmethod
    def from_axes(cls, origin, x_axis, z_axis) -> SketchPlane:
        """Builds an orthonormal plane from an origin, an x direction and a normal."""
        z = _unit(np.asarray(z_axis, dtype=float))
        x = np.asarray(x_axis, dtype=float)
        x = _unit(x - np.dot(x, z) * z)
        y = np.cross(z, x)
        return cls(_tuple3(origin), _tuple3(x), _tuple3(y), _tuple3(z))

    @classmethod
    def from_angles(cls, origin, theta: float, phi: float, gamma: float) -> SketchPlane:
        """Builds a plane from the polar angles of its normal and the roll of its x axis.

        normal = (sin t cos p, sin t sin p, cos t); the reference x axis is (1,0,0) turned by the
        same rotations (R_z(p) R_y(t)); x is the reference turned by `gamma` about the normal.
        """
        st, ct, sp, cp = math.sin(theta), math.cos(theta), math.sin(phi), math.cos(phi)
        n = np.array([st * cp, st * sp, ct])
        ref_x = np.array([ct * cp, ct * sp, -st])
        ref_y = np.array([-sp, cp, 0.0])
        x = ref_x * math.cos(gamma) + ref_y * math.sin(gamma)
        return cls.from_axes(origin, x, n)

    def angles(self) -> tuple[float, float, float]:
        """The (theta, phi, gamma) of `from_angles`, theta in [0, pi], phi and gamma in (-pi, pi]."""
        n = np.asarray(self.z_axis)
        x = np.asarray(self.x_axis)
        theta = math.acos(max(-1.0, min(1.0, float(n[2]))))
        phi = math.atan2(float(n[1]), float(n[0])) if math.hypot(n[0], n[1]) > 1e-9 else 0.0
        st, ct, sp, cp = math.sin(theta), math.cos(theta), math.sin(phi), math.cos(phi)
        ref_x = np.array([ct * cp, ct * sp, -st])
        ref_y = np.array([-sp, cp, 0.0])
        gamma = math.atan2(float(np.dot(x, ref_y)), float(np.dot(x, ref_x)))
        return theta, phi, gamma

    def to_world(self, uv: np.ndarray) -> np.ndarray:
        """Maps (N, 2) plane coordinates to (N, 3) world points."""
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        return (
            np.asarray(self.origin)
            + uv[:, :1] * np.asarray(self.x_axis)
            + uv[:, 1:2] * np.asarray(self.y_axis)
        )

    def moved_to(self, origin) -> SketchPlane:
        """The same orientation with another origin."""
        return SketchPlane(_tuple3(origin), self.x_axis, self.y_axis, self.z_axis)


def _tuple3(v) -> Vec3:
    a = np.asarray(v, dtype=float).reshape(3)
    return (float(a[0]), float(a[1]), float(a[2]))


@dataclass(frozen=True, slots=True)
class Line:
    """A straight segment from `start` to `end` in plane coordinates."""

    start: Point2
    end: Point2

    def reversed(self) -> Line:
        return Line(self.end, self.start)

    def sample(self, n: int = 2) -> np.ndarray:
        return np.array([self.start, self.end], dtype=float)


@dataclass(frozen=True, slots=True)
class Arc:
    """A circular arc from `start` to `end`, turning by `sweep` radians (> 0 counter-clockwise).

    |sweep| is in (0, 2*pi). The centre and radius follow from the chord and the sweep.
    """

    start: Point2
    end: Point2
    sweep: float

    def reversed(self) -> Arc:
        return Arc(self.end, self.start, -self.sweep)

    def center_radius(self) -> tuple[np.ndarray, float]:
        """The centre point and radius implied by the chord and the sweep."""
        s, e = np.asarray(self.start, dtype=float), np.asarray(self.end, dtype=float)
        chord = e - s
        d = float(np.linalg.norm(chord))
        if d < 1e-12 or abs(self.sweep) < 1e-12:
            raise ValueError("degenerate arc")
        half = self.sweep / 2.0
        left = np.array([-chord[1], chord[0]]) / d
        center = (s + e) / 2.0 + left * (d / 2.0) / math.tan(half)
        radius = d / (2.0 * abs(math.sin(half)))
        return center, radius

    def mid(self) -> np.ndarray:
        """The point half-way along the arc."""
        c, r = self.center_radius()
        a0 = math.atan2(self.start[1] - c[1], self.start[0] - c[0]) + self.sweep / 2.0
        return c + r * np.array([math.cos(a0), math.sin(a0)])

    def sample(self, n: int = 16) -> np.ndarray:
        c, r = self.center_radius()
        a0 = math.atan2(self.start[1] - c[1], self.start[0] - c[0])
        t = a0 + np.linspace(0.0, self.sweep, max(n, 2))
        return c + r * np.stack([np.cos(t), np.sin(t)], axis=1)


@dataclass(frozen=True, slots=True)
class Circle:
    """A full circle; always a loop on its own."""

    center: Point2
    radius: float

    def sample(self, n: int = 32) -> np.ndarray:
        t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
        return np.asarray(self.center) + self.radius * np.stack([np.cos(t), np.sin(t)], axis=1)


Curve = Line | Arc | Circle


@dataclass(frozen=True, slots=True)
class Loop:
    """A closed chain of curves (or one circle)."""

    curves: tuple[Curve, ...]

    def points(self) -> np.ndarray:
        """Dense points along the loop, for bounding boxes and areas."""
        return np.concatenate([c.sample() for c in self.curves], axis=0)

    def signed_area(self) -> float:
        """Shoelace area of the sampled loop (> 0 when counter-clockwise)."""
        if len(self.curves) == 1 and isinstance(self.curves[0], Circle):
            return math.pi * self.curves[0].radius ** 2
        p = self.points()
        x, y = p[:, 0], p[:, 1]
        return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@dataclass(frozen=True, slots=True)
class Profile:
    """A region of a sketch: the first loop is the outer boundary, the others are holes in it."""

    loops: tuple[Loop, ...]

    def points(self) -> np.ndarray:
        return np.concatenate([lp.points() for lp in self.loops], axis=0)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.points()
        return p.min(axis=0), p.max(axis=0)


@dataclass(frozen=True, slots=True)
class Extrude:
    """One sketch profile on a plane, extruded and combined with the body so far."""

    plane: SketchPlane
    profile: Profile
    operation: Operation
    extent_type: ExtentType
    extent_one: float
    extent_two: float = 0.0

    def span(self) -> tuple[float, float]:
        """(near, far) offsets along the plane normal that the extruded body covers."""
        if self.extent_type is ExtentType.ONE_SIDE:
            return (min(0.0, self.extent_one), max(0.0, self.extent_one))
        if self.extent_type is ExtentType.SYMMETRIC:
            e = abs(self.extent_one)
            return (-e, e)
        # Two prisms from the plane, one each way, fused (DeepCAD): both intervals contain 0.
        return (min(0.0, self.extent_one, -self.extent_two), max(0.0, self.extent_one, -self.extent_two))


@dataclass(frozen=True, slots=True)
class CadSequence:
    """An ordered list of extrudes; `name` says where it came from (file or model id)."""

    extrudes: tuple[Extrude, ...]
    name: str = field(default="", compare=False)
    unit_mm: float = field(default=1.0, compare=False)
    """Millimetres per unit of length (DeepCAD files are in metres: 1000; Fusion 360: 10)."""

    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box around every extruded profile (cuts included), from geometry alone.

        This is the box normalisation uses: it needs no solid modeller, and it contains the solid.
        """
        pts = []
        for ex in self.extrudes:
            world = ex.plane.to_world(ex.profile.points())
            n = np.asarray(ex.plane.z_axis)
            for off in ex.span():
                pts.append(world + off * n)
        allp = np.concatenate(pts, axis=0)
        return allp.min(axis=0), allp.max(axis=0)

    def counts(self) -> SequenceCounts:
        """Numbers of extrudes, loops and curves by kind."""
        out: SequenceCounts = {"extrudes": len(self.extrudes), "loops": 0, "lines": 0, "arcs": 0, "circles": 0}
        for ex in self.extrudes:
            for lp in ex.profile.loops:
                out["loops"] += 1
                for c in lp.curves:
                    out[_COUNTED[type(c)]] += 1
        return out


class SequenceCounts(TypedDict):
    """`CadSequence.counts`: extrudes, loops, and curves by kind."""

    extrudes: int
    loops: int
    lines: int
    arcs: int
    circles: int


_COUNTED: dict[type, Literal["lines", "arcs", "circles"]] = {Line: "lines", Arc: "arcs", Circle: "circles"}
