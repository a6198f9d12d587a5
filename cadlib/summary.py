"""One summary dict for any file cadlib reads (what `cadrecon inspect` prints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cadlib.errors import UnsupportedFormat
from cadlib.sequence import CadSequence
from cadlib.sequence_io import TEXT_SUFFIXES, SequenceSource, read_sequence
from cadlib.transform import transformed

STEP_SUFFIXES = (".step", ".stp")


def summarize(path: str | Path, *, bits: int = 8) -> dict:
    """Format, kind, counts, bounding box (mm), volume (mm^3) and validity of a file."""
    from cadlib import occ  # OCP is heavy: imported when a summary is asked for

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in STEP_SUFFIXES:
        shape = occ.read_step(path)
        return {"file": str(path), "format": "step", "kind": "brep", **_shape_facts(shape)}
    if suffix == ".json" or suffix in TEXT_SUFFIXES or not suffix:
        seq, source = read_sequence(path, bits=bits)
        out = {
            "file": str(path),
            "format": source.value,
            "kind": "sequence",
            "units": "mm" if source is SequenceSource.JSON else "normalised",
            **seq.counts(),
        }
        return {**out, **_shape_facts(occ.build_solid(in_mm(seq)))}
    raise UnsupportedFormat(f"unsupported suffix {suffix!r}", source=str(path))


def in_mm(seq: CadSequence) -> CadSequence:
    """The sequence scaled so that one unit is a millimetre."""
    return seq if seq.unit_mm == 1.0 else transformed(seq, scale=seq.unit_mm)


def _shape_facts(shape) -> dict:
    from cadlib import occ

    lo, hi = occ.bbox(shape)
    return {
        "solids": occ.count_solids(shape),
        "bbox_min": np.round(lo, 6).tolist(),
        "bbox_max": np.round(hi, 6).tolist(),
        "volume": round(occ.volume(shape), 6),
        "valid": occ.is_valid(shape),
    }
