"""One summary dict for any file cadlib reads (what `cadrecon inspect` prints)."""

from __future__ import annotations

from pathlib import Path

from cadlib.ingest.registry import DEFAULT_MAX_MB, summarize_model
from cadlib.sequence import CadSequence
from cadlib.transform import transformed


def summarize(path: str | Path, *, max_mb: float | None = DEFAULT_MAX_MB) -> dict:
    """Format, kind, schema, units, counts, bounding box (mm), watertightness, repairs; volume
    and validity for exact shapes; sequence counts for sequence sources."""
    return summarize_model(path, max_mb=max_mb)


def in_mm(seq: CadSequence) -> CadSequence:
    """The sequence scaled so that one unit is a millimetre."""
    return seq if seq.unit_mm == 1.0 else transformed(seq, scale=seq.unit_mm)
