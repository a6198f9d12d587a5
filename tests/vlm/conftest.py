"""A tiny Idefics3 model and a little dataset of view images, made in code for the vlm tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

TARGETS = [
    "bits 8\nsketch 128 128 128 32 38 109 192\nloop\nline 254 0\nline 254 237\nline 0 237\nline 0 0\nextrude new sym 137\n",
    "bits 8\nsketch 128 128 128 98 98 128 59\nloop\ncircle 127 127 127\nextrude join one 147\n",
    "bits 8\nsketch 64 128 192 0 0 0 128\nloop\nline 200 0\narc 200 100 64\nline 0 100\nline 0 0\nextrude cut two 30 40\n",
]


def make_dataset(root: Path, n_train: int = 12, n_val: int = 4) -> Path:
    """A LLaVA-format dataset of simple drawn shapes with sequence-text answers."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        records = []
        for i in range(n):
            img = Image.new("L", (64, 64), 255)
            d = ImageDraw.Draw(img)
            k = i % len(TARGETS)
            [d.rectangle, d.ellipse, d.polygon][k]([(8, 8), (56, 40)] if k < 2 else [(8, 56), (56, 56), (32, 8)],
                                                  outline=0)
            name = f"images/{split}_{i}_front.png"
            img.save(root / name)
            records.append({"id": f"{split}_{i}_front", "image": name, "conversations": [
                {"from": "human", "value": "<image>\nWrite the construction sequence of this part."},
                {"from": "gpt", "value": TARGETS[k]}]})
        (root / f"{split}.json").write_text(json.dumps(records))
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("vlm-data"))


TEST_SHAPE_KW = {"image_size": 64, "patch_size": 16, "scale": 2, "vision_hidden": 32, "vision_layers": 1,
                 "hidden": 64, "layers": 2, "heads": 2}


def dataset_texts(root: Path) -> list[str]:
    return [t["value"] for s in ("train", "val") for r in json.loads((root / f"{s}.json").read_text())
            for t in r["conversations"]]


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset, tmp_path_factory) -> Path:
    """A small Idefics3 with a convolutional vision tower and random weights, as `cadrecon model
    init-tiny` builds it (marked random)."""
    from vlm.tiny import TinyShape, build_tiny

    return build_tiny(dataset_texts(tiny_dataset), tmp_path_factory.mktemp("tiny-model"), TinyShape(**TEST_SHAPE_KW))


@pytest.fixture(scope="session")
def standin_model(tiny_dataset, tmp_path_factory) -> Path:
    """The same model left unmarked: it stands in for a pretrained SmolVLM, so the LoRA path runs
    offline (what LoRA learns on it is not the point; the adapter's plumbing is)."""
    from vlm.tiny import INIT_FILE, TinyShape, build_tiny

    out = build_tiny(dataset_texts(tiny_dataset), tmp_path_factory.mktemp("standin-model"),
                     TinyShape(**TEST_SHAPE_KW, vision="vit"))  # SmolVLM's own ViT, for the LoRA targets
    (out / INIT_FILE).unlink()
    return out
