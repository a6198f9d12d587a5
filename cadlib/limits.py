"""The sizes a part may have: the same bounds for every format, checked where a file is read, so
a corrupt or hostile file is one clean error naming it, never a traceback, an overflow warning or
a training sample.

- `MAX_COORD_MM`: coordinates beyond +-1e12 mm (a million kilometres) are a corrupt file, not a
  part; georeferenced buildings (IFC) sit millions of metres from their origin and stay well inside.
- `MIN_SIZE_MM`: a part less than a micrometre across is below what the solid modeller can build
  (OCCT's confusion tolerance is 1e-7 of the model unit) and what any view can show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cadlib.errors import ParseError

MAX_COORD_MM = 1e12
MIN_SIZE_MM = 1e-3


def check_coordinates(v, path: str | Path, scale_to_mm: float = 1.0) -> None:
    """Refuses coordinates (in the file's units times `scale_to_mm`) beyond `MAX_COORD_MM`, or not
    finite: checked on what a loader read, before any arithmetic on them overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        top = float(abs(np.asarray(v, dtype=float)).max()) * scale_to_mm if len(v) else 0.0
    if not top < MAX_COORD_MM:  # also catches inf / NaN
        raise ParseError(f"coordinates reach {top:.3g} mm, beyond +-{MAX_COORD_MM:.0e} mm: a corrupt or mis-scaled "
                         "file", source=str(path))


def check_size(lo, hi, path: str | Path, scale_to_mm: float = 1.0) -> None:
    """Refuses a part whose bounding box (`lo`, `hi`, in the file's units) reaches past
    `MAX_COORD_MM` or is under `MIN_SIZE_MM` across in every direction."""
    check_coordinates(np.concatenate([np.ravel(lo), np.ravel(hi)]), path, scale_to_mm)
    with np.errstate(over="ignore", invalid="ignore"):
        across = float(np.max(np.asarray(hi, dtype=float) - np.asarray(lo, dtype=float))) * scale_to_mm
    if not across >= MIN_SIZE_MM:
        raise ParseError(f"the part is {across:.3g} mm across, under the {MIN_SIZE_MM:g} mm the solid modeller and "
                         "the views can resolve: a mis-scaled or degenerate file", source=str(path))
