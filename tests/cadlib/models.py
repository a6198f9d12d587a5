"""Small models with known volumes, written in DeepCAD JSON by the project's own builder."""

from __future__ import annotations

from cadlib import CadSequence, parse_sequence
from cadlib.synth import ModelBuilder, circle, rect, rounded_rect, slot


def sequence_of(builder: ModelBuilder, name: str = "fixture") -> CadSequence:
    return parse_sequence(builder.json(), name=name)


def cube(side: float = 5.0) -> CadSequence:
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, side, side)], "NewBody", "OneSide", side)
    return sequence_of(b, "cube")


def plate_with_hole(w=10.0, h=10.0, t=2.0, r=2.0) -> CadSequence:
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, w, h), circle((w / 2, h / 2), r)], "NewBody", "OneSide", t)
    return sequence_of(b, "plate_with_hole")


def pocket() -> CadSequence:
    """10x10x10 block with a 4x4 pocket 5 deep cut from the top: 1000 - 80."""
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 10, 10)], "NewBody", "OneSide", 10)
    b.extrude("xy", (0, 0, 10), [rect(3, 3, 7, 7)], "Cut", "OneSide", -5)
    return sequence_of(b, "pocket")


def joined() -> CadSequence:
    """10x10x2 plate with a 2x2x3 post on top: 200 + 12."""
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 10, 10)], "NewBody", "OneSide", 2)
    b.extrude("xy", (0, 0, 2), [rect(4, 4, 6, 6)], "Join", "OneSide", 3)
    return sequence_of(b, "joined")


def symmetric() -> CadSequence:
    """4x5 rectangle extruded 3 each way: 4*5*6."""
    b = ModelBuilder()
    b.extrude("xz", (0, 0, 0), [rect(0, 0, 4, 5)], "NewBody", "Symmetric", 3)
    return sequence_of(b, "symmetric")


def two_sided() -> CadSequence:
    """4x5 rectangle extruded 3 along and 2 against the normal: 4*5*5."""
    b = ModelBuilder()
    b.extrude("yz", (0, 0, 0), [rect(0, 0, 4, 5)], "NewBody", "TwoSides", 3, 2)
    return sequence_of(b, "two_sided")


def slot_plate() -> CadSequence:
    """A stadium (arcs) 6 long between centres, radius 2, 1 thick: (6*4 + pi*4) * 1."""
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [slot(0, 0, 6, 2)], "NewBody", "OneSide", 1)
    return sequence_of(b, "slot")


def rounded_plate() -> CadSequence:
    """10x6 rectangle with corner radius 1, 2 thick: (60 - (4 - pi)) * 2."""
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rounded_rect(0, 0, 10, 6, 1)], "NewBody", "OneSide", 2)
    return sequence_of(b, "rounded")


def intersected() -> CadSequence:

    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 10, 10)], "NewBody", "OneSide", 10)
    b.extrude("yz", (0, 0, 0), [rect(3, 3, 7, 7)], "Intersect", "OneSide", 20)
    return sequence_of(b, "intersected")
