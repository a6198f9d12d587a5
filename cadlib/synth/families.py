"""The classic part families: plates, brackets, shafts, flanges, bosses, pockets, slots, T-blocks.

Each family draws its sizes from wide ranges (a plate is 20-200 mm, its thickness 3-30% of its
width) and mixes arcs and circles in wherever the part allows (rounded corners, holes), so no
family is all straight lines. Lengths are whole millimetres (half millimetres for small radii).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from cadlib.deepcad_json import JsonCurve
from cadlib.synth.builder import (
    PLANES,
    ModelBuilder,
    circle,
    mm,
    polygon,
    rect,
    ring,
    rounded_rect,
    slot,
)

Family = Callable[[random.Random, ModelBuilder], None]
CLASSIC: dict[str, Family] = {}


def _family(fn: Family) -> Family:
    CLASSIC[fn.__name__] = fn
    return fn


def outline(rng: random.Random, x0, y0, x1, y1) -> list[JsonCurve]:
    """A rectangle, rounded half of the time (corner radius up to a quarter of the short side)."""
    if rng.random() < 0.5:
        return rect(x0, y0, x1, y1)
    r = min(x1 - x0, y1 - y0) * rng.uniform(0.08, 0.25)
    return rounded_rect(x0, y0, x1, y1, r)


@_family
def plate_with_holes(rng: random.Random, b: ModelBuilder) -> None:
    w, h = mm(rng, 20, 200), mm(rng, 20, 160)
    t = max(0.002, round(min(w, h) * rng.uniform(0.06, 0.3), 3))
    nx, ny = rng.choice([(1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (4, 1), (5, 1)])  # DeepCAD: 6 loops a sketch
    pitch = min(w / (nx + 1), h / (ny + 1))  # holes stay apart and inside the (rounded) outline
    r = max(0.001, round(min(min(w, h) * rng.uniform(0.04, 0.12), 0.35 * pitch), 4))
    holes = [circle((w * (i + 1) / (nx + 1), h * (j + 1) / (ny + 1)), r) for i in range(nx) for j in range(ny)]
    b.extrude(rng.choice(list(PLANES)), (0, 0, 0), [outline(rng, 0, 0, w, h), *holes], "NewBody", "OneSide", t)


@_family
def l_bracket(rng: random.Random, b: ModelBuilder) -> None:
    a, c, w = mm(rng, 20, 150), mm(rng, 20, 150), mm(rng, 15, 120)
    t = max(0.002, round(min(a, c) * rng.uniform(0.08, 0.3), 3))
    pts = [(0, 0), (a, 0), (a, t), (t, t), (t, c), (0, c)]
    b.extrude("xz", (0, 0, 0), [polygon(pts)], "NewBody", "Symmetric", w / 2)
    r = min(t, w / 6, (a - t) / 3)
    b.extrude("xy", (0, 0, t), [circle(((a + t) / 2, 0.0), r)], "Cut", "OneSide", -t)


@_family
def stepped_shaft(rng: random.Random, b: ModelBuilder) -> None:
    z, r = 0.0, mm(rng, 8, 60)
    for i in range(rng.randint(2, 5)):
        length = mm(rng, 5, 80)
        b.extrude("xy", (0, 0, z), [circle((0, 0), r)], "NewBody" if i == 0 else "Join", "OneSide", length)
        z += length
        r = max(0.003, r * rng.uniform(0.55, 0.9))
    if rng.random() < 0.6:  # a centre bore from the far end
        b.extrude("xy", (0, 0, z), [circle((0, 0), r / 2)], "Cut", "OneSide", -z * rng.uniform(0.2, 0.8))


@_family
def flange(rng: random.Random, b: ModelBuilder) -> None:
    R = mm(rng, 20, 120)
    t = max(0.003, round(R * rng.uniform(0.1, 0.35), 3))
    bore = R * rng.uniform(0.15, 0.35)
    n = rng.choice([3, 4])  # with the rim and the bore: DeepCAD's 6 loops per sketch
    pcd = (R + bore) / 2
    rb = min((R - bore) / 6, pcd * math.sin(math.pi / n) * 0.6)
    b.extrude("xy", (0, 0, 0), [circle((0, 0), R), circle((0, 0), bore), *ring((0, 0), pcd, n, rb, rng.uniform(0, 1))],
              "NewBody", "OneSide", t)
    hub = bore + (pcd - rb - bore) * rng.uniform(0.4, 0.9)
    b.extrude("xy", (0, 0, t), [circle((0, 0), hub), circle((0, 0), bore)], "Join", "OneSide", R * rng.uniform(0.2, 0.8))


@_family
def boss_on_block(rng: random.Random, b: ModelBuilder) -> None:
    w, d = mm(rng, 20, 180), mm(rng, 20, 180)
    h = max(0.003, round(min(w, d) * rng.uniform(0.15, 0.6), 3))
    b.extrude("xy", (0, 0, 0), [outline(rng, -w / 2, -d / 2, w / 2, d / 2)], "NewBody", "Symmetric", h / 2)
    r = min(w, d) * rng.uniform(0.12, 0.4)
    cx, cy = rng.uniform(-1, 1) * (w / 2 - r) * 0.8, rng.uniform(-1, 1) * (d / 2 - r) * 0.8
    b.extrude("xy", (0, 0, h / 2), [circle((cx, cy), r)], "Join", "OneSide", h * rng.uniform(0.4, 2.0))
    if rng.random() < 0.5:  # a blind hole in the boss
        b.extrude("xy", (0, 0, 0), [circle((cx, cy), r * 0.4)], "Cut", "Symmetric", h)


@_family
def pocketed_block(rng: random.Random, b: ModelBuilder) -> None:
    w, d = mm(rng, 20, 180), mm(rng, 20, 180)
    h = max(0.004, round(min(w, d) * rng.uniform(0.2, 0.7), 3))
    b.extrude("xy", (0, 0, 0), [rect(0, 0, w, d)], "NewBody", "OneSide", h)
    m = min(w, d) * rng.uniform(0.1, 0.25)
    b.extrude("xy", (0, 0, h), [rounded_rect(m, m, w - m, d - m, min(w, d) * rng.uniform(0.05, 0.2))],
              "Cut", "OneSide", -h * rng.uniform(0.3, 0.8))


@_family
def slotted_plate(rng: random.Random, b: ModelBuilder) -> None:
    w, h = mm(rng, 40, 200), mm(rng, 20, 120)
    t = max(0.002, round(min(w, h) * rng.uniform(0.08, 0.3), 3))
    plane = rng.choice(list(PLANES))
    b.extrude(plane, (0, 0, 0), [outline(rng, -w / 2, -h / 2, w / 2, h / 2)], "NewBody", "Symmetric", t / 2)
    r = h * rng.uniform(0.08, 0.2)
    n = rng.randint(1, 2)
    for k in range(n):
        cy = 0.0 if n == 1 else (k - 0.5) * h / 2
        b.extrude(plane, (0, 0, 0), [slot(0, cy, w * rng.uniform(0.2, 0.55), min(r, h / (4 * n)))], "Cut", "Symmetric", t)


@_family
def t_block(rng: random.Random, b: ModelBuilder) -> None:
    a, c = mm(rng, 30, 160), mm(rng, 30, 140)
    s, t = a * rng.uniform(0.2, 0.5), c * rng.uniform(0.15, 0.4)
    bar = [(-a / 2, c - t), (a / 2, c - t), (a / 2, c), (-a / 2, c)]
    stem = [(-s / 2, 0), (s / 2, 0), (s / 2, c - t), (-s / 2, c - t)]
    depth = mm(rng, 15, 120)
    # one profile, stem and bar as one outline: a T sketched as one loop (as a designer would)
    tee = [stem[0], stem[1], (s / 2, c - t), bar[1], bar[2], bar[3], bar[0], (-s / 2, c - t)]
    b.extrude("yz", (0, 0, 0), [polygon(tee)], "NewBody", "TwoSides", depth * 0.6, depth * 0.4)
    if rng.random() < 0.6:
        b.extrude("xy", (0, 0, c), [circle((0.0, 0.0), min(s, depth) * 0.25)], "Cut", "OneSide", -t)
