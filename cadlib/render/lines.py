"""Engineering line drawings by exact hidden-line removal: PNG (anti-aliased) and SVG."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from cadlib.errors import BuildError
from cadlib.mesh import Mesh
from cadlib.occ.hlr import HiddenLines, hidden_lines
from cadlib.render.draw import dashed, line_width, stroke, svg_document
from cadlib.render.mesh_edges import mesh_edges
from cadlib.views import Framing, View, view_axes

HIDDEN_GREY = (120, 120, 120)


def render_lines(
    shape, mesh: Callable[[], Mesh], views: list[View], framing: Framing, *, hidden: bool = True, exact: bool = True,
    svg: bool = True,
):
    """(images, svgs, notes) per view: visible edges solid black, hidden ones dashed grey, as
    greyscale ("L") images.

    With `exact=False` the polygonal algorithm is used; where it fails or finds nothing (open
    sheets, a few broken files) the view falls back to the creases and boundaries of the mesh that
    `mesh()` returns (called only then), drawn without hidden-line removal (a wireframe), and
    `notes` says so."""
    size = framing.size
    width, hidden_width = line_width(size), line_width(size, 0.75)
    dash, gap = 4.0 * size / 256.0, 3.0 * size / 256.0
    images, svgs, notes = {}, {}, []
    wireframe = None  # mesh edges, computed on first need
    for view in views:
        ax = view_axes(view)
        try:
            hl = hidden_lines(shape, ax.look, ax.right, with_hidden=hidden, exact=exact, origin=framing.center,
                              deflection=framing.scale * 0.5)
        except BuildError:
            hl = HiddenLines([], [])
        if not exact and not hl.visible:
            notes.append(f"{view.value}: polygonal hidden-line removal found nothing; wireframe drawn")
            wireframe = mesh_edges(mesh()).feature if wireframe is None else wireframe
            vis = [framing.project(seg, view) for seg in wireframe]
        else:
            vis = [framing.plane_to_pixels(pl) for pl in hl.visible]
        hid = [framing.plane_to_pixels(pl) for pl in hl.hidden]
        # greyscale: a line drawing has no colour, and PNG encodes one channel 3x faster
        img = Image.new("L", (size, size), 255)
        if hid:
            stroke(img, dashed(hid, dash, gap), hidden_width, HIDDEN_GREY)
        if vis:
            stroke(img, vis, width, (0, 0, 0))
        images[view] = img
        if svg:
            svgs[view] = svg_document(size, vis, hid, width=width, hidden_width=hidden_width, dash=dash, gap=gap)
    return images, svgs, notes
