"""Generating a construction sequence from views with a base model plus a trained adapter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from vlm.collate import Sample, messages_for


def is_trained_folder(path: str | Path) -> bool:
    """True for a folder `load_trained` reads: a LoRA adapter, or a whole model with a training
    report beside it (what `cadrecon train` writes)."""
    path = Path(path)
    return (path / "adapter_config.json").is_file() or (
        (path / "config.json").is_file() and (path.parent / "training_report.json").is_file())


def require_trained_folder(path: str | Path) -> None:
    """Raises ValueError (one line, what to do) unless `path` is a folder `load_trained` reads."""
    if not path or not is_trained_folder(path):
        raise ValueError(f"{path or '--model'}: not a trained model folder (neither a LoRA adapter nor a model with "
                         "its training_report.json); train one with cadrecon train")


def load_trained(weights_dir: str | Path):
    """A trained model and its processor, in eval mode: a LoRA adapter folder (the base model named
    in its config with the adapter applied) or a whole model (from full or freeze_vision training)."""
    from peft import PeftModel

    from vlm.loading import load_model, load_processor

    weights_dir = Path(weights_dir)
    config = weights_dir / "adapter_config.json"
    if not config.is_file():
        if not (weights_dir / "config.json").is_file():
            raise ValueError(f"{weights_dir}: neither a LoRA adapter (adapter_config.json) nor a model (config.json); "
                             "pass the `weights` folder a training report names")
        model, processor = load_model(weights_dir)
        model.eval()
        return model, processor
    cfg = json.loads(config.read_text())
    base_ref = cfg["base_model_name_or_path"]
    if base_ref.startswith(("./", "../")):  # a local base, relative to the adapter (`vlm.save.portable_base`)
        base_ref = str((weights_dir / base_ref).resolve())
    base, _ = load_model(base_ref)
    model = PeftModel.from_pretrained(base, str(weights_dir))
    model.eval()
    return model, load_processor(weights_dir, base.config.model_type)



def generate_text(model, processor, images: list[str], prompt: str, *, max_new_tokens: int = 256,
                  constrained: bool = False, samples: int = 1, limits=None, seed: int = 0) -> str | list[str]:
    """Decodes the answer to `prompt` about `images` (file paths): greedy for one sample, sampling
    (seeded) for `samples` > 1, which returns a list. With `constrained`, only valid sequence text
    can come out (`vlm.constrained`)."""
    texts = generate_batch(model, processor, [list(images)], prompt, max_new_tokens=max_new_tokens,
                           constrained=constrained, samples=samples, limits=limits, seed=seed)[0]
    return texts if samples > 1 else texts[0]


def generate_batch(model, processor, images: list[list[str]], prompt: str | list[str], *, max_new_tokens: int = 256,
                   constrained: bool = False, samples: int = 1, limits=None, seed: int = 0,
                   on_token: Callable[[int, int], None] | None = None) -> list[list[str]]:
    """`samples` answers for each item of a batch (each item: its view images; one prompt for all,
    or one per item). `on_token(step, max_new_tokens)` hears each decoding step (a progress bar:
    the batch ends at `max_new_tokens` steps at the latest, earlier when every answer has ended)."""
    import torch
    from PIL import Image

    from cadlib.grammar import Limits
    from vlm.constrained import SequenceConstraint

    texts, pics = [], []
    prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
    for item, text_prompt in zip(images, prompts, strict=True):
        sample = Sample(tuple(item), text_prompt, "")
        texts.append(processor.apply_chat_template(messages_for(sample, with_answer=False), add_generation_prompt=True))
        row = []
        for p in item:
            with Image.open(p) as im:
                row.append(im.convert("RGB"))
        pics.append(row)
    processor.tokenizer.padding_side = "left"  # generation continues from the right end
    inputs = processor(text=texts, images=pics, return_tensors="pt", padding=True)
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    n_prompt = inputs["input_ids"].shape[1]
    kwargs = {"max_new_tokens": max_new_tokens, "pad_token_id": processor.tokenizer.pad_token_id}
    if samples > 1:
        torch.manual_seed(seed)
        kwargs.update(do_sample=True, num_return_sequences=samples, temperature=1.0, top_k=0)
    else:
        kwargs["do_sample"] = False
    processors: list[Callable] = []
    if constrained:
        processors.append(SequenceConstraint(processor.tokenizer, n_prompt, limits or Limits(),
                                             max_new_tokens=max_new_tokens))
    if on_token is not None:
        processors.append(_StepCounter(n_prompt, max_new_tokens, on_token))
    if processors:
        kwargs["logits_processor"] = processors
    with torch.no_grad():
        out = model.generate(**inputs, **kwargs)
    decoded = processor.tokenizer.batch_decode(out[:, n_prompt:], skip_special_tokens=True)
    decoded = [d.strip(" ") for d in decoded]
    if on_token is not None:
        on_token(max_new_tokens, max_new_tokens)  # done, however early every answer ended
    return [decoded[i * samples:(i + 1) * samples] for i in range(len(images))]


class _StepCounter:
    """A logits processor that changes nothing and reports the decoding step."""

    def __init__(self, n_prompt: int, max_new_tokens: int, on_token: Callable[[int, int], None]):
        self.n_prompt, self.max_new_tokens, self.on_token = n_prompt, max_new_tokens, on_token

    def __call__(self, input_ids, scores):
        self.on_token(input_ids.shape[1] - self.n_prompt + 1, self.max_new_tokens)
        return scores
