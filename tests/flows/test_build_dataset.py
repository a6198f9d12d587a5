"""The dataset flow end to end: outputs, caching, incremental re-builds, trainer-facing formats."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from cadlib.synth import write_synthetic
from flows.build_dataset import run_build
from tests.flows.conftest import tiny_yaml, tree_hashes

pytestmark = pytest.mark.usefixtures("prefect_server")


def read_tinyllava(path):
    """A minimal TinyLLaVA-style reader: what its LazySupervisedDataset assumes of each record."""
    records = json.loads(path.read_text())
    out = []
    for r in records:
        assert isinstance(r["image"], str)
        conv = r["conversations"]
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
        assert conv[0]["value"].startswith("<image>\n")
        assert all("<image>" not in t["value"] for t in conv[1:])
        out.append((r["id"], r["image"], conv[0]["value"].replace("<image>\n", ""), conv[1]["value"]))
    return out


def test_synthetic_build_writes_a_valid_dataset_in_every_format(tmp_path):
    from PIL import Image

    from cadlib.text import from_text

    summary = run_build(str(tiny_yaml(tmp_path / "tiny.yaml", tmp_path / "data")))
    root = tmp_path / "data" / "datasets" / "tiny"
    assert summary["dataset"] == str(root) and summary["valid"]
    assert summary["samples"] == {"train": 24, "val": 6, "test": 6}  # 3 views per model
    assert summary["models"]["in_dataset"] == 12 and summary["failures"] == 0
    for split, n in summary["samples"].items():
        rows = read_tinyllava(root / f"{split}.json")
        assert len(rows) == n
        for _, image, _, target in rows:
            with Image.open(root / image) as im:
                assert im.size == (64, 64)
            assert from_text(target).extrudes  # the target parses back into a sequence
        lines = (root / f"{split}.jsonl").read_text().splitlines()
        msg = json.loads(lines[0])
        assert [m["role"] for m in msg["messages"]] == ["user", "assistant"] and msg["images"] == [rows[0][1]]
        assert msg["messages"][0]["content"] == [{"type": "image"}, {"type": "text", "text": rows[0][2]}]
    import datasets
    import yaml

    ds = datasets.load_dataset("parquet", data_files={s: str(root / f"{s}.parquet") for s in ("train", "val", "test")})
    assert ds["train"].num_rows == 24 and ds["train"][0]["conversations"][0]["from"] == "human"
    assert ds["val"][0]["target"] == json.loads((root / "val.json").read_text())[0]["conversations"][1]["value"]
    first = ds["train"][0]
    with Image.open(root / first["image_path"]) as im:
        assert first["image"].size == (64, 64) and first["image"].tobytes() == im.tobytes()  # embedded
    # LLaMA-Factory's registry beside the data, cadrecon's own description renamed
    registry = json.loads((root / "dataset_info.json").read_text())
    assert registry["tiny_train"]["file_name"] == "train.json" and set(registry) == {"tiny_train", "tiny_val", "tiny_test"}
    assert json.loads((root / "cadrecon.json").read_text())["name"] == "tiny"
    # the card's Hub header: a config per split over the Parquet files, the features, the license
    header = yaml.safe_load((root / "README.md").read_text().split("---\n")[1])
    assert header["license"] == "mit" and header["configs"][0]["data_files"] == [
        {"split": s, "path": f"{s}.parquet"} for s in ("train", "val", "test")]
    assert {f["name"] for f in header["dataset_info"]["features"]} >= {"image", "messages", "target"}
    assert datasets.Features._from_yaml_list(header["dataset_info"]["features"]) == ds["train"].features
    assert "https://github.com/)" not in (root / "README.md").read_text()
    validation = json.loads((root / "validation.json").read_text())
    assert validation["ok"] and validation["leakage"]["groups_across_splits_in_dataset"] == 0
    card = (root / "README.md").read_text()
    assert "| train | 24 | 8 |" in card and "## Failures" in card
    assert (root / "contact_sheet.png").is_file()
    assert re.fullmatch(r"build-tiny-\d{8}-\d{6}", _latest_run_name())  # a readable run name in the UI


def _latest_run_name() -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    async def go():
        async with get_client() as client:
            return (await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1))[0].name

    return asyncio.run(go())


def test_the_prefect_ui_shows_each_shards_stages_in_order(tmp_path):
    """The flow hands a stage's reports on opaque and its records quoted (no walk over every object),
    and the task-run graph still links each shard's convert to its render and validate to both."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    run_build(str(tiny_yaml(tmp_path / "tiny.yaml", tmp_path / "data")))
    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1)
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    by_name = {r.name: r for r in runs}
    upstream = lambda run, param: {i.id for i in run.task_inputs.get(param, [])}  # noqa: E731
    shards = sorted(n.split("-", 1)[1] for n in by_name if n.startswith("render-"))
    assert shards and all(f"convert-{i}" in by_name and f"validate-{i}" in by_name for i in shards)
    for i in shards:
        render, convert, validate = (by_name[f"{stage}-{i}"] for stage in ("render", "convert", "validate"))
        assert upstream(convert, "rendered") == {render.id}
        assert upstream(validate, "converted") == {convert.id} and upstream(validate, "rendered") == {render.id}


def test_rerun_is_cached_and_a_changed_file_redoes_only_itself(tmp_path):
    src = tmp_path / "models"
    paths = write_synthetic(src, 12, seed=3)
    preset = str(tiny_yaml(tmp_path / "files.yaml", tmp_path / "data", source="files", path=str(src)))
    first = run_build(preset)
    assert first["cached_shards"] == {"render": 0, "convert": 0, "validate": 0} and first["shards"] == 3
    root = tmp_path / "data" / "datasets" / "files"
    before = tree_hashes(root)
    again = run_build(preset)
    assert again["cached_shards"] == {"render": 3, "convert": 3, "validate": 3}
    assert tree_hashes(root) == before
    # change one model: a different extrude distance
    data = json.loads(paths[5].read_text())
    ext = next(e for e in data["entities"].values() if e["type"] == "ExtrudeFeature")
    ext["extent_one"]["distance"]["value"] *= 1.5
    paths[5].write_text(json.dumps(data))
    model = paths[5].stem + "_json"
    written = {p.name: p.stat().st_mtime_ns for p in (root / "images").iterdir()}
    third = run_build(preset)
    assert third["cached_shards"] == {"render": 2, "convert": 2, "validate": 2}
    # inside its shard only the changed model is rendered and validated again; the 3 others are reused
    assert third["stages"]["render"]["reused_models"] == 3 and third["stages"]["validate"]["reused_models"] == 3
    assert {n for n, t in written.items() if (root / "images" / n).stat().st_mtime_ns != t} == {
        f"{model}_{v}.png" for v in ("front", "top", "right")}
    changed = {k for k in before if tree_hashes(root).get(k) != before[k]}
    assert f"sources/{model}.txt" in changed and any(k.startswith(f"images/{model}_") for k in changed)
    assert not any(k.startswith("images/") and model not in k for k in changed)
    # the reused outputs are what a build from nothing makes of the changed source, byte for byte
    (tmp_path / "fresh").mkdir()
    fresh = run_build(str(tiny_yaml(tmp_path / "fresh" / "files.yaml", tmp_path / "fresh", source="files",
                                    path=str(src))))
    assert fresh["stages"]["render"]["reused_models"] == 0
    assert tree_hashes(tmp_path / "fresh" / "datasets" / "files") == tree_hashes(root)
    # deleted outputs are rebuilt, not trusted: that model alone
    (root / "images" / f"{model}_top.png").unlink()
    fourth = run_build(preset)
    assert fourth["cached_shards"]["render"] == 2 and (root / "images" / f"{model}_top.png").is_file()
    assert fourth["stages"]["render"]["reused_models"] == 3
    # an image written after its shard's report (a render stopped before its report) is not reused
    report = next(p for p in (root / "shards").glob("render-*.json") if model in json.loads(p.read_text())["ok"])
    other = next(m for m in json.loads(report.read_text())["ok"] if m != model)
    time.sleep(0.02)
    (root / "images" / f"{other}_front.png").write_bytes((root / "images" / f"{other}_front.png").read_bytes())
    (root / "images" / f"{model}_top.png").unlink()  # so that the shard runs at all
    fifth = run_build(preset)
    assert fifth["stages"]["render"]["reused_models"] == 2
    assert tree_hashes(tmp_path / "fresh" / "datasets" / "files") == tree_hashes(root)


def test_a_build_stops_after_the_stage_asked_and_goes_on_from_the_cache(tmp_path):
    """The REST API runs the seed's stages one call at a time: extract, then render, then the rest."""
    from cadlib.dataset.catalog import describe, stage_progress
    from cadlib.dataset.layout import DatasetLayout

    preset = str(tiny_yaml(tmp_path / "staged.yaml", tmp_path / "data"))
    layout = DatasetLayout(tmp_path / "data" / "datasets" / "staged")
    first = run_build(preset, until="extract")
    assert first["models"] == 12 and "stages" not in first and not layout.images.exists()
    assert stage_progress(layout)["stages"]["render"] == {"done": 0, "total": 3}
    rendered = run_build(preset, until="render")
    assert rendered["stages"]["render"]["succeeded"] == 12 and set(rendered["stages"]) == {"render"}
    assert not layout.split_file("train", "json").exists() and describe(layout)["status"] == "partial"
    assert describe(layout)["images"] == 36
    full = run_build(preset)
    assert full["cached_shards"] == {"render": 3, "convert": 0, "validate": 0} and full["valid"]
    assert describe(layout)["status"] == "ready" and describe(layout)["conversations"] == 36
    assert all(s["done"] == s["total"] for s in stage_progress(layout)["stages"].values())


def test_one_prompt_template_when_asked(tmp_path):
    run_build(str(tiny_yaml(tmp_path / "plain.yaml", tmp_path / "data", vary_prompts=False)))
    records = json.loads((tmp_path / "data" / "datasets" / "plain" / "train.json").read_text())
    prompts = {r["conversations"][0]["value"].replace(r["id"].rsplit("_", 1)[1], "VIEW") for r in records}
    assert len(prompts) == 1


def test_an_empty_split_writes_no_empty_files_and_is_said(tmp_path):
    """No val models: val.json is [] (LLaVA readers), no val.jsonl/val.parquet (an empty one fails
    `datasets.load_dataset`), the card and the registry name only train and test, the summary warns;
    a second run reuses it all."""
    import datasets

    yaml = tiny_yaml(tmp_path / "noval.yaml", tmp_path / "data", train_size=4, val_size=0, test_size=1)
    summary = run_build(str(yaml))
    root = tmp_path / "data" / "datasets" / "noval"
    assert summary["empty_splits"] == ["val"] and summary["samples"]["val"] == 0
    assert json.loads((root / "val.json").read_text()) == []
    assert not (root / "val.jsonl").exists() and not (root / "val.parquet").exists()
    assert json.loads((root / "cadrecon.json").read_text())["files"]["val"] == ["val.json"]
    assert sorted(json.loads((root / "dataset_info.json").read_text())) == ["noval_test", "noval_train"]
    loaded = datasets.load_dataset(str(root))  # the card's configs: the non-empty splits
    assert sorted(loaded) == ["test", "train"] and len(loaded["train"]) == summary["samples"]["train"]
    written = (root / "README.md").stat().st_mtime_ns
    again = run_build(str(yaml))
    assert set(again["cached_shards"].values()) == {again["shards"]} and again["empty_splits"] == ["val"]
    assert (root / "README.md").stat().st_mtime_ns == written  # the final files were reused, not rewritten


def test_no_build_machine_path_in_the_dataset_folder(tmp_path):
    """The card, cadrecon.json, validation.json, the manifest, the build's own state: the source
    folder is recorded relative to the dataset, failure messages name files relative to the source."""
    src = tmp_path / "parts"
    write_synthetic(src, 4, seed=2)
    (src / "huge.stl").write_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 1e300 0 0\nvertex 0 1 0\n"
                                  "vertex 0 0 1\nendloop\nendfacet\nendsolid x\n")
    run_build(str(tiny_yaml(tmp_path / "local.yaml", tmp_path / "data", source="files", path=str(src))))
    root = tmp_path / "data" / "datasets" / "local"
    marks = {str(tmp_path).encode(), str(tmp_path.resolve()).encode()}
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) > 20 and not [p for p in files if any(m in p.read_bytes() for m in marks)]
    failures = json.loads((root / "validation.json").read_text())["failures"]
    assert any(f["examples"][0].endswith("huge.stl: coordinates reach 1e+300 mm, beyond +-1e+12 mm: a corrupt or "
                                         "mis-scaled file") for f in failures), failures
    assert json.loads((root / "cadrecon.json").read_text())["source"]["path"] == "../../../parts"


def test_token_limit_drops_and_counts_never_truncates(tmp_path):
    summary = run_build(str(tiny_yaml(tmp_path / "short.yaml", tmp_path / "data", max_tokens=320)))
    root = tmp_path / "data" / "datasets" / "short"
    validation = json.loads((root / "validation.json").read_text())
    dropped = sum(validation["dropped_too_long"].values())
    assert 0 < dropped < 36 and sum(summary["samples"].values()) == 36 - dropped
    for split in ("train", "val", "test"):
        for r in json.loads((root / f"{split}.json").read_text()):
            assert r["conversations"][1]["value"].endswith("\n")  # whole targets only


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["dask", "ray"])
def test_a_cluster_runner_builds_the_same_bytes(runner, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    threads = run_build(str(tiny_yaml(tmp_path / "a" / "tiny.yaml", tmp_path / "a" / "data")))
    other = run_build(str(tiny_yaml(tmp_path / "b" / "tiny.yaml", tmp_path / "b" / "data", task_runner=runner,
                                    concurrency=2)))
    assert other["valid"] and other["samples"] == threads["samples"]
    assert tree_hashes(tmp_path / "b" / "data" / "datasets" / "tiny") == tree_hashes(
        tmp_path / "a" / "data" / "datasets" / "tiny")
