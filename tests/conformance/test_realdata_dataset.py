"""A dataset built from every file of ../shared/realdata (source `files`): it completes, every file
is accounted for (in the dataset, a duplicate, or in the failure table with its cause) and the
result validates."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cadlib.dataset.sources import list_files
from deployments.cli import app
from tests.conftest import record


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_files_source_over_realdata(realdata, tmp_path):
    preset = tmp_path / "realdata.yaml"
    preset.write_text(json.dumps({"data_dir": str(tmp_path / "data"), "render": {"size": 128, "style": "lines"},
                                  "dataset": {"shard_size": 64, "workers": 2, "model_timeout_s": 60}}))
    res = CliRunner().invoke(app, ["dataset", "build", str(preset), "--source", "files", "--path", str(realdata),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    root = tmp_path / "data" / "datasets" / "realdata"
    validation = json.loads((root / "validation.json").read_text())
    assert validation["ok"] and validation["structural_error_count"] == 0
    listed = {i.id for i in list_files(realdata)}
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    assert {r["id"] for r in manifest} == listed
    in_dataset = {s["id"].rsplit("_", 1)[0] for split in ("train", "val", "test")
                  for s in json.loads((root / f"{split}.json").read_text())}
    in_dataset |= {u["id"] for u in json.loads((root / "unlabeled.json").read_text())}
    duplicates = {r["id"] for r in manifest if r["status"] == "duplicate"}
    failed = set()
    for shard in (root / "shards").glob("*.json"):
        failed |= {f["id"]: f for f in json.loads(shard.read_text())["failed"]}.keys()
    failed |= {r["id"] for r in manifest if r["status"] == "failed"}
    missing = listed - in_dataset - duplicates - failed
    assert not missing, f"unaccounted for: {sorted(missing)}"
    table = validation["failures"]
    assert sum(row["count"] for row in table) == len(failed)
    for row in table:
        record("dataset realdata", f"{row['stage']} {row['error_class']}", row["count"])
        assert all(": " in e for e in row["examples"])  # id: cause
    record("dataset realdata", "in the dataset", len(in_dataset))
    record("dataset realdata", "duplicates", len(duplicates))
    # the known-bad files are failures with their cause, not silently dropped
    errors = [r["error"] for r in manifest if r["status"] == "failed"]
    assert any("holds no geometry" in e for e in errors)  # empty OBJ/STL
    assert any("IfcOpenShell" in e for e in errors)  # IFC files without triangulable products
