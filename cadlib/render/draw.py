"""Drawing polylines into anti-aliased PNG layers and SVG documents (no GL)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 2
"""Lines are drawn at this multiple of the output size and filtered down: anti-aliasing."""


def line_width(size: int, weight: float = 1.0) -> float:
    """Stroke width in output pixels: 2 px at 512 px for visible lines, scaled with the image but
    never under 1.5 px (thinner anti-aliased lines fade to grey)."""
    return max(1.0, 1.5 * weight, 2.0 * weight * size / 512.0)


def dashed(polylines: list[np.ndarray], dash: float, gap: float) -> list[np.ndarray]:
    """Splits pixel-space polylines into dashes of `dash` pixels separated by `gap` pixels."""
    out = []
    period = dash + gap
    for pl in polylines:
        if len(pl) < 2:
            continue
        seg = np.diff(pl, axis=0)
        lengths = np.linalg.norm(seg, axis=1)
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        total = cum[-1]
        start = 0.0
        while start < total:
            end = min(start + dash, total)
            ts = np.concatenate([[start], cum[(cum > start) & (cum < end)], [end]])
            pts = np.stack([np.interp(ts, cum, pl[:, 0]), np.interp(ts, cum, pl[:, 1])], axis=1)
            out.append(pts)
            start += period
    return out


def stroke_mask(polylines: list[np.ndarray], size: int, width: float) -> Image.Image:
    """Coverage mask ("L" image, size x size) of pixel-space polylines stroked `width` wide,
    anti-aliased by drawing at `SUPERSAMPLE` times the size and box-filtering down."""
    ss = SUPERSAMPLE
    img = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(img)
    w = max(1, int(round(width * ss)))
    r = w / 2.0
    for pl in polylines:
        if len(pl) < 2:
            continue
        pts = [(float(x) * ss, float(y) * ss) for x, y in pl]
        draw.line(pts, fill=255, width=w, joint="curve")
        if w > 2:
            for x, y in (pts[0], pts[-1]):  # round caps
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return img.reduce(ss)


def stroke(img: Image.Image, polylines: list[np.ndarray], width: float, color) -> Image.Image:
    """Strokes pixel-space polylines onto `img` ("L" or "RGB") in place with `color`, anti-aliased
    by AGG's exact-coverage scanline rasteriser (aggdraw, in C): no supersampled layer to draw,
    filter and paste."""
    import aggdraw

    draw = aggdraw.Draw(img)
    rgb = tuple(int(c) for c in color) * (3 if len(color) == 1 else 1)
    pen = aggdraw.Pen(rgb[:3], float(width))
    for pl in polylines:
        if len(pl) >= 2:
            draw.line(np.asarray(pl, dtype=float).ravel().tolist(), pen)
    draw.flush()
    return img


def paint(base: Image.Image, mask: Image.Image, color) -> Image.Image:
    """Lays `color` over `base` (RGB, or L with a grey level) in place, by coverage `mask`."""
    fill = int(color[0]) if base.mode == "L" else tuple(int(c) for c in color)
    base.paste(fill, (0, 0, base.width, base.height), mask)
    return base


def svg_document(size: int, visible: list[np.ndarray], hidden: list[np.ndarray], *, width: float,
                 hidden_width: float, dash: float, gap: float) -> str:
    """An SVG drawing: white background, visible lines black, hidden lines dashed grey."""

    def path(pls: list[np.ndarray]) -> str:
        return " ".join("M" + " L".join(f"{x:.2f},{y:.2f}" for x, y in pl) for pl in pls if len(pl) >= 2)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
        f'<rect width="{size}" height="{size}" fill="white"/>',
    ]
    if hidden:
        parts.append(
            f'<path d="{path(hidden)}" fill="none" stroke="#8c8c8c" stroke-width="{hidden_width:.2f}" '
            f'stroke-dasharray="{dash:.1f} {gap:.1f}" stroke-linecap="round"/>'
        )
    if visible:
        parts.append(
            f'<path d="{path(visible)}" fill="none" stroke="black" stroke-width="{width:.2f}" '
            'stroke-linecap="round" stroke-linejoin="round"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
