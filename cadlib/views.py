"""The orthographic views and how a model maps onto image pixels.

Conventions (the same for every format; models are Z-up, see `cadlib.ingest.frame`):

| view | looks along | image right | image up | seen from |
|---|---|---|---|---|
| front | +Y | +X | +Z | the front (-Y side) |
| top | -Z | +X | +Y | above |
| right | -X | +Y | +Z | the right (+X side) |
| iso | (-1, +1, -1) | (+1, +1, 0)/sqrt2 | Z-ish | front-right-top |

This is third-angle projection: in a 2x2 tile, top sits above front and right beside it. One call
uses one scale for all its views (the largest view fits with a margin), so relative sizes survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class View(Enum):
    FRONT = "front"
    TOP = "top"
    RIGHT = "right"
    ISO = "iso"


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


# direction the camera looks along, and the world direction that is up in the image
_DIRECTIONS = {
    View.FRONT: ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    View.TOP: ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    View.RIGHT: ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    View.ISO: ((-1.0, 1.0, -1.0), (0.0, 0.0, 1.0)),
}


@dataclass(frozen=True, slots=True)
class ViewAxes:
    """Orthonormal camera axes: `look` (into the screen), `right`, `up`."""

    look: np.ndarray
    right: np.ndarray
    up: np.ndarray


def view_axes(view: View) -> ViewAxes:
    """The camera axes of a view."""
    look, up_hint = _DIRECTIONS[view]
    d = _unit(look)
    right = _unit(np.cross(d, up_hint))
    up = np.cross(right, d)
    return ViewAxes(d, right, up)


def parse_views(names) -> list[View]:
    """Views from names ('front', ...), in the given order; a clear error lists the known ones."""
    out = []
    for n in names:
        try:
            out.append(View(str(n).strip().lower()))
        except ValueError:
            raise ValueError(f"unknown view {n!r}: expected one of {[v.value for v in View]}") from None
    if not out:
        raise ValueError("no view given")
    return out


@dataclass(frozen=True, slots=True)
class Framing:
    """Pixel mapping shared by the views of one render: world point p -> pixel (u, v) of `view`.

    u = size/2 + (p - center) . right / scale ; v = size/2 - (p - center) . up / scale
    """

    center: np.ndarray
    scale: float  # world units per pixel
    size: int

    def project(self, points: np.ndarray, view: View) -> np.ndarray:
        """(N, 3) world points -> (N, 2) pixel coordinates (u right, v down)."""
        ax = view_axes(view)
        rel = np.asarray(points, dtype=float).reshape(-1, 3) - self.center
        return self.plane_to_pixels(np.stack([rel @ ax.right, rel @ ax.up], axis=1))

    def plane_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) coordinates on the view plane (right, up; relative to `center`) -> pixels."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        half = self.size / 2.0
        return np.stack([half + xy[:, 0] / self.scale, half - xy[:, 1] / self.scale], axis=1)

    def depth(self, points: np.ndarray, view: View) -> np.ndarray:
        """Distance of points along the view direction, from the centre plane."""
        return (np.asarray(points, dtype=float).reshape(-1, 3) - self.center) @ view_axes(view).look


def frame_views(points: np.ndarray, views: list[View], size: int, *, margin: float = 0.05) -> Framing:
    """One framing for all `views`: centred on the points' box, the widest view filling
    `1 - 2*margin` of the image."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if not len(pts):
        raise ValueError("nothing to frame: no points")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2.0
    rel = pts - center
    extent = 0.0
    for v in views:
        ax = view_axes(v)
        extent = max(extent, 2 * float(np.abs(rel @ ax.right).max()), 2 * float(np.abs(rel @ ax.up).max()))
    extent = extent if extent > 0 else 1.0
    return Framing(center, extent / (size * (1.0 - 2.0 * margin)), size)


def frame_points(points: np.ndarray) -> np.ndarray:
    """The few points of a cloud that decide its framing for any choice of views: those extreme
    along each axis (its box) and along each view's right and up. `frame_views` of these equals
    `frame_views` of the whole cloud, so a framing can be kept without the mesh it came from."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if not len(pts):
        raise ValueError("nothing to frame: no points")
    dirs = [np.eye(3)[i] for i in range(3)]
    for v in View:
        ax = view_axes(v)
        dirs += [ax.right, ax.up]
    keep: set[int] = set()
    for d in dirs:
        proj = pts @ d
        keep.update((int(proj.argmin()), int(proj.argmax())))
    return pts[sorted(keep)]
