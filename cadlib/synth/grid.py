"""Putting a drawn model on the dataset's quantisation grid, so its quantised sequence is itself.

A family draws a part in millimetres; normalising and quantising it moves every number by up to
half a grid step, and where that moves a thin wall by a step the dataset build dropped the part
(its target no longer described the solid it was drawn as: 22% of the parts at 8 bits, nearly all
for an IoU just under 0.95). Here the drawn part is normalised and quantised once, at the
generator, and the quantised sequence is what the file holds (lengths times a power of two, so
`cadlib.transform.normalize` gives it back number for number). The build then finds nothing moved
(`cadlib.fidelity.same_sequence`), builds the solid once and drops nothing: the part the file
describes is the part its images show. A part a step thicker than drawn is still a part.
"""

from __future__ import annotations

import math

from cadlib.deepcad_json import DeepCadDocument, parse_sequence
from cadlib.quantize import DEFAULT_BITS, quantize
from cadlib.sequence import CadSequence, ExtentType
from cadlib.synth.builder import ModelBuilder
from cadlib.transform import NORM_FACTOR, normalize, snapped_scale


def on_grid(doc: DeepCadDocument, bits: int = DEFAULT_BITS) -> DeepCadDocument | None:
    """`doc` snapped onto the `bits`-bit grid, at about its drawn size; None where snapping loses
    what the part was drawn with (a loop, a curve, an extrude's whole length) or its size past
    `cadlib.transform.SCALE_SNAP` (a stack of extrudes that each lost a step), so it is redrawn.

    Raises:
        QuantizeError: an outer loop collapses at this resolution.
    """
    drawn = parse_sequence(doc)
    snapped = quantize(normalize(drawn), bits)
    if not _keeps(drawn, snapped):
        return None
    lo, hi = snapped.envelope()
    if snapped_scale(2 * NORM_FACTOR / float(max(hi - lo))) != 1.0:
        return None  # snapping changed its size past what normalising takes as unchanged
    lo, hi = drawn.envelope()
    unit = 2.0 ** round(math.log2(float(max(hi - lo)) / (2 * NORM_FACTOR)))  # metres per normalised unit
    return ModelBuilder.from_sequence(snapped, unit).json()


def _keeps(drawn: CadSequence, snapped: CadSequence) -> bool:
    if drawn.counts() != snapped.counts():
        return False
    for ex in snapped.extrudes:
        length = ex.extent_one + ex.extent_two if ex.extent_type is ExtentType.TWO_SIDES else ex.extent_one
        if length == 0.0:
            return False
    return True
