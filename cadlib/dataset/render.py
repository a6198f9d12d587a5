"""Render: the views of one model, written as PNGs into the dataset (runs in a worker process).

Sequence models are rebuilt from their construction-sequence text, so the views show exactly the
solid the training target describes (after quantisation), not the unquantised original; that
solid's facts (validity, volume, bodies) go into the report with the text's hash, for validate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RenderJob:
    id: str
    path: str  # the source file (non-sequence models)
    text_path: str  # the sequence text (sequence models), or ""
    images_dir: str
    views: tuple[str, ...]
    size: int
    style: str
    tile: bool  # one tiled image instead of one per view
    platform: str
    bits: int
    max_mb: float
    exact: bool = True  # lines style: exact hidden-line removal (False: polygonal)


def render_model(job: RenderJob) -> dict:
    """Renders and saves one model's views; returns the image names and any fallback notes.

    Raises the `CadlibError` of a model that cannot be loaded, built or drawn.
    """
    from cadlib.ingest.brep import model_from_sequence
    from cadlib.ingest.registry import load_model
    from cadlib.render import render_views, save_rendered
    from cadlib.text import from_text

    if job.text_path:
        text = Path(job.text_path).read_text(encoding="utf-8")
        model = model_from_sequence(from_text(text, job.bits, source=job.text_path, name=job.id), file=job.text_path)
    else:
        model = load_model(job.path, max_mb=job.max_mb)
    style, notes = job.style, []
    if style == "lines" and model.shape is None:
        style = "shaded"  # a mesh has no exact edges to draw lines from
        notes.append(f"{model.info.format} mesh drawn shaded (the lines style needs a B-rep)")
    rendered = render_views(model, job.views, size=job.size, style=style, svg=False, exact=job.exact,
                            platform=job.platform)
    if not job.exact and style == "lines":
        notes.append("polygonal hidden-line removal (the exact algorithm crashed or overran its time)")
    notes.extend(rendered.notes)
    if job.tile:
        from cadlib.render import tile

        rendered.images = {"tile": tile(rendered.images)}
    written = save_rendered(rendered, job.images_dir, job.id)
    out = {"images": [p.name for p in written], "style": style, "notes": notes}
    if job.text_path:  # the solid the views show, for validate (which would otherwise build it again)
        from cadlib import occ

        out["solid"] = {"text_sha256": hashlib.sha256(text.encode()).hexdigest(), "valid": occ.is_valid(model.shape),
                        "volume": occ.volume(model.shape), "solids": model.info.solids}
    return out
