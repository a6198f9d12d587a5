"""Does a model's quantised target still describe the model? Agreement of two solids.

A training sample teaches only if its target rebuilds the solid its images show. The images are
rendered from the target's own (quantised) solid, so what remains to check is that quantisation
kept the model: the same number of bodies, a valid solid, and a scale-free volumetric IoU with the
unquantised source at or above a threshold. Quantisation can open a one-step gap between bodies
the source joins, or close a thin slot; such a model is dropped with `QuantisationChangesTopology`
rather than kept with a target that describes another part.

Where quantising moved nothing (the quantised sequence is the source, number for number:
`same_sequence`), the two solids are one solid and nothing is left to compare: the quantised
sequence is built once (the render stage needs it) and the source build, its tessellation and the
IoU are skipped. The rule is general, not a synthetic special case: any source already on the grid
takes it; one number off the grid takes the full check.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cadlib.errors import BuildError, QuantisationChangesTopology
from cadlib.mesh import Mesh
from cadlib.sequence import CadSequence

DEFAULT_MIN_IOU = 0.95
SAME_TOLERANCE = 1e-9
"""How far two numbers of a normalised sequence (|x| <= 2) may be apart and count as the same: far
below the finest grid step (2^-15 at 16 bits), far above float rounding."""


def same_sequence(a: Any, b: Any, tol: float = SAME_TOLERANCE) -> bool:
    """True when `b` is `a` number for number, within `tol`: the same extrudes, planes, profiles,
    curves and extents (fields that do not shape the solid, such as the name, are not compared)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool | Enum):
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=tol)
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(same_sequence(getattr(a, f.name), getattr(b, f.name), tol)
                   for f in dataclasses.fields(a) if f.compare)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same_sequence(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class Agreement:
    """How a rebuilt solid compares with a reference: bodies on each side, validity, IoU."""

    solids: int
    reference_solids: int
    valid: bool
    iou: float

    def problem(self, min_iou: float) -> str | None:
        """What disagrees, in words, or None when the two agree."""
        if self.solids != self.reference_solids:
            return f"{self.solids} solid(s) where the source has {self.reference_solids}"
        if not self.valid:
            return "the solid fails BRepCheck"
        if self.iou < min_iou:
            return f"IoU {self.iou:.3f} with the source, below {min_iou:g}"
        return None


def agreement(shape: Any, reference: Any, *, valid: bool | None = None, mesh: Mesh | None = None) -> Agreement:
    """Compares `shape` with `reference` (OCP shapes in one frame). The IoU: manifold3d's exact
    booleans on the two tessellations (fine: 1e-3 relative deflection), which agree with OCCT's
    B-rep booleans to 1.2e-4 on synthetic parts at half their cost; OCCT's where a tessellation is
    not a closed manifold; a 96^3 voxel grid where OCCT's booleans disagree with themselves.
    `valid` and `mesh`: the shape's BRepCheck verdict and tessellation where already known."""
    from cadlib import occ
    from cadlib.metrics import manifold_iou, voxel_iou

    a = mesh if mesh is not None else occ.tessellate(shape)
    b = occ.tessellate(reference)
    try:
        iou = manifold_iou(a, b)
    except ValueError:
        try:
            common, union = occ.common_and_union_volume(shape, reference)
            iou = common / union if union > 0 else 0.0
        except BuildError:
            iou = voxel_iou(a, b, n=96)
    valid = occ.is_valid(shape) if valid is None else valid
    return Agreement(occ.count_solids(shape), occ.count_solids(reference), valid, float(iou))


@dataclass(frozen=True, slots=True)
class QuantisedSolid:
    """A quantised target's solid as the check built and judged it, for whoever needs it next
    (the render stage reads it back instead of building it again)."""

    shape: Any
    valid: bool  # BRepCheck's verdict on it
    mesh: Mesh  # its fine tessellation
    agreement: Agreement


def quantised_solid(source: CadSequence, quantised: CadSequence, *, min_iou: float = DEFAULT_MIN_IOU,
                    name: str | None = None) -> QuantisedSolid:
    """Builds both (normalised) sequences and checks that quantisation kept the solid.

    Raises:
        QuantisationChangesTopology: the quantised solid has another number of bodies, is
            invalid where the source is valid, or overlaps it with an IoU below `min_iou`.
        BuildError: the source itself does not build.
    """
    from cadlib import occ

    if same_sequence(source, quantised):
        return _proven_solid(quantised)
    ref = occ.build_raw(source)  # measured only (bodies, tessellation): no face merging or BRepCheck
    try:
        shape, valid = occ.build_checked(quantised)
    except BuildError as exc:
        raise QuantisationChangesTopology(f"the quantised target does not build ({exc.cause})", source=name) from None
    valid = occ.is_valid(shape) if valid is None else valid
    mesh = occ.tessellate(shape)
    result = agreement(shape, ref, valid=valid, mesh=mesh)
    if not result.valid and not occ.is_valid(occ.build_solid(source)):
        result = Agreement(result.solids, result.reference_solids, True, result.iou)  # not quantisation's fault
    problem = result.problem(min_iou)
    if problem:
        raise QuantisationChangesTopology(f"quantisation changes the solid: {problem}", source=name)
    return QuantisedSolid(shape, valid, mesh, result)


def _proven_solid(quantised: CadSequence) -> QuantisedSolid:
    """The quantised solid of a sequence that quantising did not move: built once. It is the source
    solid, so it agrees with it (an invalid one is the source's own fault, as the full check rules).

    Raises:
        BuildError: the sequence (the source itself) does not build.
    """
    from cadlib import occ

    shape, valid = occ.build_checked(quantised)
    valid = occ.is_valid(shape) if valid is None else valid
    solids = occ.count_solids(shape)
    return QuantisedSolid(shape, valid, occ.tessellate(shape), Agreement(solids, solids, True, 1.0))


def check_quantised(source: CadSequence, quantised: CadSequence, *, min_iou: float = DEFAULT_MIN_IOU,
                    name: str | None = None) -> Agreement:
    """`quantised_solid`'s verdict alone."""
    return quantised_solid(source, quantised, min_iou=min_iou, name=name).agreement
