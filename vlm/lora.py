"""LoRA adapters with peft, on the language model only unless asked otherwise."""

from __future__ import annotations

import re
from typing import Any

LANGUAGE_PARTS = ("text_model", "language_model")
VISION_PARTS = ("vision_model", "vision_tower", "visual", "vision_encoder")


def target_pattern(modules: list[str], *, vision: bool = False) -> str:
    """A peft `target_modules` regex: the named projections inside the language model (and the
    vision tower when `vision`). A bare ["q_proj", "v_proj"] would hit the vision tower too."""
    parts = LANGUAGE_PARTS + (VISION_PARTS if vision else ())
    return rf".*(?:{'|'.join(parts)}).*\.(?:{'|'.join(map(re.escape, modules))})$"


def apply_lora(model: Any, *, r: int = 8, alpha: int = 16, dropout: float = 0.05,
               modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"), vision: bool = False) -> Any:
    """Wraps `model` in a peft LoRA model; raises ValueError when no module matches."""
    from peft import LoraConfig, get_peft_model

    pattern = target_pattern(list(modules), vision=vision)
    names = [n for n, _ in model.named_modules() if re.fullmatch(pattern, n)]
    if not names:
        raise ValueError(f"LoRA target modules {list(modules)} match nothing in {type(model).__name__}")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=pattern, bias="none")
    return get_peft_model(model, config)
