"""Orthographic views of a loaded model, in two styles with one interface.

- ``shaded``: pyrender, headless, light shading with black edges (exact B-rep edges where the
  source has a B-rep, mesh creases and silhouettes otherwise).
- ``lines``: an engineering drawing by exact hidden-line removal (OCP, no GL): visible edges solid
  black, hidden edges dashed grey (or omitted); PNG and SVG. Needs a B-rep source.

View conventions and the shared scale are in `cadlib.views`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image

from cadlib.errors import UnsupportedFormat
from cadlib.ingest.frame import to_canonical_frame
from cadlib.ingest.model import LoadedModel
from cadlib.views import Framing, View, frame_views, parse_views, view_axes

__all__ = ["Rendered", "Style", "View", "render_views", "save_rendered", "tile"]


class Style(Enum):
    SHADED = "shaded"
    LINES = "lines"


@dataclass(slots=True)
class Rendered:
    """Images per view name (RGB, size x size), and SVG text per view for the lines style."""

    images: dict[str, Image.Image]
    svgs: dict[str, str] = field(default_factory=dict)
    framing: Framing | None = None


def _display_mesh(model: LoadedModel):
    mesh = model.mesh
    if model.info.up_axis == "y" and model.shape is None:
        mesh = to_canonical_frame(mesh, "y")
    return mesh


def render_views(
    model: LoadedModel,
    views=("front", "top", "right"),
    *,
    size: int = 512,
    style: Style | str = Style.SHADED,
    hidden: bool = True,
    platform: str = "egl",
) -> Rendered:
    """Renders the views of a model (one shared scale).

    Args:
        model: from `cadlib.ingest.load_model` (or `model_from_sequence`).
        views: view names or `View`s, in output order.
        size: image side in pixels.
        style: "shaded" or "lines".
        hidden: in the lines style, draw hidden edges dashed (False omits them).
        platform: headless GL for the shaded style, "egl" or "osmesa".

    Raises:
        UnsupportedFormat: lines style for a mesh-only source, or no headless GL available.
    """
    style = Style(style)
    vlist = parse_views(views)
    mesh = _display_mesh(model)
    if not len(mesh.faces):
        raise UnsupportedFormat("nothing to render: the model has no faces", source=model.info.file)
    framing = frame_views(mesh.vertices, vlist, size)
    if style is Style.LINES:
        if model.shape is None:
            raise UnsupportedFormat(
                f"the lines style needs a B-rep source (STEP, JSON, sequence text); this is a {model.info.format} "
                "mesh: use the shaded style",
                source=model.info.file,
            )
        from cadlib.render.lines import render_lines

        images, svgs = render_lines(model.shape, vlist, framing, hidden=hidden)
        return Rendered({v.value: images[v] for v in vlist}, {v.value: svgs[v] for v in vlist}, framing)
    from cadlib.render.shaded import render_shaded

    if model.shape is not None:
        from cadlib.occ.hlr import hidden_lines

        def brep_edges(view: View) -> list[np.ndarray]:
            ax = view_axes(view)
            hl = hidden_lines(model.shape, ax.look, ax.right, origin=framing.center,
                              deflection=framing.scale * 0.5, with_hidden=False)
            return [framing.plane_to_pixels(pl) for pl in hl.visible]

        images = render_shaded(mesh, vlist, framing, smooth=True, brep_edges=brep_edges, platform=platform)
    else:
        from cadlib.render.mesh_edges import mesh_edges

        images = render_shaded(mesh, vlist, framing, smooth=False, mesh_edge_set=mesh_edges(mesh), platform=platform)
    return Rendered({v.value: images[v] for v in vlist}, {}, framing)


TILE_LAYOUT = (("top", "iso"), ("front", "right"))
"""2x2 composite, third-angle: top above front, right beside front, iso in the free corner."""


def tile(images: dict[str, Image.Image]) -> Image.Image:
    """The four views in one image twice the size (missing views stay white)."""
    size = next(iter(images.values())).width
    out = Image.new("RGB", (2 * size, 2 * size), "white")
    for r, row in enumerate(TILE_LAYOUT):
        for c, name in enumerate(row):
            if name in images:
                out.paste(images[name], (c * size, r * size))
    return out


def save_rendered(rendered: Rendered, out_dir: str | Path, stem: str, *, with_tile: bool = False) -> list[Path]:
    """Writes `<stem>_<view>.png` (and `.svg` for lines, `<stem>_tile.png`) atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, img in rendered.images.items():
        written.append(_atomic_png(img, out_dir / f"{stem}_{name}.png"))
    for name, svg in rendered.svgs.items():
        path = out_dir / f"{stem}_{name}.svg"
        tmp = path.with_suffix(".svg.tmp")
        tmp.write_text(svg, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    if with_tile:
        written.append(_atomic_png(tile(rendered.images), out_dir / f"{stem}_tile.png"))
    return written


def _atomic_png(img: Image.Image, path: Path) -> Path:
    tmp = path.with_suffix(".png.tmp")
    img.save(tmp, format="PNG", optimize=False)
    tmp.replace(path)
    return path
