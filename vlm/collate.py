"""Batching (images, prompt, target) samples for a chat VLM: the chat template, image tokens, and
labels that train on the answer only (prompt and padding are -100).

Each sample goes through the processor once: its token ids, labels and image tensors are kept (up
to `CACHE_BYTES`) and a batch is those tensors padded and stacked, so a sample seen again in a later
epoch costs no image decoding, resizing or chat templating (5 ms a sample on 2 CPU cores for the
CPU model, 6% of its step). The first batch is also processed as a whole and compared with the
stacked one; a family whose processor batches differently (it did not happen with Idefics3 or
Qwen2-VL) is then processed per batch, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadlib.dataset.reports import ContentBlock, LlavaRecord, Message

IGNORE = -100
IMAGE_PLACEHOLDER = "<image>"
CACHE_BYTES = 2 * 2**30
"""Processed samples kept in memory (a 128 px Idefics3 sample is ~200 KB, a 512 px one ~3 MB);
samples past it are processed again each time they are batched."""
PADDED = {"input_ids": None, "labels": IGNORE, "attention_mask": 0, "token_type_ids": 0, "mm_token_type_ids": 0}
"""The per-token fields, padded on the right (None: the tokenizer's pad id)."""


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

    def __init__(self, processor: Any, max_length: int | None = None, cache_bytes: int = CACHE_BYTES) -> None:
        self.processor = processor
        self.max_length = max_length
        tok = processor.tokenizer
        tok.padding_side = "right"
        self.pad_id = tok.pad_token_id
        # The prompt's token ids depend only on its text and its images' sizes (how many image
        # tokens they expand to): computed once per kind, not by processing every batch's images twice.
        self._prompt_ids: dict[tuple, list[int]] = {}
        self.cache_bytes = cache_bytes
        self._cache: dict[Sample, dict] = {}
        self._cached_bytes = 0
        self._stacking: bool | None = None  # None until the first batch has checked it

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

    def _process(self, samples: list[Sample]) -> dict:
        """The samples through the processor together, labels included."""
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
        return dict(batch)

    def _one(self, sample: Sample) -> dict:
        got = self._cache.get(sample)
        if got is None:
            got = self._process([sample])
            size = sum(v.numel() * v.element_size() for v in got.values() if hasattr(v, "numel"))
            if self._cached_bytes + size <= self.cache_bytes:
                self._cache[sample] = got
                self._cached_bytes += size
        return got

    def _stacked(self, samples: list[Sample]) -> dict:
        """The samples' own processed tensors, padded and stacked into a batch."""
        return _stack([self._one(s) for s in samples], self.pad_id)

    def __call__(self, samples: list[Sample]) -> dict:
        if self._stacking is None:
            batch = self._process(samples)
            self._stacking = same_batch(self._stacked(samples), batch)
            if not self._stacking:
                logging.getLogger(__name__).warning(
                    "%s batches samples differently from one at a time: every batch goes through it whole (no cache)",
                    type(self.processor).__name__)
                self._cache.clear()
        elif self._stacking:
            batch = self._stacked(samples)
        else:
            batch = self._process(samples)
        if self.max_length is not None and batch["input_ids"].shape[1] > self.max_length:
            raise ValueError(f"a batch is {batch['input_ids'].shape[1]} tokens, over max_length={self.max_length}; "
                             "rebuild the dataset with a lower dataset.max_tokens or raise max_length")
        return batch


def _stack(items: list[dict], pad_id: int) -> dict:
    """One batch from samples processed one at a time: the per-token fields (`PADDED`) right-padded
    to the longest; a tensor with a batch axis of 1 (Idefics3's images, (1, n, c, h, w)) padded with
    zeros to the largest of each axis and concatenated; any other (Qwen2-VL's flattened patches and
    grids) concatenated as it is."""
    import torch

    out: dict[str, Any] = {}
    for key, first in items[0].items():
        values = [it[key] for it in items]
        if not isinstance(first, torch.Tensor):
            out[key] = values
        elif key in PADDED:
            fill = pad_id if PADDED[key] is None else PADDED[key]
            length = max(v.shape[1] for v in values)
            out[key] = torch.cat([torch.nn.functional.pad(v, (0, length - v.shape[1]), value=fill) for v in values])
        elif all(v.shape[0] == 1 for v in values) and len({v.ndim for v in values}) == 1:
            dims = [max(v.shape[d] for v in values) for d in range(first.ndim)]
            padded = []
            for v in values:
                grow = [x for d in reversed(range(1, v.ndim)) for x in (0, dims[d] - v.shape[d])]
                padded.append(torch.nn.functional.pad(v, grow) if any(grow) else v)
            out[key] = torch.cat(padded)
        else:
            out[key] = torch.cat(values)
    return out


def same_batch(a: dict, b: dict) -> bool:
    """Whether two batches hold the same keys and equal tensors (shape, dtype and values)."""
    import torch

    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, torch.Tensor) != isinstance(y, torch.Tensor):
            return False
        if isinstance(x, torch.Tensor):
            if x.shape != y.shape or x.dtype != y.dtype or not torch.equal(x, y):
                return False
        elif x != y:
            return False
    return True
