"""The synthetic generator: every family builds a valid solid, reproducibly."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from cadlib import load_json_sequence, normalize, occ, parse_sequence, to_text
from cadlib.grammar import Limits, is_valid_text
from cadlib.synth import FAMILIES, generate, make_model, write_synthetic


def test_every_family_builds_a_valid_solid_and_round_trips():
    models = generate(len(FAMILIES) * 3, seed=7)
    assert {name.split("_", 3)[3] for name, _ in models} == set(FAMILIES)
    for name, data in models:
        seq = parse_sequence(data, name=name)
        shape = occ.build_solid(seq)
        assert occ.is_valid(shape), name
        assert occ.volume(shape) > 0, name
        assert occ.count_solids(shape) == 1, name
        text = to_text(normalize(seq), 16)
        assert text.startswith("bits 16\nsketch ")
        assert is_valid_text(text, Limits(bits=16)), name  # within DeepCAD's limits


def test_at_least_sixteen_families_in_a_seeded_shuffled_balanced_order():
    assert len(FAMILIES) >= 16
    names = [name.split("_", 3)[3] for name, _ in generate(len(FAMILIES) * 2, seed=1)]
    first, second = names[: len(FAMILIES)], names[len(FAMILIES):]
    assert sorted(first) == sorted(second) == sorted(FAMILIES)  # every round holds each family once
    assert first != sorted(FAMILIES) and first != second  # shuffled, not a fixed cycle


def test_models_come_in_every_orientation_and_a_wide_size_range():
    sizes, normals = [], set()
    for name, data in generate(200, seed=3, bits=None):  # as drawn
        seq = parse_sequence(data, name=name)
        lo, hi = seq.envelope()
        sizes.append(float(max(hi - lo)) * seq.unit_mm)
        normals |= {tuple(round(v) for v in ex.plane.z_axis) for ex in seq.extrudes}
    assert len(normals) == 6  # sketches face every axis direction
    assert min(sizes) < 50 and max(sizes) > 200  # millimetres
    on_grid = [parse_sequence(d) for _, d in generate(200, seed=3)]
    sizes = sorted({round(float(max(np.ptp(s.envelope(), axis=0))) * s.unit_mm) for s in on_grid})
    assert sizes[0] < 50 and sizes[-1] > 180  # the drawn size, to a power of two


def test_every_family_draws_arcs_or_circles():
    for fam in FAMILIES:
        found = False
        for seed in range(6):
            c = parse_sequence(make_model(fam, random.Random(seed))).counts()
            found |= c["arcs"] + c["circles"] > 0
        assert found, fam


def test_same_seed_same_models_other_seed_other_models():
    assert generate(5, seed=3) == generate(5, seed=3)
    assert generate(5, seed=3) != generate(5, seed=4)


def test_write_synthetic_goes_through_the_real_parser(tmp_path):
    paths = write_synthetic(tmp_path, 4, seed=1)
    assert len(paths) == 4 and all(p.suffix == ".json" for p in paths)
    for p in paths:
        json.loads(p.read_text())
        assert load_json_sequence(p).extrudes
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_use_their_features(family):
    seq = parse_sequence(make_model(family, random.Random(0)))
    c = seq.counts()
    if family in ("slotted_plate", "pocketed_block"):
        assert c["arcs"] > 0
    if family == "flange":
        assert c["circles"] >= 4
