"""The DeepCAD presets build a scorable dataset (a test split from the official one), downloaded
from a local HTTP stand-in; a dataset is never silently rebuilt from another source."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from cadlib.dataset.catalog import DatasetConflict, claim_origin, dataset_status
from cadlib.dataset.layout import DatasetLayout
from flows.build_dataset import check_build, run_build
from tests.cadlib.dataset.deepcad_fixture import make_deepcad
from tests.cadlib.dataset.test_download import RangeHandler, server  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_deepcad_1k_preset_has_a_test_split_and_refuses_another_source(server, tmp_path):  # noqa: F811
    src = tmp_path / "src" / "data"
    make_deepcad(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname="data")
    RangeHandler.payload, RangeHandler.cut_first = buf.getvalue(), False
    overrides = {"data_dir": str(tmp_path / "data"),
                 "dataset": {"path": str(tmp_path / "dl"), "download": True, "url": f"{server}/data.tar",
                             "sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "shard_size": 8},
                 "render": {"size": 48}}
    summary = run_build("deepcad_1k", overrides=overrides)
    root = tmp_path / "data" / "datasets" / "deepcad_1k"
    assert summary["valid"] and summary["samples"]["test"] > 0  # the official test models, scorable
    assert dataset_status(DatasetLayout(root)) == "ready"
    with pytest.raises(Exception, match="was built from preset deepcad_1k .*--name.*--force"):
        run_build("demo", name="deepcad_1k", overrides={"data_dir": str(tmp_path / "data")})
    assert (root / "train.json").is_file()  # nothing of it was lost
    bigger = {**overrides, "render": {"size": 64}}
    with pytest.raises(DatasetConflict, match=r"other settings \(render size 48 -> 64\).*--force"):
        run_build("deepcad_1k", overrides=bigger)
    with pytest.raises(DatasetConflict, match="other settings"):
        check_build("deepcad_1k", overrides=bigger)  # what the CLI and the API ask before a run starts
    check_build("deepcad_1k", overrides=overrides)  # the same settings: a re-run is fine
    check_build("deepcad_1k", overrides=bigger, force=True)
    assert (root / "train.json").is_file()


def test_claim_origin_and_empty_status(tmp_path):
    layout = DatasetLayout(tmp_path / "ds")
    claim_origin(layout, {"preset": "demo", "source": "synthetic", "path": ""})
    claim_origin(layout, {"preset": "demo", "source": "synthetic", "path": ""})  # the same: fine
    with pytest.raises(DatasetConflict, match="'ds' was built from preset demo"):
        claim_origin(layout, {"preset": "demo", "source": "files", "path": "/x"})
    (layout.root / "keep.txt").write_text("x")
    claim_origin(layout, {"preset": "demo", "source": "files", "path": "/x"}, force=True)
    assert not (layout.root / "keep.txt").exists()  # replaced
    assert dataset_status(layout, {"ok": True, "samples": {"train": 0, "val": 0, "test": 0}}) == "empty"
    assert dataset_status(layout, {"ok": True, "samples": {"train": 3}}) == "ready"


def test_a_rebuild_with_other_settings_is_refused_unless_forced(tmp_path):
    """Stages record the settings they wrote with; a stage not run before records its own; a
    changed setting of a recorded stage is named and refused; --force replaces the dataset."""
    layout = DatasetLayout(tmp_path / "ds")
    origin = {"preset": "demo", "source": "synthetic", "path": ""}
    extract = {"train_size": 10, "seed": 0}
    claim_origin(layout, origin, stages={"extract": extract})  # a build --until extract
    claim_origin(layout, origin, stages={"extract": extract, "render": {"size": 96, "views": ["front"]}})
    claim_origin(layout, origin, stages={"extract": extract})  # render not run again: nothing to compare
    with pytest.raises(DatasetConflict, match=r"other settings \(render size 96 -> 128\)"):
        claim_origin(layout, origin, stages={"extract": extract, "render": {"size": 128, "views": ["front"]}})
    with pytest.raises(DatasetConflict, match=r"extract seed 0 -> 1; extract train_size 10 -> 11"):
        claim_origin(layout, origin, stages={"extract": {"train_size": 11, "seed": 1}}, check_only=True)
    (layout.root / "images").mkdir()
    claim_origin(layout, origin, stages={"extract": extract, "render": {"size": 128, "views": ["front"]}}, force=True)
    assert not (layout.root / "images").exists()  # replaced, not mixed
    claim_origin(layout, origin, stages={"extract": extract, "render": {"size": 128, "views": ["front"]}})
