"""The dataset-level split checks, streamed file by file: every kind of fault is found and named."""

from __future__ import annotations

from pathlib import Path

from cadlib.atomic import write_json_atomic
from cadlib.dataset.layout import DatasetLayout
from cadlib.dataset.validate import check_splits


def _rec(sid: str, image: str = "views/a.png", target: str = "sketch") -> dict:
    return {"id": sid, "image": image, "conversations": [{"from": "human", "value": "<image>\nDraw it"},
                                                         {"from": "gpt", "value": target}]}


def _layout(tmp_path: Path, splits: dict[str, object]) -> DatasetLayout:
    (tmp_path / "views").mkdir()
    (tmp_path / "views" / "a.png").write_bytes(b"png")
    layout = DatasetLayout(tmp_path)
    for split, content in splits.items():
        if isinstance(content, str):
            layout.split_file(split, "json").write_text(content, encoding="utf-8")
        else:
            write_json_atomic(layout.split_file(split, "json"), content)
    return layout


def test_a_clean_dataset_passes_with_its_statistics(tmp_path):
    layout = _layout(tmp_path, {"train": [_rec("m1_0", target="abc"), _rec("m2_0")], "val": [_rec("m3_0")],
                                "test": []})
    errors, stats = check_splits(layout, {})
    assert errors == []
    assert stats["splits"]["train"] == {"samples": 2, "models": 2, "target_chars": {
        "n": 2, "min": 3, "median": 4.5, "mean": 4.5, "p95": 5.85, "max": 6}}
    assert stats["splits"]["test"]["samples"] == 0
    assert stats["duplicate_groups_across_splits"] == 0


def test_every_fault_is_named_with_its_file(tmp_path):
    bad = {"id": "m4_0", "image": "views/a.png", "conversations": [{"from": "human", "value": "no token"},
                                                                   {"from": "gpt", "value": "x"}]}
    layout = _layout(tmp_path, {
        "train": [_rec("m1_0"), _rec("m1_0"), _rec("m2_0", image="views/missing.png"), bad, [1]],
        "val": [_rec("m1_1"), _rec("m3_0")],
        "test": '[{"id": "m5_0", "image": "views/a.png", "conversations": [',
    })
    errors, stats = check_splits(layout, {"m2": "g1", "m3": "g1"})
    kinds = [e[0] for e in errors]
    assert kinds.count("DuplicateId") == 1 and "train.json: m1_0 appears twice" in errors[kinds.index("DuplicateId")][1]
    assert "train.json: m2_0: views/missing.png not found" in [e[1] for e in errors]
    assert sum(k == "BadSample" for k in kinds) == 2  # the record without <image> and the one that is no object
    assert "model m1 is in train and val" in [e[1] for e in errors]
    assert "duplicate group g1 is in ['train', 'val']" in [e[1] for e in errors]
    broken = [e[1] for e in errors if e[0] == "BrokenSplit"]
    assert len(broken) == 1 and broken[0].startswith("test.json: ") and "at character" in broken[0]
    assert "test" not in stats["splits"]  # a broken file's records count nowhere
    assert stats["splits"]["train"]["samples"] == 5 and stats["duplicate_groups_across_splits"] == 1


def test_a_missing_split_is_named(tmp_path):
    layout = _layout(tmp_path, {"train": [_rec("m1_0")], "val": [_rec("m2_0")]})
    errors, _ = check_splits(layout, {})
    assert errors == [["MissingSplit", "test.json: no such file"]]
