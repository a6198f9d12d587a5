"""Ordinal number targets: a near miss costs less than a far one, other tokens keep plain
cross-entropy, and a tokenizer that splits numbers is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vlm.number_loss import number_smoothing_loss, number_token_ids, ordinal_targets

VOCAB, NUMBERS = 300, list(range(40, 296))  # token 40 + v stands for the number v (0..255)


def _logits_for(answer: list[int], peak: float = 8.0) -> torch.Tensor:
    """Logits of one sequence whose step t predicts token answer[t] with a clear peak."""
    logits = torch.zeros(1, len(answer) + 1, VOCAB)
    for t, tok in enumerate(answer):
        logits[0, t, tok] = peak
    return logits


def _labels(gold: list[int]) -> torch.Tensor:
    return torch.tensor([[-100, *gold]])  # labels[t + 1] is what step t predicts


def test_a_near_miss_costs_less_than_a_far_one():
    loss = number_smoothing_loss(NUMBERS, sigma=2.0)
    gold = _labels([40 + 128])
    near = loss(SimpleNamespace(logits=_logits_for([40 + 130])), gold)
    far = loss(SimpleNamespace(logits=_logits_for([40 + 7])), gold)
    exact = loss(SimpleNamespace(logits=_logits_for([40 + 128])), gold)
    assert exact < near < far


def test_other_tokens_keep_plain_cross_entropy():
    loss = number_smoothing_loss(NUMBERS, sigma=2.0)
    logits = torch.randn(1, 4, VOCAB)
    labels = torch.tensor([[-100, 3, 17, -100]])  # word tokens, then padding
    plain = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, 1:3])
    assert torch.allclose(loss(SimpleNamespace(logits=logits), labels), plain, atol=1e-6)


def test_a_tiny_sigma_is_plain_cross_entropy_on_numbers():
    loss = number_smoothing_loss(NUMBERS, sigma=1e-3)
    logits = torch.randn(1, 3, VOCAB)
    labels = torch.tensor([[-100, 40 + 5, 40 + 200]])
    plain = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, 1:])
    assert torch.allclose(loss(SimpleNamespace(logits=logits), labels), plain, atol=1e-5)


def test_targets_are_distributions_centred_on_the_value():
    t = ordinal_targets(256, 1.5)
    assert torch.allclose(t.sum(1), torch.ones(256)) and int(t[100].argmax()) == 100
    assert t[100, 101] > t[100, 103] > 0


def test_number_ids_need_one_token_per_number(tiny_model):
    from transformers import AutoProcessor

    tok = AutoProcessor.from_pretrained(tiny_model).tokenizer
    ids = number_token_ids(tok, 256)
    assert ids is not None and len(set(ids)) == 256

    class Digits:  # a tokenizer that writes 17 as "1", "7"
        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text.strip()]

    assert number_token_ids(Digits(), 256) is None


def test_training_with_number_smoothing_runs_and_a_digit_tokenizer_is_refused(tiny_model, tmp_path):
    from vlm.train import TrainSpec, _loss_for

    spec = TrainSpec(model=str(tiny_model), out_dir=str(tmp_path), number_smoothing=1.5)
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model)
    assert _loss_for(spec, processor) is not None
    assert _loss_for(TrainSpec(model="x", out_dir=str(tmp_path)), processor) is None
    processor.tokenizer = SimpleNamespace(encode=lambda text, add_special_tokens=False: [1, 2])
    with pytest.raises(ValueError, match="number_smoothing needs every number"):
        _loss_for(spec, processor)


def test_full_training_with_ordinal_number_targets_learns(tiny_model, tiny_dataset, tmp_path):
    """The Trainer runs on the ordinal loss (train and val), and the loss falls."""
    from tests.vlm.test_lora_and_training import spec
    from vlm.train import run_training

    report = run_training(spec(tiny_model, tmp_path / "run", epochs=3, mode="full", number_smoothing=1.5), tiny_dataset)
    history = report["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] and history[-1]["val_loss"] is not None
