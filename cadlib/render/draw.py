"""Drawing polylines anti-aliased onto images (aggdraw: AGG's rasteriser, in C) and into SVG
documents (no GL)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def line_width(size: int, weight: float = 1.0) -> float:
    """Stroke width in output pixels: 2 px at 512 px for visible lines, scaled with the image but
    never under 1.5 px (thinner anti-aliased lines fade to grey)."""
    return max(1.0, 1.5 * weight, 2.0 * weight * size / 512.0)


def dashed(polylines: list[np.ndarray], dash: float, gap: float) -> list[np.ndarray]:
    """Splits pixel-space polylines into dashes of `dash` pixels separated by `gap` pixels (each
    dash: its start, the polyline's corners inside it, its end). Vectorised over all polylines:
    each polyline gets its own stretch of one arc-length axis, so one `np.interp` serves all."""
    pls = [np.asarray(pl, dtype=float) for pl in polylines if len(pl) >= 2]
    if not pls:
        return []
    period = dash + gap
    lengths = [np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pl, axis=0), axis=1))]) for pl in pls]
    totals = np.array([c[-1] for c in lengths])
    keep = totals > 0
    if not keep.any():
        return []
    pls = [p for p, k in zip(pls, keep, strict=True) if k]
    lengths = [c for c, k in zip(lengths, keep, strict=True) if k]
    totals = totals[keep]
    base = np.concatenate([[0.0], np.cumsum(totals + period)[:-1]])  # disjoint stretches of the axis
    counts = np.ceil(totals / period).astype(np.int64)  # dashes per polyline: starts k*period < total
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    line = np.repeat(np.arange(len(pls)), counts)
    k = np.arange(counts.sum()) - first[line]
    starts = k * period
    ends = np.minimum(starts + dash, totals[line])
    cum = np.concatenate(lengths)
    of = np.repeat(np.arange(len(pls)), [len(c) for c in lengths])
    kk = np.minimum(np.floor(cum / period).astype(np.int64), counts[of] - 1)
    dash_of = first[of] + kk
    inner = (cum > starts[dash_of]) & (cum < ends[dash_of])  # corners strictly inside a dash
    which = np.concatenate([np.arange(len(starts)), dash_of[inner], np.arange(len(starts))])
    where = np.concatenate([starts + base[line], (cum + base[of])[inner], ends + base[line]])
    order = np.lexsort((where, which))
    which, where = which[order], where[order]
    axis = cum + base[of]
    xy = np.concatenate(pls)
    pts = np.stack([np.interp(where, axis, xy[:, 0]), np.interp(where, axis, xy[:, 1])], axis=1)
    return np.split(pts, np.flatnonzero(np.diff(which)) + 1)


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
