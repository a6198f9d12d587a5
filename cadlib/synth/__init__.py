"""A seeded generator of DeepCAD-format JSON models, for demos, tests and synthetic datasets.

Each model is written in DeepCAD's `cad_json` layout (entities + sequence, lengths in metres) and
read back through the real parser, so demos and tests exercise the same path as the dataset.

`generate(n, seed)` is a pure function of its arguments: the same seed gives byte-identical models.
Families come in a seeded shuffled order (each round of len(FAMILIES) models holds every family
once, so counts stay balanced), and each model is turned into one of 12 axis-aligned orientations
that keep its top facing a camera, so no single view direction is special.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from cadlib.atomic import write_text_atomic
from cadlib.deepcad_json import DeepCadDocument
from cadlib.synth.builder import (
    PLANES,
    ModelBuilder,
    arc,
    circle,
    line,
    mm,
    polygon,
    rect,
    ring,
    rounded_rect,
    slot,
)
from cadlib.synth.families import CLASSIC, Family
from cadlib.synth.features import FEATURES

FAMILIES: dict[str, Family] = {**CLASSIC, **FEATURES}


def _orientations() -> list[tuple[tuple[float, float, float], ...]]:
    """The 24 rotations that map axes onto axes (signed permutation matrices with determinant 1)."""
    out: list[tuple[tuple[float, float, float], ...]] = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = [[0.0] * 3 for _ in range(3)]
            for i, j in enumerate(perm):
                m[i][j] = signs[i]
            det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                   + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
            if det > 0:
                out.append(tuple((r[0], r[1], r[2]) for r in m))
    return out


ORIENTATIONS = [m for m in _orientations() if (m[0][2], m[1][2], m[2][2]) in ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0),
                                                                             (1.0, 0.0, 0.0))]
"""The 12 of them that turn a family's top (+Z, where its pockets, bosses and holes open) towards a
camera: up (the top view), the front (-Y) or the right (+X); the iso view sees all three. A part
turned upside down would hide its features from every view, and a sample must be solvable from
its own image."""


def make_model(family: str, rng: random.Random, *, turn: bool = True) -> DeepCadDocument:
    """One model of `family` in DeepCAD JSON, drawn with `rng` (and turned, unless `turn` is off)."""
    b = ModelBuilder(rng.choice(ORIENTATIONS) if turn else None)
    FAMILIES[family](rng, b)
    return b.json()


def generate(n: int, seed: int = 0, *, families: list[str] | None = None) -> list[tuple[str, DeepCadDocument]]:
    """`n` models named `synth_<seed>_<index>_<family>`, reproducible from `seed`."""
    names = sorted(families or FAMILIES)
    unknown = set(names) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown synthetic families {sorted(unknown)} (known: {', '.join(sorted(FAMILIES))})")
    rng = random.Random(seed)
    out: list[tuple[str, DeepCadDocument]] = []
    order: list[str] = []
    for i in range(n):
        if not order:
            order = list(names)
            rng.shuffle(order)
        fam = order.pop()
        out.append((f"synth_{seed}_{i:05d}_{fam}", make_model(fam, rng)))
    return out


def write_synthetic(out_dir: str | Path, n: int, seed: int = 0) -> list[Path]:
    """Writes `n` generated models as `<name>.json` under `out_dir` (atomically) and lists them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate(n, seed):
        path = out_dir / f"{name}.json"
        write_text_atomic(path, json.dumps(data, indent=1))
        paths.append(path)
    return paths


__all__ = [
    "FAMILIES",
    "ORIENTATIONS",
    "PLANES",
    "ModelBuilder",
    "arc",
    "circle",
    "generate",
    "line",
    "make_model",
    "mm",
    "polygon",
    "rect",
    "ring",
    "rounded_rect",
    "slot",
    "write_synthetic",
]
