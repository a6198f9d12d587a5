"""Image use: the loss with each sample's own images against each other's images tells a model that
reads its input from one that writes the most likely answer whatever it is shown."""

from __future__ import annotations

import json

import pytest

from vlm.collate import sample_from_llava
from vlm.image_use import derangement, image_use


def test_the_derangement_moves_every_sample_and_is_seeded():
    for n in (2, 3, 17):
        order = derangement(n, seed=4)
        assert sorted(order) == list(range(n)) and all(order[i] != i for i in range(n))
    assert derangement(9, seed=1) == derangement(9, seed=1) != derangement(9, seed=2)


def _samples(root, split):
    return [sample_from_llava(r, root) for r in json.loads((root / f"{split}.json").read_text())]


def test_a_blind_model_shows_no_gap_and_a_trained_one_reads_its_images(tiny_model, tiny_dataset):
    """Blind: the connector's projection zeroed, so every image is the same to the model: the gap is
    exactly 0 and it is reported as not reading. Trained on shapes whose answer only the image tells
    apart (rectangle, ellipse, triangle): the loss with swapped images becomes higher. It learns the
    answers' text first (loss ~0.05 with a gap of 0.0000) and reads the images later: from step 150
    to 450 across initial weights and thread counts, so it trains until it reads them (checked every
    50 steps), at most 800 steps."""
    import torch

    from vlm.collate import Collator
    from vlm.loading import load_model

    train, val = _samples(tiny_dataset, "train"), _samples(tiny_dataset, "val") + _samples(tiny_dataset, "train")[:8]
    model, processor = load_model(tiny_model)
    blind, _ = load_model(tiny_model)
    with torch.no_grad():
        for p in blind.model.connector.parameters():
            p.zero_()
    got = image_use(blind, processor, val)
    assert got["gap"] == 0.0 and not got["reads_images"] and got["n"] == 12
    with pytest.raises(ValueError, match="two samples"):
        image_use(blind, processor, val[:1])

    torch.manual_seed(0)
    collator = Collator(processor)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    trained: dict = {}
    for step in range(1, 801):
        model.train()
        batch = collator([train[(step * 4 + k) % len(train)] for k in range(4)])
        labels = batch.pop("labels")
        logits = model(**batch).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                 ignore_index=-100)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step >= 100 and step % 50 == 0:
            trained = image_use(model, processor, val)
            if trained["reads_images"] and trained["gap"] > 0.05:
                break
    assert trained["reads_images"] and trained["gap"] > 0.05, trained
    assert trained["loss_shuffled_images"] > trained["loss_true_images"]
