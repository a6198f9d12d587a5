"""Does a model read its images? The answer loss on held-out samples with their own images against
the same samples with each other's images (a fixed derangement).

A sequence model can reach a plausible loss and a better-than-constant IoU while ignoring what it
is shown: it writes the training set's most likely part. Measured on the 10-minute CPU model of
synth_learn (issue 29): val cross-entropy 2.3946 with the true images, 2.3945 with shuffled ones;
its vision tower had collapsed (the features of two different parts differed by 0.3% of their
size after the connector, 38% at initialisation). The loss curve and even the IoU do not show
that; this does. `gap` = loss(shuffled) - loss(true), in nats per answer token: about 0 for a
model that ignores its images, larger the more the answer depends on them.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TypedDict

from vlm.collate import Collator, Sample

MIN_GAP = 0.01
"""Below this many nats per answer token, a model is reported as not reading its images."""


class ImageUse(TypedDict):
    loss_true_images: float
    loss_shuffled_images: float
    gap: float
    reads_images: bool
    n: int


def derangement(n: int, seed: int = 0) -> list[int]:
    """A seeded permutation of range(n) that moves every index (n >= 2)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    moved = list(range(n))
    for i in range(n):  # one cycle through the shuffled order: each index goes to the next one in it
        moved[order[i]] = order[(i + 1) % n]
    return moved


def answer_loss(model, collator: Collator, samples: list[Sample], batch: int = 16) -> float:
    """Mean cross-entropy per answer token (plain, not the training loss's smoothed targets)."""
    import torch

    total, count = 0.0, 0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(samples), batch):
                inputs = collator(samples[i:i + batch])
                labels = inputs.pop("labels")
                inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
                logits = model(**inputs).logits[:, :-1].float()
                gold = labels[:, 1:].to(device)
                total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1),
                                                           ignore_index=-100, reduction="sum").item()
                count += int((gold != -100).sum())
    finally:
        model.train(was_training)
    return total / max(1, count)


def image_use(model, processor, samples: list[Sample], *, seed: int = 0) -> ImageUse:
    """The answer loss of `samples` with their own images and with another sample's images.

    Raises:
        ValueError: fewer than two samples (nothing to swap).
    """
    if len(samples) < 2:
        raise ValueError("image use needs at least two samples")
    collator = Collator(processor)
    swapped = [replace(s, images=samples[j].images) for s, j in zip(samples, derangement(len(samples), seed),
                                                                    strict=True)]
    true_loss = answer_loss(model, collator, samples)
    shuffled_loss = answer_loss(model, collator, swapped)
    gap = shuffled_loss - true_loss
    return {"loss_true_images": round(true_loss, 4), "loss_shuffled_images": round(shuffled_loss, 4),
            "gap": round(gap, 4), "reads_images": gap >= MIN_GAP, "n": len(samples)}
