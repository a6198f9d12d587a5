"""The collator: prompt and padding positions are -100 in the labels, answer tokens are not; each sample
is processed once, and a stacked batch equals the processor's own."""

from __future__ import annotations

import json

import pytest
import torch

from tests.vlm.conftest import dataset_texts
from vlm.collate import IGNORE, Collator, Sample, sample_from_llava
from vlm.families import build_qwen_vl


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


def _processor(folder):
    from vlm.loading import load_model

    return load_model(folder)[1]


@pytest.mark.parametrize("family", ["idefics3", "qwen2_vl"])
def test_a_batch_of_samples_processed_once_equals_the_processors_batch(family, tiny_model, tiny_dataset, tmp_path):
    from vlm.collate import same_batch

    folder = tiny_model if family == "idefics3" else build_qwen_vl(dataset_texts(tiny_dataset), tmp_path / family,
                                                                   family=family, mark_random=False)
    records = json.loads((tiny_dataset / "train.json").read_text())
    s = [sample_from_llava(r, tiny_dataset) for r in records[:5]]
    two = Sample((s[0].images[0], s[1].images[0]), "Which part?", "sketch 1 2 3\n")  # two images, other prompt
    collate = Collator(_processor(folder))
    calls = []
    process = collate._process
    collate._process = lambda samples: calls.append(len(samples)) or process(samples)  # type: ignore[method-assign]
    for batch in ([s[0], s[1], s[2]], [two, s[3]], [s[4], two, s[0]]):
        assert same_batch(collate(batch), process(batch))
    assert collate._stacking is True
    # the first batch whole (the check) and each distinct sample alone, once: s[0] and `two` come back cached
    assert calls == [3, 1, 1, 1, 1, 1, 1]


def test_the_cache_stays_within_its_bytes(tiny_model, tiny_dataset):
    records = json.loads((tiny_dataset / "train.json").read_text())
    s = [sample_from_llava(r, tiny_dataset) for r in records[:4]]
    collate = Collator(_processor(tiny_model))
    collate(s)
    one = collate._cached_bytes // 4
    small = Collator(_processor(tiny_model), cache_bytes=2 * one + one // 2)
    batch = small(s)
    assert len(small._cache) == 2 and small._cached_bytes <= small.cache_bytes
    assert torch.equal(small(s)["input_ids"], batch["input_ids"])  # the uncached two processed again, the same


def test_a_processor_that_batches_differently_is_used_whole(tiny_model, tiny_dataset, caplog):
    """A field that depends on the whole batch (here: its size) cannot be stacked from single samples;
    the collator sees it on the first batch, says so and processes every batch whole."""
    proc = _processor(tiny_model)

    class Whole:
        def __init__(self, inner):
            self.inner, self.tokenizer = inner, inner.tokenizer

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __call__(self, text, **kw):
            out = self.inner(text=text, **kw)
            out["batch_size"] = torch.tensor([len(text)])
            return out

    records = json.loads((tiny_dataset / "train.json").read_text())
    s = [sample_from_llava(r, tiny_dataset) for r in records[:3]]
    collate = Collator(Whole(proc))
    with caplog.at_level("WARNING"):
        first = collate(s)
    assert collate._stacking is False and not collate._cache and "no cache" in caplog.text
    assert first["batch_size"].tolist() == [3] and collate(s[:2])["batch_size"].tolist() == [2]
