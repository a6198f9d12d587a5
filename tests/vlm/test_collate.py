"""The collator: prompt and padding positions are -100 in the labels, answer tokens are not."""

from __future__ import annotations

import json

import torch

from vlm.collate import IGNORE, Collator, Sample, sample_from_llava


def test_labels_cover_the_answer_only(tiny_model, tiny_dataset):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model)
    records = json.loads((tiny_dataset / "train.json").read_text())
    samples = [sample_from_llava(r, tiny_dataset) for r in records[:3]]
    assert samples[0].prompt == "Write the construction sequence of this part."  # placeholder removed
    batch = Collator(proc)(samples)
    tok = proc.tokenizer
    for i, s in enumerate(samples):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        learned = ids[labels != IGNORE]
        assert torch.equal(labels[labels != IGNORE], learned)
        # what is learned is the answer and its end-of-utterance token, nothing of the prompt
        assert tok.decode(learned).strip() == s.target + "<end_of_utterance>"
        assert (labels[mask == 0] == IGNORE).all()  # padding
        image_positions = ids == proc.image_token_id
        assert image_positions.any() and (labels[image_positions] == IGNORE).all()
    assert batch["pixel_values"].shape[:2] == (3, 1)


def test_several_images_per_sample(tiny_model, tiny_dataset):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model)
    one = Sample((str(tiny_dataset / "images/train_0_front.png"),), "Which part?", "sketch 1 2 3\n")
    two = Sample((str(tiny_dataset / "images/train_0_front.png"), str(tiny_dataset / "images/train_1_front.png")),
                 "Which part?", "sketch 1 2 3\n")
    b1, b2 = Collator(proc)([one]), Collator(proc)([two])
    n1 = int((b1["input_ids"] == proc.image_token_id).sum())
    assert int((b2["input_ids"] == proc.image_token_id).sum()) == 2 * n1
    assert b2["pixel_values"].shape[1] == 2
    assert int((b2["labels"] != IGNORE).sum()) == int((b1["labels"] != IGNORE).sum())
