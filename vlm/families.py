"""Small models of the families peers fine-tune, built from config with a tokenizer trained on a
dataset's text: Qwen2-VL (cadrille, CADReasoner), Qwen2.5-VL, and Idefics3 (SmolVLM; `vlm.tiny`).

They carry each family's real processor (image budget, image tokens, chat template), so the whole
path a hub model takes (processor -> LoRA or full training -> save -> reload through
`AutoModelForImageTextToText` / `AutoProcessor` -> constrained generation) runs offline on a CPU.
The same builders, given a real model's published sizes, give a same-shaped model for GPU
throughput and memory benchmarks (benchmarks/train.py); the numbers are about speed, not quality.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cadlib.vocabulary import QWEN_FAMILIES, Family
from vlm.tiny import INIT_FILE, NUMBER_LIMIT, train_tokenizer

QWEN_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>")

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2-VL's chat template, without the default system turn."""

QWEN2_VL_2B = {
    # Qwen/Qwen2-VL-2B-Instruct's published config (vocabulary aside: ours is the dataset's).
    "text": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
             "num_key_value_heads": 2, "mrope_section": [16, 24, 24]},
    "vision": {"depth": 32, "embed_dim": 1280, "num_heads": 16, "mlp_ratio": 4},
}
TINY_QWEN: dict[str, dict[str, Any]] = {
    "text": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 1, "mrope_section": [4, 6, 6]},
    "vision": {"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2},
}


def qwen_tokenizer(texts: Iterable[str], vocab_size: int = 1536):
    """`vlm.tiny.train_tokenizer` with Qwen's special tokens and chat template."""
    return train_tokenizer(texts, max(vocab_size, NUMBER_LIMIT + 512), special=QWEN_SPECIAL, role_words=("user", "assistant"),
                           roles={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
                           chat_template=QWEN_CHAT_TEMPLATE)


def build_qwen_vl(texts: Iterable[str], out_dir: str | Path, *, family: str = Family.QWEN2_VL, sizes: dict | None = None,
                  min_pixels: int = 56 * 56, max_pixels: int = 28 * 28 * 64, seed: int = 0,
                  mark_random: bool = True) -> Path:
    """Builds and saves a Qwen2-VL (`family` "qwen2_vl") or Qwen2.5-VL ("qwen2_5_vl") model of
    `sizes` (default `TINY_QWEN`) with random weights, and its processor.

    Args:
        mark_random: write `INIT_FILE` (so LoRA over it is refused). Off only where the model
            stands in for a pretrained hub model of the family, to run the LoRA path offline.
    """
    import torch
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    sizes = sizes or TINY_QWEN
    config: Any
    model_cls: Any
    proc_cls: Any
    tok = qwen_tokenizer(texts)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    t, v = sizes["text"], sizes["vision"]
    head_dim = t["hidden_size"] // t["num_attention_heads"]
    if sum(t["mrope_section"]) * 2 != head_dim:
        raise ValueError(f"mrope_section {t['mrope_section']} must sum to half the head size ({head_dim // 2})")
    text_config = {"vocab_size": len(tok), "hidden_size": t["hidden_size"], "intermediate_size": t["intermediate_size"],
                   "num_hidden_layers": t["num_hidden_layers"], "num_attention_heads": t["num_attention_heads"],
                   "num_key_value_heads": t["num_key_value_heads"], "max_position_embeddings": 4096,
                   "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                       "mrope_section": list(t["mrope_section"])},
                   "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                   "pad_token_id": ids["<|endoftext|>"]}
    special = {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
               "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"]}
    if family == Family.QWEN2_VL:
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

        vision = {"depth": v["depth"], "embed_dim": v["embed_dim"], "num_heads": v["num_heads"],
                  "mlp_ratio": v["mlp_ratio"], "hidden_size": t["hidden_size"]}
        config = Qwen2VLConfig(text_config=text_config, vision_config=vision, **special)
        model_cls, proc_cls = Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    elif family == "qwen2_5_vl":
        from transformers import (
            Qwen2_5_VLConfig,
            Qwen2_5_VLForConditionalGeneration,
            Qwen2_5_VLProcessor,
        )

        vision = {"depth": v["depth"], "hidden_size": v["embed_dim"], "num_heads": v["num_heads"],
                  "intermediate_size": v["embed_dim"] * v["mlp_ratio"], "out_hidden_size": t["hidden_size"],
                  "fullatt_block_indexes": [v["depth"] - 1], "window_size": 112}
        config = Qwen2_5_VLConfig(text_config=text_config, vision_config=vision, **special)
        model_cls, proc_cls = Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    else:
        raise ValueError(f"unknown Qwen family {str(family)!r}: expected {', '.join(sorted(QWEN_FAMILIES))}")
    image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    if has_torchvision():
        processor = proc_cls(image_processor=image_processor, tokenizer=tok, chat_template=QWEN_CHAT_TEMPLATE)
    else:
        processor = image_only_processor(family, image_processor, tok, QWEN_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    if mark_random:
        (out_dir / INIT_FILE).write_text(json.dumps({"weights": "random", "built_by": "vlm.families.build_qwen_vl",
                                                     "family": family, "seed": seed, "sizes": sizes}, indent=1))
    return out_dir


def _processor_class(family: str):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor

    return {Family.QWEN2_VL: Qwen2VLProcessor, Family.QWEN2_5_VL: Qwen2_5_VLProcessor}[Family(family)]


def image_only_processor(family: str, image_processor, tokenizer, chat_template: str | None = None):
    """A Qwen2-VL / Qwen2.5-VL processor without its video processor.

    transformers 5 builds those processors with a video processor, which needs torchvision; this
    project does not install torchvision (its CPU wheel breaks beside the local torch). Images are
    all a view-to-sequence model reads, so where torchvision is missing the processor is built
    without one; it saves its image processor and tokenizer as the full processor would (a
    machine with torchvision loads the folder with `AutoProcessor` as usual).
    """
    base = _processor_class(family)

    def check_argument_for_proper_class(self, name, arg):
        return None if arg is None else base.check_argument_for_proper_class(self, name, arg)

    def save_pretrained(self, save_directory, **kwargs):
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        self.image_processor.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        if self.chat_template:
            (out / "chat_template.jinja").write_text(self.chat_template, encoding="utf-8")
        (out / "processor_config.json").write_text(json.dumps({"processor_class": base.__name__}, indent=1))
        return [str(out)]

    cls = type(base.__name__, (base,), {"check_argument_for_proper_class": check_argument_for_proper_class,
                                        "save_pretrained": save_pretrained, "__module__": __name__})
    return cls(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
               chat_template=chat_template or getattr(tokenizer, "chat_template", None))


def load_image_only_processor(name_or_path: str | Path, family: str, *, local_files_only: bool = True):
    """`image_only_processor` from a saved folder or hub id (image processor, tokenizer, chat template)."""
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    template = Path(name_or_path) / "chat_template.jinja"  # a hub id: the tokenizer's own template
    return image_only_processor(family, image_processor, tokenizer,
                                template.read_text(encoding="utf-8") if template.is_file()
                                else getattr(tokenizer, "chat_template", None))


def has_torchvision() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchvision") is not None
