"""The quantisation check skips what is proven: where quantising moved no number, the quantised
solid is the source solid, built once, and what extract keeps of it is byte-identical to what the
full check keeps. One number off the grid takes the full check."""

from __future__ import annotations

import numpy as np
import pytest

from cadlib import fidelity, from_text, normalize, occ, to_text
from cadlib.dataset.solids import keep
from cadlib.fidelity import same_sequence
from cadlib.occ import build as occ_build
from cadlib.sequence import Extrude
from tests.cadlib import models

MODELS = [models.cube, models.plate_with_hole, models.pocket, models.joined, models.symmetric,
          models.two_sided, models.slot_plate, models.rounded_plate, models.intersected]


def _on_grid(make, bits: int):
    """A source already on the grid: the quantised sequence of a model (a fixed point)."""
    return from_text(to_text(normalize(make()), bits), bits)


def _builds(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = occ.build_raw

    def counted(seq, *args, **kwargs):
        calls.append(len(seq.extrudes))
        return real(seq, *args, **kwargs)

    monkeypatch.setattr(occ, "build_raw", counted)  # fidelity's own calls
    monkeypatch.setattr(occ_build, "build_raw", counted)  # build_checked's
    return calls


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("make", MODELS, ids=lambda m: m.__name__)
def test_a_source_on_the_grid_is_built_once_and_kept_byte_identical(make, bits, monkeypatch, tmp_path):
    source = _on_grid(make, bits)
    text = to_text(source, bits)
    quantised = from_text(text, bits)
    assert same_sequence(source, quantised)

    calls = _builds(monkeypatch)
    proven = fidelity.quantised_solid(source, quantised)
    assert len(calls) == 1, "the proven path builds the quantised sequence once"

    monkeypatch.setattr(fidelity, "same_sequence", lambda a, b, tol=0.0: False)  # the full check
    full = fidelity.quantised_solid(source, quantised)
    assert len(calls) == 3, "the full check builds the source and the quantised sequence"

    assert proven.valid == full.valid and proven.agreement.solids == full.agreement.solids
    assert full.agreement.iou == pytest.approx(1.0, abs=1e-6) and proven.agreement.iou == 1.0
    assert np.array_equal(proven.mesh.vertices, full.mesh.vertices)
    a = keep(tmp_path / "proven.brep", text, proven.shape, valid=proven.valid, mesh_vertices=proven.mesh.vertices)
    b = keep(tmp_path / "full.brep", text, full.shape, valid=full.valid, mesh_vertices=full.mesh.vertices)
    assert a.read_bytes() == b.read_bytes()


def test_one_number_off_the_grid_takes_the_full_check(monkeypatch):
    source = _on_grid(models.plate_with_hole, 8)
    first = source.extrudes[0]
    moved = Extrude(first.plane, first.profile, first.operation, first.extent_type, first.extent_one + 1e-4,
                    first.extent_two)
    off = type(source)((moved, *source.extrudes[1:]))
    quantised = from_text(to_text(off, 8), 8)
    assert not same_sequence(off, quantised)
    calls = _builds(monkeypatch)
    fidelity.quantised_solid(off, quantised)
    assert len(calls) == 2


def test_sequence_sameness_compares_every_number_and_nothing_else():
    a = _on_grid(models.pocket, 8)
    assert same_sequence(a, type(a)(a.extrudes, name="renamed", unit_mm=2.0))
    assert not same_sequence(a, type(a)(a.extrudes[:1]))
    ex = a.extrudes[1]
    for changed in (Extrude(ex.plane, ex.profile, ex.operation, ex.extent_type, ex.extent_one + 1e-6, ex.extent_two),
                    Extrude(ex.plane.moved_to(np.asarray(ex.plane.origin) + 1e-6), ex.profile, ex.operation,
                            ex.extent_type, ex.extent_one, ex.extent_two)):
        assert not same_sequence(a, type(a)((a.extrudes[0], changed)))
    assert same_sequence(1.0, 1.0 + 1e-12) and not same_sequence(True, 1.0)


def test_a_proven_source_that_does_not_build_is_the_source_s_fault(monkeypatch):
    """Nothing moved, so a build failure is not quantisation's: BuildError, as when the source
    itself fails in the full check, not QuantisationChangesTopology."""
    from cadlib.errors import BuildError

    source = _on_grid(models.cube, 8)

    def broken(seq, *args, **kwargs):
        raise BuildError("no volume", source="test")

    monkeypatch.setattr(occ_build, "build_raw", broken)
    with pytest.raises(BuildError):  # QuantisationChangesTopology is not a BuildError
        fidelity.quantised_solid(source, from_text(to_text(source, 8), 8))
