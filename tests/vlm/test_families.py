"""Qwen2-VL and Qwen2.5-VL built small from config, offline: a few real LoRA steps through the
training ladder, save, reload through the Auto classes, and constrained generation that parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadlib.grammar import Limits, is_valid_text
from tests.vlm.conftest import dataset_texts
from vlm.modes import TrainMode
from vlm.train import TrainSpec, run_training


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_lora_steps_save_reload_and_constrained_generation(family, tiny_dataset, tmp_path):
    from vlm.families import build_qwen_vl
    from vlm.generate import generate_batch, load_trained

    # Unmarked: it stands in for the pretrained hub model of its family (LoRA over a marked,
    # random one is refused; tests/vlm/test_modes.py).
    base = build_qwen_vl(dataset_texts(tiny_dataset), tmp_path / "base", family=family, mark_random=False)
    spec = TrainSpec(model=str(base), out_dir=str(tmp_path / "run"), mode=TrainMode.LORA, epochs=1, batch_size=2,
                     learning_rate=1e-3, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                     lora_modules=("q_proj", "v_proj"), device="cpu", image={"min_pixels": 3136, "max_pixels": 12544})
    report = run_training(spec, tiny_dataset, train_n=6, val_n=2)
    assert report["global_step"] == 3 and report["train_mode"] == "lora"
    assert report["history"][0]["train_loss"] > 0 and report["trainable_parameters"] < report["parameters"]
    weights = Path(report["weights"])
    assert (weights / "adapter_config.json").is_file()

    model, processor = load_trained(weights)
    assert type(model.base_model.model).__name__.startswith("Qwen2")
    assert processor.image_processor.size["longest_edge"] == 12544  # the image budget travels with the weights
    images = [[str(tiny_dataset / "images/val_0_front.png")], [str(tiny_dataset / "images/val_1_front.png")]]
    texts = generate_batch(model, processor, images, "Write the construction sequence of this part.",
                           max_new_tokens=600, constrained=True)
    for (text,) in texts:
        assert is_valid_text(text, Limits()), text


def test_image_budget_is_refused_where_the_family_has_no_such_setting(tiny_model):
    from vlm.loading import apply_image_budget, load_model

    _, processor = load_model(tiny_model)
    with pytest.raises(ValueError, match="no min_pixels/max_pixels; size its images with longest_edge"):
        apply_image_budget(processor, max_pixels=1000)
    apply_image_budget(processor, longest_edge=64, splitting=False)
    assert processor.image_processor.size == {"longest_edge": 64} and not processor.image_processor.do_image_splitting


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "idefics3"])
def test_every_familys_processor_builds_offline_and_reads_a_view(family, tiny_dataset, tiny_model, tmp_path,
                                                                  monkeypatch):
    """Under the transformers the project pins, from config and files here only: each family's
    processor loads from its folder and turns a view and a prompt into model inputs; where a Qwen
    processor cannot be built with its video part (transformers 5.17: "Received a NoneType for
    argument video_processor"), the image-only one stands in."""
    import transformers
    from huggingface_hub import constants
    from PIL import Image

    from vlm.families import build_qwen_vl
    from vlm.loading import load_processor

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    folder = tiny_model if family == "idefics3" else build_qwen_vl(dataset_texts(tiny_dataset), tmp_path / family,
                                                                   family=family)
    view = Image.open(tiny_dataset / "images/train_0_front.png").convert("RGB")

    def inputs(processor) -> dict:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write the sequence."}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True)
        return processor(text=[text], images=[[view]], return_tensors="pt")

    got = inputs(load_processor(folder, family))
    assert got["input_ids"].shape[1] > 4 and "pixel_values" in got
    if family == "idefics3":
        return

    def no_video(*a, **k):
        raise TypeError("Received a NoneType for argument video_processor, but a BaseVideoProcessor was expected.")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", no_video)
    monkeypatch.setattr("vlm.families.has_torchvision", lambda: True)
    fallback = load_processor(folder, family)
    assert getattr(fallback, "video_processor", None) is None
    assert inputs(fallback)["input_ids"].tolist() == got["input_ids"].tolist()
