"""Pixel tests of the renderers on models with known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from cadlib import UnsupportedFormat, parse_sequence
from cadlib.ingest.brep import model_from_sequence
from cadlib.render import render_views, save_rendered, tile
from cadlib.synth import ModelBuilder, circle, polygon, rect
from cadlib.views import View, frame_views, view_axes
from tests.cadlib import models

SIZE = 256
FILL = SIZE * 0.9  # the widest view fills 90% of the image (5% margin each side)


def _model(seq):
    return model_from_sequence(seq, file=seq.name or "fixture")


def _ink(img, threshold=250) -> np.ndarray:
    return np.asarray(img.convert("L")) < threshold


def _bbox(mask: np.ndarray):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return cols[0], rows[0], cols[-1], rows[-1]


@pytest.mark.parametrize("style", ["lines", "shaded"])
def test_cube_views_are_squares_of_the_expected_size(style):
    r = render_views(_model(models.cube()), ("front", "top", "right"), size=SIZE, style=style)
    for name, img in r.images.items():
        assert img.size == (SIZE, SIZE)
        x0, y0, x1, y1 = _bbox(_ink(img))
        assert abs((x1 - x0 + 1) - FILL) <= 2, (name, x0, x1)
        assert abs((y1 - y0 + 1) - FILL) <= 2, (name, y0, y1)
        assert abs((x0 + x1) / 2 - (SIZE - 1) / 2) <= 1.5 and abs((y0 + y1) / 2 - (SIZE - 1) / 2) <= 1.5


def test_top_view_of_a_plate_shows_the_hole_at_its_diameter():
    # 10 x 10 plate, hole radius 2: the diameter is 4/10 of the plate's 90% width
    expected = FILL * 4 / 10
    r = render_views(_model(models.plate_with_hole()), ("top",), size=SIZE, style="shaded")
    row = np.asarray(r.images["top"].convert("L"))[SIZE // 2]
    white = row >= 252  # background seen through the hole
    inside = np.flatnonzero(~white)
    left, right = inside[0], inside[-1]
    hole = np.flatnonzero(white[left:right]) + left
    assert abs(len(hole) - expected) <= 2 + 2  # + the edge strokes' half widths
    lines = render_views(_model(models.plate_with_hole()), ("top",), size=SIZE, style="lines")
    dark = np.flatnonzero(np.asarray(lines.images["top"].convert("L"))[SIZE // 2] < 128)
    groups = np.split(dark, np.flatnonzero(np.diff(dark) > 1) + 1)
    centres = [g.mean() for g in groups]  # plate edge, hole edge, hole edge, plate edge
    assert len(centres) == 4
    assert abs((centres[2] - centres[1]) - expected) <= 2


def test_hidden_hole_is_dashed_in_the_front_view():
    r = render_views(_model(models.plate_with_hole()), ("front",), size=SIZE, style="lines")
    ink = _ink(r.images["front"], 235)
    rows = np.flatnonzero(ink.any(axis=1))
    inner = ink[rows[0] + 3:rows[-1] - 2]  # between the plate's top and bottom edges
    expected = [SIZE / 2 - FILL * 2 / 10, SIZE / 2 + FILL * 2 / 10]  # hole walls at x = 3 and 7
    for e in expected:
        cols = range(int(round(e)) - 2, int(round(e)) + 3)
        best = max(cols, key=lambda c: inner[:, c].sum())
        column = inner[:, best]
        assert column.sum() > 0.4 * len(column), f"no hidden line near column {e}"
        dashes = np.count_nonzero(np.diff(column.astype(int)) == 1)
        assert dashes >= 3, "hidden line is not dashed"
        grey = np.asarray(r.images["front"].convert("L"))[rows[0] + 3:rows[-1] - 2, best][column]
        assert grey.min() > 60, "hidden line is drawn black, not grey"
    omitted = render_views(_model(models.plate_with_hole()), ("front",), size=SIZE, style="lines", hidden=False)
    ink = _ink(omitted.images["front"])
    rows = np.flatnonzero(ink.any(axis=1))
    inner = ink[rows[0] + 3:rows[-1] - 2]
    for e in expected:
        assert not inner[:, int(round(e)) - 2:int(round(e)) + 3].any()
    assert "stroke-dasharray" in r.svgs["front"] and "stroke-dasharray" not in omitted.svgs["front"]


def _bracket():
    """An L-bracket (leg at x in [0,5] up to z=30, flange to x=40, 5 thick, y in [0,20]) with a
    boss of radius 3 at (30, 15) on the flange, 8 tall: nothing about it is symmetric."""
    b = ModelBuilder()
    b.extrude("xz", (0, 0, 0), [polygon([(0, 0), (40, 0), (40, 5), (5, 5), (5, 30), (0, 30)])], "NewBody", "OneSide", -20)
    b.extrude("xy", (0, 0, 5), [circle((30, 15), 3)], "Join", "OneSide", 8)
    return parse_sequence(b.json(), name="bracket")


def test_asymmetric_bracket_views_are_not_mirrored_or_swapped():
    model = _model(_bracket())
    views = ("front", "top", "right")
    r = render_views(model, views, size=SIZE, style="lines", hidden=False)
    fr = r.framing

    def ink_at(view: str, point) -> bool:
        # the builder writes DeepCAD JSON, in metres: the model is in mm, 1000x the numbers here
        u, v = fr.project(np.asarray(point, dtype=float) * 1000.0, View(view))[0]
        img = _ink(r.images[view], 128)
        y, x = int(round(v)), int(round(u))
        return bool(img[max(0, y - 2):y + 3, max(0, x - 2):x + 3].any())

    # front (looking +Y, right = +X, up = +Z): the tall leg is on the left
    assert ink_at("front", (0, 0, 25)) and not ink_at("front", (40, 0, 25))
    assert ink_at("front", (27, 0, 10)) and ink_at("front", (33, 0, 10))  # the boss, on the right
    # top (looking -Z, right = +X, up = +Y): the boss circle at (30, 15), not mirrored to y = 5
    assert ink_at("top", (33, 15, 13)) and ink_at("top", (30, 18, 13))
    assert not ink_at("top", (30, 2, 13)) and not ink_at("top", (10, 15, 13))
    # right (looking -X, right = +Y, up = +Z): the boss sides at y = 12 and 18, not at 2 and 8
    assert ink_at("right", (40, 12, 10)) and ink_at("right", (40, 18, 10))
    assert not ink_at("right", (40, 2, 10)) and not ink_at("right", (40, 8, 10))
    shaded = render_views(model, views, size=SIZE, style="shaded")
    assert {k: v.size for k, v in shaded.images.items()} == {k: (SIZE, SIZE) for k in views}


def test_views_share_one_scale():
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 40, 10)], "NewBody", "OneSide", 20)
    r = render_views(_model(parse_sequence(b.json())), ("front", "top", "right"), size=SIZE, style="lines")
    w = {k: _bbox(_ink(img, 128)) for k, img in r.images.items()}
    # front is 40 x 20, right is 10 x 20: same pixels per unit
    front_w = w["front"][2] - w["front"][0] + 1
    right_w = w["right"][2] - w["right"][0] + 1
    assert abs(front_w - FILL) <= 3 and abs(right_w - FILL / 4) <= 3  # ink includes the stroke


def test_mesh_sources_render_shaded_with_edges_and_refuse_lines(tmp_path):
    import trimesh

    from cadlib.ingest import load_model

    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(10, 10, 10)).export(str(path))
    model = load_model(path)
    r = render_views(model, ("front", "iso"), size=SIZE)
    front = np.asarray(r.images["front"].convert("L"))
    x0, y0, x1, y1 = _bbox(front < 128)
    # scale shared with the wider iso view; the ink includes the outer half of the outline's stroke
    assert abs((x1 - x0 + 1) - 10 / r.framing.scale) <= 3
    # the square's outline is drawn dark on all four sides, the inside is shaded grey, not white
    for line in (front[y0:y1, x0], front[y0:y1, x1], front[y0, x0:x1], front[y1, x0:x1]):
        assert (line < 128).mean() > 0.9
    inside = front[y0 + 5:y1 - 5, x0 + 5:x1 - 5]
    assert 150 < inside.mean() < 250
    iso = np.asarray(r.images["iso"].convert("L"))
    assert len(np.unique(iso[iso < 250] // 8)) > 3  # three faces shaded differently, plus edges
    with pytest.raises(UnsupportedFormat, match="lines style needs a B-rep"):
        render_views(model, ("front",), style="lines")


def test_tile_and_files(tmp_path):
    r = render_views(_model(models.cube()), ("front", "top", "right", "iso"), size=64, style="lines")
    t = tile(r.images)
    assert t.size == (128, 128)
    written = save_rendered(r, tmp_path, "cube", with_tile=True)
    names = sorted(p.name for p in written)
    assert "cube_tile.png" in names and "cube_iso.svg" in names and len(names) == 9
    assert not list(tmp_path.glob("*.tmp"))


def test_line_drawings_are_stored_as_16_greys_and_shading_as_rgb(tmp_path):
    from PIL import Image

    from cadlib.render import LINE_GREYS

    lines = render_views(_model(models.plate_with_hole()), ("front", "top", "right", "iso"), size=128, style="lines")
    assert tile(lines.images).mode == "L"  # a tile of line drawings stays grey
    for path in save_rendered(lines, tmp_path, "lines", with_tile=True):
        if path.suffix != ".png":
            continue
        with Image.open(path) as im:
            assert im.mode == "P" and im.info.get("transparency") is None
            grey = np.asarray(im.convert("L"), dtype=float)
        source = lines.images.get(path.stem.removeprefix("lines_")) or tile(lines.images)
        want = np.asarray(source, dtype=float)
        assert len(np.unique(grey)) <= LINE_GREYS and grey.max() == 255 and grey.min() == 0
        assert np.abs(grey - want).max() <= 255 / (LINE_GREYS - 1) / 2 + 0.5  # within half a grey step
        assert (grey[want == 255] == 255).all() and (grey[want == 0] == 0).all()  # paper and ink exact
    shaded = render_views(_model(models.cube()), ("front",), size=64, style="shaded")
    with Image.open(save_rendered(shaded, tmp_path, "shaded")[0]) as im:
        assert im.mode == "RGB"


def test_view_axes_are_right_handed_and_framing_round_trips():
    for v in View:
        ax = view_axes(v)
        np.testing.assert_allclose(np.cross(ax.right, ax.up), -ax.look, atol=1e-12)
    fr = frame_views(np.array([[0, 0, 0], [2, 4, 6]]), [View.FRONT], 100)
    np.testing.assert_allclose(fr.project(np.array([[1, 2, 3]]), View.FRONT), [[50, 50]])


def test_unknown_view_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown view 'back'"):
        render_views(_model(models.cube()), ("back",))


def test_shaded_renders_from_one_thread_then_another():
    """Prefect runs a flow's sync code in worker threads: the one GL context of the process must
    render wherever the last render left it (EGL_BAD_ACCESS otherwise)."""
    from concurrent.futures import ThreadPoolExecutor

    first = render_views(_model(models.cube()), ("front",), size=SIZE, style="shaded")
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(render_views, _model(models.cube()), ("front",), size=SIZE, style="shaded").result()
    assert np.array_equal(np.asarray(first.images["front"]), np.asarray(second.images["front"]))
