"""Training modes: what trains under full / lora / freeze_vision, and LoRA over random weights refused."""

from __future__ import annotations

import pytest

from vlm.modes import TrainMode, apply_mode, check_mode, is_vision_parameter, trainable_share
from vlm.train import TrainSpec, setup


def test_lora_over_a_model_built_from_config_is_refused(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"randomly initialised.*cannot learn to see.*mode 'full'"):
        check_mode(TrainMode.LORA, tiny_model)
    with pytest.raises(ValueError, match="random vision tower"):
        check_mode(TrainMode.FREEZE_VISION, tiny_model)
    with pytest.raises(ValueError, match="randomly initialised"):  # the training ladder refuses it before loading
        setup(TrainSpec(model=str(tiny_model), out_dir=str(tmp_path), mode=TrainMode.LORA, device="cpu"))
    check_mode(TrainMode.FULL, tiny_model)


def test_full_trains_every_weight(tiny_model, tmp_path):
    model, _, _ = setup(TrainSpec(model=str(tiny_model), out_dir=str(tmp_path), mode=TrainMode.FULL, device="cpu"))
    trainable, total = trainable_share(model)
    assert trainable == total > 0 and all(p.requires_grad for p in model.parameters())


def test_freeze_vision_freezes_exactly_the_vision_tower(standin_model):
    from transformers import AutoModelForImageTextToText

    model = apply_mode(AutoModelForImageTextToText.from_pretrained(standin_model), TrainMode.FREEZE_VISION)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all("vision_model" in n for n in frozen)
    assert all(p.requires_grad for n, p in model.named_parameters() if "connector" in n or "text_model" in n)
    assert is_vision_parameter("model.visual.blocks.0.attn.qkv.weight")  # Qwen2-VL's name for it
    assert not is_vision_parameter("model.language_model.layers.0.self_attn.q_proj.weight")


def test_lora_trains_only_adapters(standin_model):
    from transformers import AutoModelForImageTextToText

    model = apply_mode(AutoModelForImageTextToText.from_pretrained(standin_model), TrainMode.LORA,
                       lora={"r": 4, "alpha": 8, "dropout": 0.0, "modules": ("q_proj", "v_proj")})
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    trainable, total = trainable_share(model)
    assert 0 < trainable < total / 10
