"""How much of a base model trains: every weight (`full`), LoRA adapters (`lora`), or everything
but the vision tower (`freeze_vision`).

LoRA adapts what a pretrained model already knows; a model built from config (`vlm.tiny`) knows
nothing, so LoRA over its random weights (or a frozen random vision tower) only learns to route
around noise. That is refused, with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cadlib.vocabulary import TrainMode
from vlm.lora import VISION_PARTS, apply_lora
from vlm.tiny import is_random_init

__all__ = ["TrainMode", "apply_mode", "check_mode", "is_vision_parameter", "trainable_share"]


def check_mode(mode: TrainMode, model_name: str | Path) -> None:
    """Raises ValueError when `mode` cannot teach the base named `model_name` anything."""
    if mode is not TrainMode.FULL and Path(model_name).is_dir() and is_random_init(model_name):
        raise ValueError(
            f"{model_name}: mode {mode.value!r} over randomly initialised weights (a model built from config) "
            f"would freeze random weights and train only {'adapters' if mode is TrainMode.LORA else 'around a random vision tower'}"
            " on top, which cannot learn to see; train it with mode 'full'")


def is_vision_parameter(name: str) -> bool:
    return any(f"{part}." in name or name.startswith(f"{part}.") for part in VISION_PARTS)


def apply_mode(model: Any, mode: TrainMode, *, lora: dict | None = None) -> Any:
    """The model to train under `mode` (a peft model for `lora`, the model itself otherwise), with
    `requires_grad` set on exactly the weights that train.

    Args:
        lora: apply_lora's keyword arguments (r, alpha, dropout, modules, vision), for `lora`.
    """
    if mode is TrainMode.LORA:
        return apply_lora(model, **(lora or {}))
    for name, p in model.named_parameters():
        p.requires_grad_(not (mode is TrainMode.FREEZE_VISION and is_vision_parameter(name)))
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"mode {mode.value!r} leaves no trainable weight in {type(model).__name__}")
    return model


def trainable_share(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
