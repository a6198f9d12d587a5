"""The split files written from shard reports read back from disk one at a time (what finalize does)
are the files written from the reports in memory, byte for byte; a report that is not the build's
stops it with the file named."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from cadlib.dataset.assembly import assemble
from cadlib.dataset.extract import Shard
from cadlib.dataset.layout import DatasetLayout, write_json_atomic
from cadlib.dataset.stored_reports import StaleReport, StoredReports

SETTINGS = "s" * 24


def _shards(layout: DatasetLayout) -> tuple[list[Shard], list[dict], list[dict]]:
    """Two shards whose train samples sort across the boundary ("m_tile" after "m_b_tile", though
    model "m" is in the first shard), a val sample, and a model that failed validation."""
    groups = [["k", "m"], ["m_b", "q", "z"]]
    layout.images.mkdir(parents=True)
    shards, converted, validated = [], [], []
    for index, ids in enumerate(groups):
        samples = []
        for n, mid in enumerate(ids):
            image = f"images/{mid}_tile.png"
            Image.new("L", (16, 16), 20 * n + 60 * index).save(layout.root / image)
            samples.append({"id": f"{mid}_tile", "model_id": mid, "split": "val" if mid == "z" else "train", "view": "tile",
                            "image": image, "prompt": "<image>\nWrite it.", "target": f"bits 8\n{mid}\n", "tokens": 5})
        shard = Shard(index, tuple(ids), f"key{index}")
        shards.append(shard)
        head = {"shard": index, "key": shard.key, "settings": SETTINGS}
        converted.append({**head, "stage": "convert", "samples": samples, "unlabeled": [], "dropped": [], "failed": []})
        validated.append({**head, "stage": "validate", "ok": [m for m in ids if m != "q"], "failed": [],
                          "structural": [], "agreement": {}, "keys": {}})
        write_json_atomic(layout.shard_report("convert", index), converted[-1])
        write_json_atomic(layout.shard_report("validate", index), validated[-1])
    return shards, converted, validated


def _split_files(layout: DatasetLayout) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(layout.root.glob("*.*")) if p.suffix in (".json", ".jsonl", ".parquet")}


def test_splits_from_reports_on_disk_are_the_splits_from_memory(tmp_path):
    layout = DatasetLayout(tmp_path / "d")
    shards, converted, validated = _shards(layout)
    in_memory = assemble(layout, converted, validated)
    expected = _split_files(layout)
    for path in layout.root.glob("*.*"):
        path.unlink()
    stored = assemble(layout, StoredReports(layout, "convert", shards, SETTINGS),
                      StoredReports(layout, "validate", shards, SETTINGS))
    assert stored == in_memory == {"samples": {"train": 3, "val": 1, "test": 0}, "unlabeled": 0}
    assert _split_files(layout) == expected
    train = json.loads((layout.root / "train.json").read_text())
    assert [r["id"] for r in train] == ["k_tile", "m_b_tile", "m_tile"]  # "q" failed validation
    assert [r["id"] for r in json.loads((layout.root / "val.json").read_text())] == ["z_tile"]
    assert not (layout.root / "test.jsonl").exists() and json.loads((layout.root / "test.json").read_text()) == []


def test_a_split_sorted_across_shards_holds_two_reports_and_reads_each_once(tmp_path, monkeypatch):
    layout = DatasetLayout(tmp_path / "d")
    shards, _, _ = _shards(layout)
    reads: list[int] = []

    class Counted(StoredReports):
        def __getitem__(self, i):
            reads.append(i)
            return super().__getitem__(i)

    assemble(layout, Counted(layout, "convert", shards, SETTINGS), StoredReports(layout, "validate", shards, SETTINGS))
    # once to place the samples, then per split the shards it has samples in, in sample order
    # (train: k 0, m_b 1, m 0 again, held; val: z 1; test: none)
    assert reads == [0, 1, 0, 1, 1]


@pytest.mark.parametrize("damage", ["another build", "truncated", "deleted"])
def test_a_report_that_is_not_the_builds_is_named(tmp_path, damage):
    layout = DatasetLayout(tmp_path / "d")
    shards, converted, _ = _shards(layout)
    path = layout.shard_report("convert", 1)
    if damage == "another build":
        write_json_atomic(path, {**converted[1], "key": "other"})
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    else:
        path.unlink()
    reports = StoredReports(layout, "convert", shards, SETTINGS)
    assert reports[0]["shard"] == 0
    with pytest.raises(StaleReport, match=r"convert-00001\.json: the convert report of shard 1 .*build again"):
        list(reports)
