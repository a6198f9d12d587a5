"""Feature-rich part families: turned stacks with grooves, filleted pockets, hole patterns, ribs,
multi-step cuts, side-plane features, channels, tubes with flanges, gussets and cover plates.

These add what the classic families lack: sketches on side planes, long sequences (up to ~12
extrudes), cut/join mixes, and patterns. Every family carries arcs or circles.
"""

from __future__ import annotations

import math
import random

from cadlib.synth.builder import ModelBuilder, circle, mm, polygon, rect, ring, rounded_rect, slot
from cadlib.synth.families import Family, outline

FEATURES: dict[str, Family] = {}


def _family(fn: Family) -> Family:
    FEATURES[fn.__name__] = fn
    return fn


@_family
def turned_stack(rng: random.Random, b: ModelBuilder) -> None:
    """A revolve-like part: a stack of cylinders, then grooves cut as rings (circle with a hole)."""
    z, radii = 0.0, []
    for i in range(rng.randint(3, 6)):
        r, length = mm(rng, 6, 50), mm(rng, 4, 40)
        b.extrude("xy", (0, 0, z), [circle((0, 0), r)], "NewBody" if i == 0 else "Join", "OneSide", length)
        radii.append((z, length, r))
        z += length
    z0, length, r = max(radii, key=lambda t: t[1] * t[2])
    if length > 0.006:  # a groove in the longest, widest section
        depth = r * rng.uniform(0.1, 0.3)
        b.extrude("xy", (0, 0, z0 + length * 0.3), [circle((0, 0), r * 1.2), circle((0, 0), r - depth)],
                  "Cut", "OneSide", length * 0.4)
    b.extrude("xy", (0, 0, z), [circle((0, 0), min(r for _, _, r in radii) * 0.4)], "Cut", "OneSide", -z * rng.uniform(0.3, 1.0))


@_family
def filleted_pocket(rng: random.Random, b: ModelBuilder) -> None:
    """A block with a pocket whose corners are arcs, and a through hole in the pocket floor."""
    w, d = mm(rng, 30, 160), mm(rng, 30, 160)
    h = max(0.006, round(min(w, d) * rng.uniform(0.25, 0.6), 3))
    b.extrude("xy", (0, 0, 0), [outline(rng, 0, 0, w, d)], "NewBody", "OneSide", h)
    m = min(w, d) * rng.uniform(0.12, 0.25)
    b.extrude("xy", (0, 0, h), [rounded_rect(m, m, w - m, d - m, min(w, d) * rng.uniform(0.08, 0.2))],
              "Cut", "OneSide", -h * rng.uniform(0.3, 0.6))
    b.extrude("xy", (0, 0, 0), [circle((w / 2, d / 2), (min(w, d) / 2 - m) * rng.uniform(0.2, 0.5))], "Cut", "OneSide", h)


@_family
def hole_pattern(rng: random.Random, b: ModelBuilder) -> None:
    """A plate with a grid or a circle of holes, cut as a second extrude (a pattern feature)."""
    w, h = mm(rng, 40, 200), mm(rng, 40, 200)
    t = max(0.003, round(min(w, h) * rng.uniform(0.05, 0.2), 3))
    b.extrude("xy", (0, 0, 0), [outline(rng, -w / 2, -h / 2, w / 2, h / 2)], "NewBody", "OneSide", t)
    if rng.random() < 0.5:
        nx, ny = rng.randint(2, 3), rng.randint(2, 3)
        r = min(w / nx, h / ny) * rng.uniform(0.1, 0.25)
        holes = [circle(((i + 0.5) * w / nx - w / 2, (j + 0.5) * h / ny - h / 2), r) for i in range(nx) for j in range(ny)]
    else:
        n = rng.choice([4, 5, 6])  # DeepCAD's limit is 6 loops per sketch
        pr = min(w, h) * rng.uniform(0.25, 0.35)
        holes = ring((0, 0), pr, n, pr * math.sin(math.pi / n) * rng.uniform(0.3, 0.6))
    b.extrude("xy", (0, 0, t), holes[0:1], "Cut", "OneSide", -t)
    for hole in holes[1:]:
        b.extrude("xy", (0, 0, t), [hole], "Cut", "OneSide", -t)


@_family
def ribbed_plate(rng: random.Random, b: ModelBuilder) -> None:
    """A base plate with parallel ribs standing on it, and mounting holes between them."""
    w, d = mm(rng, 60, 200), mm(rng, 40, 160)
    t = max(0.003, round(min(w, d) * rng.uniform(0.06, 0.15), 3))
    b.extrude("xy", (0, 0, 0), [outline(rng, 0, 0, w, d)], "NewBody", "OneSide", t)
    n = rng.randint(2, 4)
    rib_t, rib_h = max(0.002, w * rng.uniform(0.04, 0.08)), t * rng.uniform(1.5, 4)
    for k in range(n):
        x = w * (k + 1) / (n + 1)
        b.extrude("xy", (0, 0, t), [rect(x - rib_t / 2, d * 0.1, x + rib_t / 2, d * 0.9)], "Join", "OneSide", rib_h)
    r = min(w / (n + 1) / 4, d * 0.04)
    b.extrude("xy", (0, 0, 0), [circle((w / (n + 1) / 2, d / 2), r)], "Cut", "OneSide", t)


@_family
def stepped_pocket(rng: random.Random, b: ModelBuilder) -> None:
    """A block cut in several steps, each smaller and deeper (a counterbored cavity)."""
    w, d = mm(rng, 40, 180), mm(rng, 40, 180)
    h = max(0.01, round(min(w, d) * rng.uniform(0.3, 0.7), 3))
    b.extrude("xy", (0, 0, 0), [rect(-w / 2, -d / 2, w / 2, d / 2)], "NewBody", "OneSide", h)
    steps, frac = rng.randint(2, 4), 0.8
    depth = 0.0
    for k in range(steps):
        hw, hd = w / 2 * frac, d / 2 * frac
        depth += h * rng.uniform(0.1, 0.8 / steps)
        shape = circle((0, 0), min(hw, hd)) if k == steps - 1 and rng.random() < 0.5 else \
            rounded_rect(-hw, -hd, hw, hd, min(hw, hd) * rng.uniform(0.05, 0.3))
        b.extrude("xy", (0, 0, h), [shape], "Cut", "OneSide", -depth)
        frac *= rng.uniform(0.5, 0.8)


@_family
def side_features(rng: random.Random, b: ModelBuilder) -> None:
    """A block with a cross hole sketched on its front face and a slot on its side face."""
    w, d, h = mm(rng, 30, 150), mm(rng, 30, 150), mm(rng, 20, 120)
    b.extrude("xy", (0, 0, 0), [outline(rng, -w / 2, -d / 2, w / 2, d / 2)], "NewBody", "OneSide", h)
    r = min(w, h) * rng.uniform(0.1, 0.25)
    # "xz" sketches have x along +x and the normal along -y: the face at y = -d/2 looks outwards
    b.extrude("xz", (0, -d / 2, 0), [circle((0.0, h / 2), r)], "Cut", "OneSide", -d * rng.uniform(0.4, 1.0))
    sr = min(d, h) * rng.uniform(0.06, 0.12)
    b.extrude("yz", (w / 2, 0, 0), [slot(0.0, h * rng.uniform(0.3, 0.7), d * 0.4, sr)], "Cut", "OneSide", -w * rng.uniform(0.2, 0.5))


@_family
def u_channel(rng: random.Random, b: ModelBuilder) -> None:
    """A U profile extruded along its length, with holes through the web."""
    a, c, length = mm(rng, 30, 120), mm(rng, 20, 100), mm(rng, 40, 200)
    t = max(0.002, round(min(a, c) * rng.uniform(0.08, 0.25), 3))
    pts = [(0, 0), (a, 0), (a, c), (a - t, c), (a - t, t), (t, t), (t, c), (0, c)]
    b.extrude("xz", (0, 0, 0), [polygon(pts)], "NewBody", "OneSide", -length)
    n = rng.randint(1, 3)
    r = min((a - 2 * t) / 4, length / (2 * n + 2))
    for k in range(n):
        b.extrude("xy", (0, 0, t), [circle((a / 2, length * (k + 1) / (n + 1)), r)], "Cut", "OneSide", -t)


@_family
def flanged_tube(rng: random.Random, b: ModelBuilder) -> None:
    """A tube standing on a square flange with corner holes."""
    R = mm(rng, 8, 50)
    wall = R * rng.uniform(0.15, 0.4)
    s = R * rng.uniform(1.4, 2.2)
    t = max(0.002, round(s * rng.uniform(0.1, 0.25), 3))
    m = (s - R) / 2
    corners = [circle((x, y), min(m * 0.5, s * 0.12)) for x in (-s + m, s - m) for y in (-s + m, s - m)]
    b.extrude("xy", (0, 0, 0), [rounded_rect(-s, -s, s, s, m * 0.8), *corners], "NewBody", "OneSide", t)
    b.extrude("xy", (0, 0, t), [circle((0, 0), R)], "Join", "OneSide", R * rng.uniform(1.0, 4.0))
    b.extrude("xy", (0, 0, 0), [circle((0, 0), R - wall)], "Cut", "OneSide", t + R * 5)


@_family
def gusset_bracket(rng: random.Random, b: ModelBuilder) -> None:
    """An L bracket stiffened by a triangular gusset sketched on its middle plane, with a slot."""
    a, c, w = mm(rng, 30, 140), mm(rng, 30, 140), mm(rng, 20, 120)
    t = max(0.003, round(min(a, c) * rng.uniform(0.08, 0.2), 3))
    b.extrude("xz", (0, 0, 0), [polygon([(0, 0), (a, 0), (a, t), (t, t), (t, c), (0, c)])], "NewBody", "Symmetric", w / 2)
    g = min(a, c) * rng.uniform(0.4, 0.8)
    # the gusset starts inside the corner, so it overlaps the bracket rather than only touching it
    b.extrude("xz", (0, 0, 0), [polygon([(t / 2, t / 2), (g, t / 2), (t / 2, g)])], "Join", "Symmetric", t / 2)
    sr = min(t * 1.2, w / 8)
    b.extrude("xy", (0, 0, t), [slot(t + (a - t) * 0.65, w * 0.25, min(a * 0.2, w * 0.3), sr)], "Cut", "OneSide", -t)


@_family
def cover_plate(rng: random.Random, b: ModelBuilder) -> None:
    """A thin cover with rounded ends (arcs), a raised pad and a centre opening, holes at the ends."""
    w = mm(rng, 60, 200)
    h = min(mm(rng, 30, 100), round(w / 1.6, 3))
    t = max(0.002, round(h * rng.uniform(0.08, 0.2), 3))
    span = w - h  # centre distance of the end arcs
    b.extrude("xy", (0, 0, 0), [slot(0, 0, span, h / 2)], "NewBody", "OneSide", t)
    hole = h * 0.12
    half_pad = min(0.3 * span, span / 2 - hole - 0.4 * h)  # the pad clears the end holes by 0.05 h
    pad = slot(0, 0, 2 * half_pad, h * 0.35) if half_pad > 0.05 * h else circle((0, 0), h * 0.35)
    b.extrude("xy", (0, 0, t), [pad], "Join", "OneSide", t * rng.uniform(0.5, 1.5))
    b.extrude("xy", (0, 0, 0), [circle((0, 0), h * rng.uniform(0.1, 0.25))], "Cut", "OneSide", t * 4)
    for sx in (-1, 1):
        b.extrude("xy", (0, 0, 0), [circle((sx * span / 2, 0), hole)], "Cut", "OneSide", t * 4)
