"""Engineering line drawings by exact hidden-line removal: PNG (anti-aliased) and SVG."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cadlib.occ.hlr import hidden_lines
from cadlib.render.draw import composite, dashed, line_width, stroke_mask, svg_document
from cadlib.views import Framing, View, view_axes

HIDDEN_GREY = (140, 140, 140)


def render_lines(shape, views: list[View], framing: Framing, *, hidden: bool = True):
    """(images, svgs) per view: visible edges solid black, hidden ones dashed grey."""
    size = framing.size
    width, hidden_width = line_width(size), line_width(size, 0.6)
    dash, gap = 4.0 * size / 256.0, 3.0 * size / 256.0
    images, svgs = {}, {}
    for view in views:
        ax = view_axes(view)
        hl = hidden_lines(shape, ax.look, ax.right, origin=framing.center, deflection=framing.scale * 0.5,
                          with_hidden=hidden)
        vis = [framing.plane_to_pixels(pl) for pl in hl.visible]
        hid = [framing.plane_to_pixels(pl) for pl in hl.hidden]
        rgb = np.full((size, size, 3), 255, dtype=np.uint8)
        if hid:
            rgb = composite(rgb, stroke_mask(dashed(hid, dash, gap), size, hidden_width), HIDDEN_GREY)
        if vis:
            rgb = composite(rgb, stroke_mask(vis, size, width), (0, 0, 0))
        images[view] = Image.fromarray(rgb)
        svgs[view] = svg_document(size, vis, hid, width=width, hidden_width=hidden_width, dash=dash, gap=gap)
    return images, svgs
