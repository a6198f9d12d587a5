"""Shaded orthographic views with pyrender, headless (EGL by default, OSMesa selectable).

Light grey, softly lit surfaces on white, with black edges drawn on top: the B-rep's own edges and
outlines (visibility by polygonal hidden-line removal on its triangulation) where there is a B-rep,
else mesh creases, boundaries and silhouettes tested against the depth buffer. Exactly one OffscreenRenderer per process, reused for every model (a
second one, created and deleted, breaks the first under EGL).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from cadlib.errors import UnsupportedFormat
from cadlib.mesh import Mesh
from cadlib.render.draw import line_width, stroke
from cadlib.render.mesh_edges import EdgeSet, silhouette, visible_runs
from cadlib.views import Framing, View, view_axes

_STATE: dict = {"renderer": None, "platform": None}
SURFACE = (0.70, 0.72, 0.76, 1.0)
EDGE_COLOR = (20, 20, 20)


def _pyrender(platform: str):
    if _STATE["platform"] not in (None, platform):
        raise RuntimeError(f"GL platform already set to {_STATE['platform']} in this process")
    os.environ["PYOPENGL_PLATFORM"] = platform
    if not hasattr(np, "infty"):
        setattr(np, "infty", np.inf)  # noqa: B010 - pyrender 0.1.45 still uses the alias numpy 2 removed
    try:
        import pyrender
    except ModuleNotFoundError as exc:  # pragma: no cover - a declared dependency
        raise UnsupportedFormat(f"shaded rendering needs pyrender ({exc}): pip install pyrender") from None
    except Exception as exc:  # PyOpenGL could not load the platform's GL library
        hint = (
            "OSMesa needs Debian's libosmesa6 and PyOpenGL >= 3.1.5 (pyrender pins 3.1.0)"
            if platform == "osmesa"
            else "install libegl1 libegl-mesa0 libgl1-mesa-dri libgles2"
        )
        raise UnsupportedFormat(f"headless GL platform {platform!r} is unavailable ({exc}); {hint}") from None
    _STATE["platform"] = platform
    _single_sample_framebuffer()
    return pyrender


def _single_sample_framebuffer() -> None:
    """pyrender draws into a 4x multisampled framebuffer; on a software rasteriser (llvmpipe) that
    costs a quarter of the frame time (measured: 87 -> 65 ms for 3 views at 512 px). The views
    need no surface anti-aliasing: every face boundary and silhouette is covered by an
    anti-aliased edge stroke drawn afterwards."""
    import pyrender.renderer as pr

    if getattr(pr, "_cadrecon_single_sample", False):
        return
    multisample = pr.glRenderbufferStorageMultisample

    def single(target, samples, fmt, width, height):
        return multisample(target, 0, fmt, width, height)

    pr.glRenderbufferStorageMultisample = single
    pr._cadrecon_single_sample = True


def _renderer(pyrender, size: int):
    r = _STATE["renderer"]
    if r is None:
        try:
            r = pyrender.OffscreenRenderer(size, size)
        except Exception as exc:
            raise UnsupportedFormat(
                f"no headless GL ({type(exc).__name__}: {exc}); install libegl1 libegl-mesa0 libgl1-mesa-dri "
                "libgles2, or set CADRECON_RENDER__GL_PLATFORM=osmesa"
            ) from None
        _STATE["renderer"] = r
    elif r.viewport_width != size:
        r.viewport_width = r.viewport_height = size
    return r


def _release(renderer) -> None:
    """Leaves the renderer's EGL context current on no thread, so the next render may come from
    another one: Prefect runs a flow's sync code in worker threads, and an EGL context still current
    on one thread cannot be made current on another (EGL_BAD_ACCESS, seen when a reconstruction
    rendered after a render on the main thread). OSMesa has no such binding."""
    display = getattr(getattr(renderer, "_platform", None), "_egl_display", None)
    if display is None:
        return
    from OpenGL.EGL import EGL_NO_CONTEXT, EGL_NO_SURFACE, eglMakeCurrent

    eglMakeCurrent(display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT)


def _look_at(look: np.ndarray, right: np.ndarray, up: np.ndarray, eye: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -look, eye
    return pose


def render_shaded(
    mesh: Mesh,
    views: list[View],
    framing: Framing,
    *,
    smooth: bool,
    brep_edges: Callable[[View], list[np.ndarray]] | None = None,
    mesh_edge_set: EdgeSet | None = None,
    platform: str = "egl",
) -> dict[View, Image.Image]:
    """Renders `mesh` (already in its display frame) for each view.

    Args:
        smooth: interpolate vertex normals (B-rep tessellations, whose vertices are per face);
            False shades each triangle flat (meshes, whose vertices are shared across creases).
        brep_edges: view -> visible B-rep edge polylines in pixels (from hidden-line removal).
        mesh_edge_set: mesh edges to draw where there is no B-rep.
    """
    pyrender = _pyrender(platform)
    import trimesh

    size = framing.size
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.42, 0.42, 0.42])
    material = pyrender.MetallicRoughnessMaterial(
        baseColorFactor=SURFACE, metallicFactor=0.0, roughnessFactor=0.85, doubleSided=True
    )
    scene.add(pyrender.Mesh.from_trimesh(tm, material=material, smooth=smooth))
    radius = float(np.linalg.norm(mesh.vertices - framing.center, axis=1).max()) if len(mesh.vertices) else 1.0
    radius = max(radius, 1e-9)
    dist = 3.0 * radius
    half = framing.scale * size / 2.0
    camera = pyrender.OrthographicCamera(xmag=half, ymag=half, znear=radius * 0.5, zfar=radius * 5.5)
    cam_node = scene.add(camera)
    light = scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=2.6))
    renderer = _renderer(pyrender, size)
    out = {}
    try:
        for view in views:
            ax = view_axes(view)
            eye = framing.center - ax.look * dist
            pose = _look_at(ax.look, ax.right, ax.up, eye)
            scene.set_pose(cam_node, pose)
            # light from the upper left of the viewer: faces at different angles get different greys
            key = -ax.look + 0.45 * ax.up - 0.35 * ax.right
            key /= np.linalg.norm(key)
            light_right = np.cross(-key, ax.up)
            light_right /= np.linalg.norm(light_right)
            scene.set_pose(light, _look_at(-key, light_right, np.cross(light_right, -key), framing.center + key * dist))
            color, zbuf = renderer.render(scene)
            img = Image.fromarray(np.ascontiguousarray(color[..., :3]))
            if brep_edges is not None:
                runs = brep_edges(view)
            elif mesh_edge_set is not None:
                runs = _mesh_edge_runs(mesh_edge_set, view, framing, _ortho_depth(zbuf, camera, dist), radius)
            else:
                runs = []
            if runs:
                stroke(img, runs, line_width(size), EDGE_COLOR)
            out[view] = img
    finally:
        _release(renderer)
    return out


def _ortho_depth(zbuf: np.ndarray, camera, dist: float) -> np.ndarray:
    """pyrender linearises depth as for a perspective camera; undo that for the orthographic one
    and express it, like `Framing.depth`, relative to the plane through the framing centre."""
    n, f = camera.znear, camera.zfar
    out = np.full(zbuf.shape, np.inf, dtype=np.float64)
    hit = zbuf > 0
    ndc = (f + n - 2.0 * n * f / zbuf[hit]) / (f - n)
    out[hit] = n + (ndc + 1.0) / 2.0 * (f - n) - dist
    return out


def _mesh_edge_runs(edges: EdgeSet, view: View, framing: Framing, zbuf: np.ndarray, radius: float) -> list[np.ndarray]:
    ax = view_axes(view)
    segs = np.concatenate([edges.feature, silhouette(edges, ax.look)]) if len(edges.feature) else silhouette(edges, ax.look)
    if not len(segs):
        return []
    samples = 6
    t = np.linspace(0.0, 1.0, samples)[None, :, None]
    pts = segs[:, :1, :] * (1 - t) + segs[:, 1:, :] * t  # (K, S, 3)
    flat = pts.reshape(-1, 3)
    pix = framing.project(flat, view).reshape(len(segs), samples, 2)
    depth = framing.depth(flat, view).reshape(len(segs), samples)
    return visible_runs(pix, depth, zbuf, tol=0.01 * radius + 2.0 * framing.scale)
