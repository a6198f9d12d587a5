"""The catalog's dataset list: described from disk, and from memory while nothing changed."""

from __future__ import annotations

from cadlib.dataset import catalog
from cadlib.dataset.layout import DatasetLayout, write_json_atomic


def _dataset(root, name: str, models: int) -> DatasetLayout:
    layout = DatasetLayout(root / name)
    layout.images.mkdir(parents=True)
    write_json_atomic(layout.extract_report, {"shards": 1, "counts": {"train": models}})
    return layout


def test_a_dataset_is_described_again_only_when_its_folders_change(tmp_path, monkeypatch):
    a = _dataset(tmp_path, "a", 3)
    _dataset(tmp_path, "b", 1)
    walks: list[str] = []
    real = catalog.describe
    monkeypatch.setattr(catalog, "describe", lambda layout: walks.append(layout.root.name) or real(layout))
    first = catalog.list_datasets(tmp_path)
    assert [d["name"] for d in first] == ["a", "b"] and [d["models"] for d in first] == [3, 1]
    assert walks == ["a", "b"]
    first[0]["status"] = "building"  # a caller's edit does not leak into the memory
    again = catalog.list_datasets(tmp_path)
    assert walks == ["a", "b"] and again[0]["status"] != "building"
    assert catalog.list_datasets(tmp_path, only_known=True) == again  # no walk needed: answered
    (a.images / "m_front.png").write_bytes(b"x" * 100)  # a stage wrote an image
    assert catalog.list_datasets(tmp_path, only_known=True) is None and walks == ["a", "b"]  # would walk: None
    changed = catalog.list_datasets(tmp_path)
    assert walks == ["a", "b", "a"] and changed[0]["images"] == 1
    write_json_atomic(a.extract_report, {"shards": 1, "counts": {"train": 5}})  # re-extracted
    assert catalog.list_datasets(tmp_path)[0]["models"] == 5 and walks == ["a", "b", "a", "a"]
