"""A seeded generator of DeepCAD-format JSON models, for demos, tests and synthetic datasets.

Each model is written in DeepCAD's `cad_json` layout (entities + sequence, lengths in metres) and
read back through the real parser, so demos and tests exercise the same path as the dataset.

`generate(n, seed)` is a pure function of its arguments: the same seed gives byte-identical models,
and each model is drawn from its own generator (`draw`), so a set is drawn in parallel and one
model is drawn again without the rest. Families come in a seeded shuffled order (each round of
len(FAMILIES) models holds every family once, so counts stay balanced), and each model is turned
into one of 12 axis-aligned orientations that keep its top facing a camera, so no single view
direction is special. Models are written on the dataset's quantisation grid (`cadlib.synth.grid`),
so their quantised sequence is the file's.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from cadlib.atomic import write_text_atomic
from cadlib.deepcad_json import DeepCadDocument
from cadlib.errors import QuantizeError
from cadlib.quantize import DEFAULT_BITS
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
from cadlib.synth.grid import on_grid

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


def make_model(family: str, rng: random.Random, *, turn: bool = True, bits: int | None = DEFAULT_BITS) -> DeepCadDocument:
    """One model of `family` in DeepCAD JSON, drawn with `rng` (and turned, unless `turn` is off),
    on the `bits`-bit quantisation grid (`cadlib.synth.grid`; `bits=None`: as drawn, in whole
    millimetres). A draw that the grid cannot hold (a loop or a length snapped away) is drawn again
    from the same `rng`, so the result stays a pure function of the seed."""
    for _ in range(_DRAWS):
        b = ModelBuilder(rng.choice(ORIENTATIONS) if turn else None)
        FAMILIES[family](rng, b)
        if bits is None:
            return b.json()
        try:
            doc = on_grid(b.json(), bits)
        except QuantizeError:
            continue
        if doc is not None:
            return doc
    raise RuntimeError(f"{family}: no draw of {_DRAWS} fits the {bits}-bit grid")


_DRAWS = 50


@dataclass(frozen=True, slots=True)
class Planned:
    """One model of a synthetic set before it is drawn: its name, family and place in the set."""

    name: str
    family: str
    seed: int
    index: int


def plan(n: int, seed: int = 0, *, families: list[str] | None = None) -> list[Planned]:
    """The `n` models of the set `seed` names: `synth_<seed>_<index>_<family>`, families in seeded
    shuffled rounds (every family once a round, so counts stay balanced)."""
    names = sorted(families or FAMILIES)
    unknown = set(names) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown synthetic families {sorted(unknown)} (known: {', '.join(sorted(FAMILIES))})")
    rng = random.Random(seed)
    out: list[Planned] = []
    order: list[str] = []
    for i in range(n):
        if not order:
            order = list(names)
            rng.shuffle(order)
        fam = order.pop()
        out.append(Planned(f"synth_{seed}_{i:05d}_{fam}", fam, seed, i))
    return out


def draw(planned: Planned, bits: int | None = DEFAULT_BITS) -> DeepCadDocument:
    """The model `planned` names, from its own seeded generator: a pure function of the set's seed
    and the model's index, so models are drawn in any order, in any process, one at a time."""
    return make_model(planned.family, random.Random(f"{planned.seed}:{planned.index}"), bits=bits)


def generate(n: int, seed: int = 0, *, families: list[str] | None = None,
             bits: int | None = DEFAULT_BITS) -> list[tuple[str, DeepCadDocument]]:
    """`n` models named `synth_<seed>_<index>_<family>`, reproducible from `seed`, on the `bits`-bit
    grid (`make_model`)."""
    return [(p.name, draw(p, bits)) for p in plan(n, seed, families=families)]


def generator_key() -> str:
    """A hash of the code a drawn model depends on (this package, the JSON reader, normalising and
    quantising): a set written by other code is drawn again, not trusted."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for path in [*sorted(here.glob("*.py")), *(here.parent / f for f in _DRAWN_WITH)]:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


_DRAWN_WITH = ("deepcad_json.py", "loops.py", "quantize.py", "sequence.py", "sketch_frame.py", "transform.py")


def write_synthetic(out_dir: str | Path, n: int, seed: int = 0, *, bits: int | None = DEFAULT_BITS) -> list[Path]:
    """Writes `n` generated models as `<name>.json` under `out_dir` (atomically) and lists them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate(n, seed, bits=bits):
        path = out_dir / f"{name}.json"
        write_text_atomic(path, json.dumps(data, indent=1))
        paths.append(path)
    return paths


__all__ = [
    "FAMILIES",
    "ORIENTATIONS",
    "PLANES",
    "ModelBuilder",
    "Planned",
    "arc",
    "circle",
    "draw",
    "generate",
    "generator_key",
    "line",
    "make_model",
    "mm",
    "plan",
    "polygon",
    "rect",
    "ring",
    "rounded_rect",
    "slot",
    "write_synthetic",
]
