"""The per-file job of the render conformance suite (module level: worker processes import it)."""

from __future__ import annotations

import numpy as np


def _drew(rendered, mesh) -> bool:
    """Every view in which the model is more than a sliver shows dark edges."""
    from cadlib.views import View

    for name, img in rendered.images.items():
        pix = rendered.framing.project(mesh.vertices, View(name))
        if (np.ptp(pix, axis=0) < 3).any():
            continue  # seen edge-on (a flat sheet): nothing but a line to draw
        if not (np.asarray(img.convert("L")) < 128).any():
            return False
    return True


def render_file(path: str) -> dict:
    """Loads a file and renders front/top/right at 128 px shaded and, for B-rep sources, as
    exact line drawings; returns per style whether every view shows dark edges."""
    from cadlib.ingest import load_model
    from cadlib.render import render_views

    model = load_model(path)
    out = {"shaded": _drew(render_views(model, ("front", "top", "right"), size=128, style="shaded"), model.mesh)}
    if model.shape is not None:
        out["lines"] = _drew(render_views(model, ("front", "top", "right"), size=128, style="lines"), model.mesh)
    return out


def render_lines_poly(path: str) -> dict:
    """The fallback for files whose exact hidden-line removal crashes or overruns: polygonal."""
    from cadlib.ingest import load_model
    from cadlib.render import render_views

    model = load_model(path)
    r = render_views(model, ("front", "top", "right"), size=128, style="lines", exact=False)
    return {"lines (polygonal)" if not r.notes else "lines (wireframe fallback)": _drew(r, model.mesh)}
