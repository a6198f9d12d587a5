"""Batching (images, prompt, target) samples for a chat VLM: the chat template, image tokens, and
labels that train on the answer only (prompt and padding are -100)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadlib.dataset.reports import ContentBlock, LlavaRecord, Message

IGNORE = -100
IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True, slots=True)
class Sample:
    """One training sample: image files, the user's text (without image placeholders) and the answer."""

    images: tuple[str, ...]
    prompt: str
    target: str


def sample_from_llava(record: LlavaRecord, root: str | Path) -> Sample:
    """A `Sample` from a LLaVA record (`image`, `conversations`) of a dataset at `root`."""
    images = record["image"] if isinstance(record["image"], list) else [record["image"]]
    human, gpt = record["conversations"][0]["value"], record["conversations"][1]["value"]
    prompt = human.replace(IMAGE_PLACEHOLDER, "").strip()
    return Sample(tuple(str(Path(root) / i) for i in images), prompt, gpt)


def messages_for(sample: Sample, *, with_answer: bool) -> list[Message]:
    """The chat messages of a sample: one image entry per image, then the prompt text."""
    user: list[ContentBlock] = [{"type": "image"} for _ in sample.images]
    user.append({"type": "text", "text": sample.prompt})
    msgs: list[Message] = [{"role": "user", "content": user}]
    if with_answer:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": sample.target}]})
    return msgs


class Collator:
    """Turns a list of `Sample`s into model inputs with labels.

    The full conversation and the prompt alone (with the generation prompt) go through the
    processor; the labels copy the input ids, with every position of the shared prompt prefix and
    all padding set to -100, so the loss covers the answer and its end-of-utterance token only.
    """

    def __init__(self, processor: Any, max_length: int | None = None) -> None:
        self.processor = processor
        self.max_length = max_length
        tok = processor.tokenizer
        tok.padding_side = "right"
        self.pad_id = tok.pad_token_id
        # The prompt's token ids depend only on its text and its images' sizes (how many image
        # tokens they expand to): computed once per kind, not by processing every batch's images twice.
        self._prompt_ids: dict[tuple, list[int]] = {}

    def _images(self, samples: list[Sample]) -> list[list]:
        from PIL import Image

        out = []
        for s in samples:
            imgs = []
            for path in s.images:
                with Image.open(path) as im:
                    imgs.append(im.convert("RGB"))
            out.append(imgs)
        return out

    def _prompt_tokens(self, prompt: str, images: list) -> list[int]:
        key = (prompt, tuple(im.size for im in images))
        ids = self._prompt_ids.get(key)
        if ids is None:
            out = self.processor(text=[prompt], images=[images], return_tensors="pt")
            ids = self._prompt_ids[key] = out["input_ids"][0].tolist()
        return ids

    def __call__(self, samples: list[Sample]) -> dict:
        proc = self.processor
        images = self._images(samples)
        full = [proc.apply_chat_template(messages_for(s, with_answer=True), add_generation_prompt=False)
                for s in samples]
        prompt = [proc.apply_chat_template(messages_for(s, with_answer=False), add_generation_prompt=True)
                  for s in samples]
        batch = proc(text=full, images=images, return_tensors="pt", padding=True)
        labels = batch["input_ids"].clone()
        for i in range(len(samples)):
            pids = self._prompt_tokens(prompt[i], images[i])
            ids = batch["input_ids"][i].tolist()
            shared = 0  # the prompt's tokens normally prefix the full text's; mask what they share
            while shared < len(pids) and ids[shared] == pids[shared]:
                shared += 1
            labels[i, :shared] = IGNORE
        labels[batch["attention_mask"] == 0] = IGNORE
        batch["labels"] = labels
        if self.max_length is not None and batch["input_ids"].shape[1] > self.max_length:
            raise ValueError(f"a batch is {batch['input_ids'].shape[1]} tokens, over max_length={self.max_length}; "
                             "rebuild the dataset with a lower dataset.max_tokens or raise max_length")
        return dict(batch)
