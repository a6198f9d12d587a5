"""Extract: DeepCAD sampling from the official split, dedup, leakage, failures, determinism."""

from __future__ import annotations

import pytest

from cadlib.dataset import DatasetLayout, ModelStatus, read_manifest
from cadlib.dataset.extract import mesh_signature, split_stable
from cadlib.dataset.manifest import ModelRecord
from cadlib.dataset.plan import SourceSpec, plan_dataset
from cadlib.errors import ParseError
from cadlib.workers import Outcome, Status
from tests.cadlib.dataset.deepcad_fixture import make_deepcad


def inline(fn, jobs):
    """Runs jobs in this process (the pool's interface, without processes)."""
    for i, job in enumerate(jobs):
        try:
            yield Outcome(i, job, Status.OK, fn(job))
        except Exception as exc:  # noqa: BLE001
            yield Outcome(i, job, Status.ERROR, None, type(exc).__name__, str(exc))


@pytest.fixture
def deepcad(tmp_path):
    make_deepcad(tmp_path / "dl")
    return tmp_path / "dl"


def test_deepcad_sampling_dedups_across_splits_and_records_failures(deepcad, tmp_path):
    layout = DatasetLayout(tmp_path / "ds")
    spec = SourceSpec("deepcad", str(deepcad), train_size=100, val_size=3, test_size=100, seed=1)
    plan = plan_dataset(layout, spec, bits=8, max_mb=10, shard_size=5, run=inline)
    by_id = {r.id: r for r in plan.records}
    # train: the 18 unique listed models but those whose quantised solid is not their source's
    topo = [r for r in plan.records if r.error_class == "QuantisationChangesTopology"]
    assert all("quantisation changes the solid" in r.error for r in topo)
    assert plan.info["counts"] == {"train": 18 - sum(r.split == "train" for r in topo), "val": 3,
                                   "test": 6 - sum(r.split == "test" for r in topo)}
    dup = by_id["00000999"]
    assert dup.status == ModelStatus.DUPLICATE.value and dup.duplicate_of == "00000000"  # test keeps its model
    assert by_id["00000000"].split == "test" and by_id["00000000"].ok
    assert by_id["00000998"].status == "failed" and by_id["00000998"].error_class == "ParseError"
    assert by_id["00000997"].status == "failed" and by_id["00000997"].error_class == "MissingFile"
    leak = plan.info["leakage"]
    assert leak["groups_across_splits_in_source"] == 1 and leak["groups_across_splits_in_dataset"] == 0
    kept = sum(plan.info["counts"].values())
    assert [len(s.ids) for s in plan.shards] == [5] * (kept // 5) + ([kept % 5] if kept % 5 else [])
    assert all(layout.source_text(r.id).is_file() for r in plan.records if r.ok)
    assert read_manifest(layout.manifest) == sorted(plan.records, key=lambda r: r.id)


def test_sampling_is_deterministic_and_reuses_unchanged_descriptions(deepcad, tmp_path):
    spec = SourceSpec("deepcad", str(deepcad), train_size=5, val_size=2, test_size=2, seed=7)
    a = plan_dataset(DatasetLayout(tmp_path / "a"), spec, bits=8, max_mb=10, shard_size=4, run=inline)
    b = plan_dataset(DatasetLayout(tmp_path / "b"), spec, bits=8, max_mb=10, shard_size=4, run=inline)
    assert a.records == b.records and a.shards == b.shards
    assert a.info["counts"] == {"train": 5, "val": 2, "test": 2}
    calls = []

    def counting(fn, jobs):
        calls.extend(jobs)
        yield from inline(fn, jobs)

    again = plan_dataset(DatasetLayout(tmp_path / "a"), spec, bits=8, max_mb=10, shard_size=4, run=counting)
    assert again.records == a.records and calls == []  # nothing changed: nothing described again
    other = plan_dataset(DatasetLayout(tmp_path / "c"), SourceSpec("deepcad", str(deepcad), 5, 2, 2, seed=8),
                         bits=8, max_mb=10, shard_size=4, run=inline)
    assert {r.id for r in other.records if r.ok} != {r.id for r in a.records if r.ok}


def test_missing_download_says_what_to_do(tmp_path):
    spec = SourceSpec("deepcad", str(tmp_path), 1, 1, 1)
    with pytest.raises(ParseError, match="no DeepCAD download here.*dataset.download: true"):
        plan_dataset(DatasetLayout(tmp_path / "ds"), spec, bits=8, max_mb=10, shard_size=4, run=inline)


def test_files_source_dedups_copies_and_keeps_splits_stable(tmp_path):
    import shutil

    from cadlib.synth import write_synthetic

    src = tmp_path / "src"
    paths = write_synthetic(src / "a", 10, seed=2)
    (src / "b").mkdir()
    first = DatasetLayout(tmp_path / "probe")
    probe = plan_dataset(first, SourceSpec("files", str(src / "a"), 8, 1, 1, seed=0), bits=8, max_mb=10,
                         shard_size=4, run=inline)
    original = next(p for p in paths if {r.id: r for r in probe.records}[f"{p.stem}_json"].ok)
    shutil.copy(original, src / "b" / "copy.json")
    (src / "notes.md").write_text("not a model")
    (src / "broken.stl").write_text("solid x\nendsolid x\n")
    plan = plan_dataset(DatasetLayout(tmp_path / "ds"), SourceSpec("files", str(src), 8, 1, 1, seed=0),
                        bits=8, max_mb=10, shard_size=4, run=inline)
    by_id = {r.id: r for r in plan.records}
    assert "notes_md" not in by_id and len(by_id) == 12
    assert by_id["b__copy_json"].status == "duplicate" and by_id["b__copy_json"].duplicate_of == f"a__{original.stem}_json"
    assert by_id["broken_stl"].status == "failed" and by_id["broken_stl"].error
    # a model keeps its split when others come and go
    recs = [r for r in plan.records if r.ok]
    fewer = split_stable(recs[:5], {"train": 8, "val": 1, "test": 1}, 0)
    assert [r.split for r in fewer] == [r.split for r in recs[:5]]


def test_mesh_signature_ignores_position_scale_and_axis_order():
    import numpy as np

    from cadlib.mesh import Mesh

    box = Mesh(np.array([[x, y, z] for x in (0, 2) for y in (0, 1) for z in (0, 3)], float),
               np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                         [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]))
    moved = Mesh(box.vertices[:, [2, 0, 1]] * 10 + 5, box.faces)
    other = Mesh(box.vertices * [1, 1, 2], box.faces)
    assert mesh_signature(box) == mesh_signature(moved) != mesh_signature(other)


def test_record_round_trip_ignores_unknown_fields(tmp_path):
    from cadlib.dataset import write_manifest

    rec = ModelRecord(id="a", source="a.json", sha256="x", split="train")
    write_manifest(tmp_path / "m.jsonl", [rec])
    text = (tmp_path / "m.jsonl").read_text().replace('"id"', '"future_field": 1, "id"')
    (tmp_path / "m.jsonl").write_text(text)
    assert read_manifest(tmp_path / "m.jsonl") == [rec]
