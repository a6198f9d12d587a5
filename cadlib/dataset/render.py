"""Render: the views of one model, written as PNGs into the dataset (runs in a worker process).

Sequence models are drawn from the solid of their construction-sequence text, so the views show
exactly the solid the training target describes (after quantisation), not the unquantised original:
the solid extract built and kept, or one built here from the text. Its facts (validity, volume,
bodies) go into the report with the text's hash, for validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cadlib.dataset.reports import RenderedModel, SolidFacts


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
    solid_path: str = ""  # the solid extract kept for this model (sequence models), or ""


def render_model(job: RenderJob) -> RenderedModel:
    """Renders and saves one model's views; returns the image names and any fallback notes.

    A sequence model whose solid extract kept (`cadlib.dataset.solids`) is drawn from that solid
    without building it again (and, in the lines style, without tessellating it); the file is
    removed once drawn.

    Raises the `CadlibError` of a model that cannot be loaded, built or drawn.
    """
    from cadlib.render import save_rendered

    text = Path(job.text_path).read_text(encoding="utf-8") if job.text_path else ""
    kept = None
    solid: SolidFacts | None = None
    if text and job.solid_path:
        from cadlib.dataset.solids import take

        kept = take(job.solid_path, text)
    if kept is not None and job.style == "lines":
        from cadlib.render import render_solid_lines

        rendered = render_solid_lines(kept.shape, job.views, framing_points=kept.frame_points, size=job.size,
                                      exact=job.exact, svg=False)
        style, notes = "lines", []
    else:
        rendered, style, notes, solid = _render_loaded(job, text, kept)
    if kept is not None:
        solid = {"valid": kept.valid, "volume": kept.volume, "solids": kept.solids}
    if not job.exact and style == "lines":
        notes.append("polygonal hidden-line removal (the exact algorithm crashed or overran its time)")
    notes.extend(rendered.notes)
    if job.tile:
        from cadlib.render import tile

        rendered.images = {"tile": tile(rendered.images)}
    written = save_rendered(rendered, job.images_dir, job.id)
    from cadlib.dataset.digests import digests

    out: RenderedModel = {"images": [p.name for p in written], "style": style, "notes": notes,
                          "digests": digests(written)}
    if text and solid is not None:  # the solid the views show, for validate (which would otherwise build it again)
        from cadlib.dataset.solids import text_key

        out["solid"] = {"text_sha256": text_key(text), **solid}
    if job.solid_path:
        Path(job.solid_path).unlink(missing_ok=True)
    return out


def _render_loaded(job: RenderJob, text: str, kept):
    """(rendered, style, notes, solid facts) of a model loaded here, or meshed from the solid
    extract kept, or built here from its text."""
    from cadlib.ingest import brep
    from cadlib.ingest.registry import load_model
    from cadlib.render import render_views
    from cadlib.text import from_text

    if text:
        seq = from_text(text, job.bits, source=job.text_path, name=job.id)
        model = (brep.model_from_solid(kept.shape, seq, file=job.text_path) if kept is not None
                 else brep.model_from_sequence(seq, file=job.text_path))
    else:
        model = load_model(job.path, max_mb=job.max_mb)
    style, notes = job.style, []
    if style == "lines" and model.shape is None:
        style = "shaded"  # a mesh has no exact edges to draw lines from
        notes.append(f"{model.info.format} mesh drawn shaded (the lines style needs a B-rep)")
    rendered = render_views(model, job.views, size=job.size, style=style, svg=False, exact=job.exact,
                            platform=job.platform)
    solid: SolidFacts | None = None
    if text and kept is None:
        from cadlib import occ

        solid = {"valid": occ.is_valid(model.shape), "volume": occ.volume(model.shape), "solids": model.info.solids}
    return rendered, style, notes, solid
