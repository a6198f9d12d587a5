"""The exports read by the trainers people use, through those trainers' own code: TRL's SFTTrainer
(2 steps on the tiny Idefics3 with its processor), `datasets` (images decoded to PIL, from the
Parquet and from the JSONL with the documented image_root), LLaMA-Factory's registry schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cadlib.dataset.layout import SPLITS, DatasetLayout
from cadlib.dataset.writers import llamafactory_registry, write_split
from tests.vlm.conftest import TARGETS


@pytest.fixture(scope="module")
def exported(tiny_dataset, tmp_path_factory) -> Path:
    """The split files as the build writes them, from the tiny dataset's images and targets."""
    root = tmp_path_factory.mktemp("exported")
    (root / "images").symlink_to(tiny_dataset / "images")
    for split in SPLITS:
        records = json.loads((tiny_dataset / f"{split}.json").read_text()) if split != "test" else []
        samples = [{"id": r["id"], "model_id": r["id"].rsplit("_", 1)[0], "split": split, "view": "front",
                    "image": r["image"], "prompt": r["conversations"][0]["value"],
                    "target": r["conversations"][1]["value"], "tokens": 10} for r in records]
        write_split(DatasetLayout(root), split, samples)
    (root / "dataset_info.json").write_text(json.dumps(llamafactory_registry("tiny")))
    return root


def test_datasets_decodes_the_parquet_images_and_resolves_the_jsonl_paths(exported, tmp_path, monkeypatch):
    import datasets
    from PIL import Image

    ds = datasets.load_dataset("parquet", data_files={"train": str(exported / "train.parquet")})["train"]
    row = ds[0]
    assert isinstance(row["image"], Image.Image) and row["image"].size == (64, 64)
    assert row["messages"][0]["content"][0]["type"] == "image"
    assert row["messages"][0]["content"][1]["text"] == "Write the construction sequence of this part."
    assert row["messages"][1]["content"][0]["text"] == TARGETS[0]
    assert row["conversations"][0]["value"].startswith("<image>\n")
    # the JSONL from another working directory: paths joined with the file's folder (the image_root)
    monkeypatch.chdir(tmp_path)
    js = datasets.load_dataset("json", data_files=str(exported / "train.jsonl"))["train"]
    root = Path(exported)
    js = js.map(lambda r: {"images": [str(root / p) for p in r["images"]]})
    js = js.cast_column("images", datasets.List(datasets.Image()))
    assert js[0]["images"][0].size == (64, 64)
    assert js[0]["messages"][0]["content"][0]["type"] == "image"
    assert "<image>" not in js[0]["messages"][0]["content"][1]["text"]


def _trl_rows(exported: Path, export: str):
    import datasets

    if export == "parquet":
        ds = datasets.load_dataset("parquet", data_files={"train": str(exported / "train.parquet")})["train"]
        return ds.select_columns(["image", "messages"])
    ds = datasets.load_dataset("json", data_files=str(exported / "train.jsonl"))["train"]
    return ds.map(lambda r: {"images": [str(exported / p) for p in r["images"]]}).select_columns(
        ["images", "messages"]).cast_column("images", datasets.List(datasets.Image()))


@pytest.mark.parametrize("export", ["parquet", "jsonl"])
def test_trl_sft_trainer_takes_the_export_for_two_steps(exported, tiny_model, tmp_path, export):
    from trl import SFTConfig, SFTTrainer

    from vlm.loading import load_model

    ds = _trl_rows(exported, export)
    model, processor = load_model(tiny_model)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2,
                     learning_rate=1e-3, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
                     max_length=None, bf16=False, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert result.global_step == 2 and len(losses) == 2 and all(loss > 0 for loss in losses)


def test_the_llamafactory_registry_follows_its_documented_schema(exported):
    """LLaMA-Factory's data/README: an entry names `file_name`, `formatting` (alpaca|sharegpt),
    `columns` (sharegpt: messages, images, ...) and `tags` (role/content/user/assistant). Its parser
    sets every column it knows from `columns`, so a column left out is unset, not defaulted."""
    registry = json.loads((exported / "dataset_info.json").read_text())
    assert set(registry) == {"tiny_train", "tiny_val", "tiny_test"}
    allowed_columns = {"system", "tools", "images", "videos", "audios", "chosen", "rejected", "kto_tag", "messages"}
    allowed_tags = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag",
                    "system_tag"}
    for name, entry in registry.items():
        assert set(entry) <= {"file_name", "formatting", "columns", "tags", "split", "num_samples", "ranking"}
        assert entry["formatting"] == "sharegpt" and set(entry["columns"]) <= allowed_columns
        assert set(entry["tags"]) <= allowed_tags
        records = json.loads((exported / entry["file_name"]).read_text())
        assert entry["file_name"] == f"{name.rsplit('_', 1)[1]}.json"
        for r in records:
            turns = r[entry["columns"]["messages"]]
            roles = [t[entry["tags"]["role_tag"]] for t in turns]
            assert roles == [entry["tags"]["user_tag"], entry["tags"]["assistant_tag"]]
            # one <image> per image, images resolved against dataset_dir (LLaMA-Factory's media_dir)
            image = r[entry["columns"]["images"]]
            assert turns[0][entry["tags"]["content_tag"]].count("<image>") == 1
            assert (exported / image).is_file()
