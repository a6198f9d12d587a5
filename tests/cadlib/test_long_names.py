"""Long file names: a 240-character name renders and builds (its temporary file and its views'
names fit the 255-byte limit of a file name)."""

from __future__ import annotations

import os

from cadlib.atomic import NAME_MAX, temp_name, write_text_atomic
from cadlib.dataset.sources import MAX_ID, model_id


def test_temporary_names_fit_beside_a_long_name(tmp_path):
    name = "p" * 250 + ".png"
    assert len(os.fsencode(temp_name(name))) <= NAME_MAX and temp_name(name) != temp_name("q" * 250 + ".png")
    assert temp_name("a.json") == f".a.json.{os.getpid()}.tmp"  # short names keep their readable form
    write_text_atomic(tmp_path / name, "x")
    assert (tmp_path / name).read_text() == "x" and len(list(tmp_path.iterdir())) == 1


def test_long_model_ids_are_shortened_apart():
    a, b = model_id("d/" + "p" * 240 + ".stl"), model_id("d/" + "p" * 239 + "q.stl")
    assert len(a) == MAX_ID and a != b and a.startswith("d__ppp")
    assert len(f"{a}_front.png") + len(".x.1234567.tmp") <= NAME_MAX
    assert model_id("step/as1-oc-214.stp") == "step__as1-oc-214_stp"  # short ones as before


def test_a_240_character_file_renders(tmp_path):
    import json

    from cadlib.ingest import load_model
    from cadlib.render import render_views
    from cadlib.synth import ModelBuilder, rect

    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 0.02, 0.02)], "NewBody", "OneSide", 0.01)
    src = tmp_path / ("p" * 235 + ".json")
    src.write_text(json.dumps(b.json()))
    views = render_views(load_model(src), ["front"], size=64, style="lines", svg=False)
    out = tmp_path / (src.stem + "_front.png")
    from cadlib.atomic import atomic_path

    with atomic_path(out) as tmp:
        views.images["front"].save(tmp, format="PNG")
    assert out.stat().st_size > 100


def test_a_write_that_fails_names_its_file(tmp_path):
    import errno

    import pytest

    from cadlib.atomic import atomic_path

    target = tmp_path / "validation.json"
    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        tmp.write_text("{")
        raise OSError(errno.ENOSPC, "No space left on device")  # what a full disk raises from write()
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())  # nothing half-written left
