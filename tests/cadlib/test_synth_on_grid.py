"""The synthetic generator draws on the dataset's grid: every model's quantised sequence is the
file's own (the build's skip rule proves it without a second solid), nothing is dropped for
topology, and a model is drawn from its own seed, so one model is drawn again without the rest."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from cadlib import from_text, normalize, parse_sequence, to_text
from cadlib.dataset.sources import write_synthetic_source
from cadlib.fidelity import quantised_solid, same_sequence
from cadlib.synth import FAMILIES, ModelBuilder, draw, generate, plan
from cadlib.transform import CENTRE_STEP, snapped_scale, transformed
from cadlib.workers import Outcome, Status


@pytest.mark.parametrize("bits", [8, 16])
def test_every_family_is_drawn_on_the_grid(bits):
    models = generate(len(FAMILIES) * 4, seed=21, bits=bits)
    assert {name.split("_", 3)[3] for name, _ in models} == set(FAMILIES)
    for name, doc in models:
        source = normalize(parse_sequence(doc, name=name))
        assert same_sequence(source, from_text(to_text(source, bits), bits)), name


def test_a_model_off_the_grid_is_not_proven(monkeypatch):
    """The same draws as drawn (whole millimetres) are not on the grid: the rule is not vacuous."""
    models = generate(len(FAMILIES), seed=21, bits=None)
    proven = [same_sequence(s := normalize(parse_sequence(d)), from_text(to_text(s, 8), 8)) for _, d in models]
    assert not any(proven)


def test_no_synthetic_model_is_dropped_for_topology():
    """The drawn parts that quantising changed (an IoU just under 0.95: 22% at 8 bits) are kept as
    the part the grid holds; every one builds once and agrees with itself."""
    for name, doc in generate(len(FAMILIES) * 2, seed=4, bits=8):
        source = normalize(parse_sequence(doc, name=name))
        checked = quantised_solid(source, from_text(to_text(source, 8), 8), name=name)
        assert checked.valid and checked.agreement.iou == 1.0, name


def test_a_model_is_drawn_from_its_own_seed():
    planned = plan(40, seed=9)
    whole = dict(generate(40, seed=9))
    for p in random.Random(0).sample(planned, 5):  # any order, one at a time
        assert draw(p) == whole[p.name]
    assert generate(40, seed=9) == generate(40, seed=9)
    assert generate(40, seed=9) != generate(40, seed=10)


def _on_grid(seq, bits=8) -> bool:
    return same_sequence(seq, from_text(to_text(seq, bits), bits))


def test_normalising_a_sequence_on_the_grid_leaves_it_there():
    """Written at any power of two of metres, a quantised sequence normalises back to itself,
    number for number; moved by part of a step, it is off the grid, and stays off (it is centred
    by whole steps, not pulled onto a grid it was never on)."""
    _, doc = generate(1, seed=3, bits=8)[0]
    q = normalize(parse_sequence(doc))
    assert _on_grid(q)
    for unit in (2.0 ** -6, 2.0 ** -3, 1.0, 8.0):
        back = normalize(parse_sequence(ModelBuilder.from_sequence(transformed(q, scale=unit), 1.0).json()))
        assert same_sequence(back, q)
    off = transformed(q, offset=(CENTRE_STEP / 3, 0.0, 0.0))
    assert not _on_grid(off) and not _on_grid(normalize(off))
    assert snapped_scale(1.01) == 1.0 and snapped_scale(0.5 * 1.012) == 0.5 and snapped_scale(1.1) == 1.1


def test_from_sequence_writes_what_the_parser_reads():
    _, doc = generate(1, seed=5, bits=16)[0]
    seq = parse_sequence(doc)
    again = parse_sequence(json.loads(json.dumps(ModelBuilder.from_sequence(seq, 1.0).json())))
    assert same_sequence(seq, again)
    assert all(math.isclose(a, b) for a, b in zip(np.ravel(seq.envelope()), np.ravel(again.envelope()), strict=True))


def _inline(counter):
    def run(fn, jobs):
        for i, job in enumerate(jobs):
            counter.append(job.planned.name)
            try:
                yield Outcome(i, job, Status.OK, fn(job))
            except Exception as exc:  # noqa: BLE001
                yield Outcome(i, job, Status.ERROR, None, type(exc).__name__, str(exc))
    return run


def test_the_source_draws_again_only_what_is_missing_or_changed(tmp_path):
    out, record = tmp_path / "raw", tmp_path / "cache" / "synthetic.json"
    drawn: list[str] = []
    items = write_synthetic_source(out, 12, 3, bits=8, run=_inline(drawn), record=record)
    assert len(drawn) == 12 and all(i.problem is None and i.path.is_file() for i in items)
    first = {i.id: i.path.read_bytes() for i in items}
    times = {i.id: i.path.stat().st_mtime_ns for i in items}

    drawn.clear()
    write_synthetic_source(out, 12, 3, bits=8, run=_inline(drawn), record=record)
    assert drawn == []  # every file verified against the record, none drawn

    items[2].path.unlink()
    items[5].path.write_bytes(first[items[5].id][:-40])  # truncated
    text = first[items[7].id].replace(b"0", b"1", 1)  # edited, size kept
    items[7].path.write_bytes(text)
    again = write_synthetic_source(out, 12, 3, bits=8, run=_inline(drawn), record=record)
    assert sorted(drawn) == sorted(items[i].id for i in (2, 5, 7))
    assert {i.id: i.path.read_bytes() for i in again} == first
    assert all(items[i].path.stat().st_mtime_ns == times[items[i].id] for i in (0, 1, 3))

    drawn.clear()
    record.write_text("{broken")
    write_synthetic_source(out, 12, 3, bits=8, run=_inline(drawn), record=record)
    assert len(drawn) == 12 and all(i.path.stat().st_mtime_ns == times[i.id] for i in items[:2])  # same bytes: not rewritten

    drawn.clear()
    write_synthetic_source(out, 12, 3, bits=16, run=_inline(drawn), record=record)
    assert len(drawn) == 12  # other bits: another grid, drawn again
