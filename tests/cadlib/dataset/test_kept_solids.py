"""The solid extract keeps for render: it draws the same pixels as a solid built from the text,
a stale or broken file is never used, and the file goes once the model is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from cadlib import occ
from cadlib.dataset import DatasetLayout
from cadlib.dataset.plan import SourceSpec, plan_dataset
from cadlib.dataset.render import RenderJob, render_model
from cadlib.dataset.solids import keep, take
from cadlib.deepcad_json import parse_sequence
from cadlib.errors import BuildError
from cadlib.fidelity import quantised_solid
from cadlib.ingest import brep
from cadlib.ingest.brep import model_from_sequence
from cadlib.render import render_solid_lines, render_views
from cadlib.synth import generate
from cadlib.text import from_text, to_text
from cadlib.transform import normalize
from cadlib.views import View, frame_points, frame_views
from tests.cadlib.dataset.deepcad_fixture import make_deepcad
from tests.cadlib.dataset.test_extract import inline

VIEWS = ("front", "top", "right", "iso")


def _checked(n: int, seed: int):
    out = []
    for _, data in generate(n, seed=seed):
        seq = normalize(parse_sequence(data))
        text = to_text(seq, 8)
        try:
            out.append((text, quantised_solid(seq, from_text(text))))
        except Exception:  # noqa: BLE001 - models quantisation changes are dropped by extract too
            continue
    return out


def test_frame_points_frame_like_the_whole_cloud():
    rng = np.random.default_rng(3)
    for _ in range(50):
        pts = rng.normal(size=(400, 3)) * rng.uniform(0.1, 10, size=3) + rng.normal(size=3)
        few = frame_points(pts)
        assert len(few) <= 28
        for views in ([View.FRONT, View.TOP, View.RIGHT], [View.ISO], list(View)):
            a, b = frame_views(pts, views, 256), frame_views(few, views, 256)
            assert (a.center == b.center).all() and a.scale == b.scale


def test_a_kept_solid_draws_the_pixels_of_the_solid_built_from_its_text(tmp_path):
    checked = _checked(12, seed=11)
    assert len(checked) >= 8
    for i, (text, q) in enumerate(checked):
        path = keep(tmp_path / f"{i}.brep", text, q.shape, valid=q.valid, mesh_vertices=q.mesh.vertices)
        kept = take(path, text)
        built = model_from_sequence(from_text(text, 8), file="x")
        assert kept.valid == occ.is_valid(built.shape) and kept.solids == built.info.solids
        assert kept.volume == pytest.approx(occ.volume(built.shape), rel=1e-12)
        old = render_views(built, VIEWS, size=128, style="lines", svg=False)
        new = render_solid_lines(kept.shape, VIEWS, framing_points=kept.frame_points, size=128, svg=False)
        assert (new.framing.center == old.framing.center).all() and new.framing.scale == old.framing.scale
        for view in VIEWS:
            assert new.images[view].tobytes() == old.images[view].tobytes(), (i, view)


def test_a_stale_or_broken_kept_solid_is_not_used(tmp_path):
    text, q = _checked(3, seed=2)[0]
    path = keep(tmp_path / "m.brep", text, q.shape, valid=q.valid, mesh_vertices=q.mesh.vertices)
    assert take(path, text) is not None
    assert take(path, text + "\n") is None  # built from another text
    assert take(tmp_path / "missing.brep", text) is None
    data = path.read_bytes()
    for broken in (data[: len(data) // 2], data.split(b"\n", 1)[1], b"not json\n" + data, b""):
        path.write_bytes(broken)
        assert take(path, text) is None


def test_binary_brep_refuses_what_is_not_one():
    for bad in (b"", b"hello", b"\nOpen CASCADE Topology V4, (c) Open Cascade\nLocations"):
        with pytest.raises(BuildError, match="not a binary B-rep"):
            occ.from_bytes(bad)


@pytest.mark.parametrize("style", ["lines", "shaded"])
def test_extract_keeps_the_solids_render_draws_and_removes(tmp_path, monkeypatch, style):
    make_deepcad(tmp_path / "dl")
    layout = DatasetLayout(tmp_path / "ds")
    spec = SourceSpec("deepcad", str(tmp_path / "dl"), train_size=4, val_size=1, test_size=1, seed=1)
    plan = plan_dataset(layout, spec, bits=8, max_mb=10, shard_size=8, run=inline)
    kept_ids = [r.id for r in plan.records if r.ok]
    assert kept_ids and all(layout.kept_solid(m).is_file() for m in kept_ids)
    for mid in kept_ids:
        job = RenderJob(id=mid, path="", text_path=str(layout.source_text(mid)), images_dir=str(tmp_path / "img"),
                        views=("front", "top"), size=64, style=style, tile=False, platform="egl", bits=8,
                        max_mb=10, solid_path=str(layout.kept_solid(mid)))
        with monkeypatch.context() as m:  # drawn from the kept solid: nothing is built
            m.setattr(brep, "model_from_sequence", lambda *a, **k: pytest.fail("built the solid again"))
            out = render_model(job)
        fresh = render_model(RenderJob(**{**{f: getattr(job, f) for f in job.__slots__},
                                          "images_dir": str(tmp_path / "fresh")}))  # the file is gone: built here
        assert not layout.kept_solid(mid).exists()
        assert out == {**fresh, "images": out["images"]}
        for name in out["images"]:
            assert (tmp_path / "img" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
