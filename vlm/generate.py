"""Generating a construction sequence from views with a base model plus a trained adapter."""

from __future__ import annotations

import json
from pathlib import Path

from vlm.collate import Sample, messages_for


def load_adapter(adapter_dir: str | Path):
    """The base model named in the adapter's config with the adapter applied, and the processor
    saved next to the adapter."""
    from peft import PeftModel
    from transformers import AutoProcessor

    from vlm.loading import load_model

    adapter_dir = Path(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    base, _ = load_model(cfg["base_model_name_or_path"])
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    return model, AutoProcessor.from_pretrained(str(adapter_dir))


def generate_text(model, processor, images: list[str], prompt: str, *, max_new_tokens: int = 256) -> str:
    """Greedy decoding of the answer to `prompt` about `images` (file paths)."""
    import torch
    from PIL import Image

    sample = Sample(tuple(images), prompt, "")
    text = processor.apply_chat_template(messages_for(sample, with_answer=False), add_generation_prompt=True)
    pics = []
    for p in images:
        with Image.open(p) as im:
            pics.append(im.convert("RGB"))
    inputs = processor(text=[text], images=[pics], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
