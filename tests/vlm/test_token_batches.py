"""Micro-batches sized by a token budget (`vlm.token_batches`) and gradient checkpointing on the
layers that train only (`vlm.checkpointing`), on CPU: the batcher fills its budget with every
sample once, pads less than fixed batches, the largest budget that fits is found by halving (with
checkpointing tried first where `auto`), and a frozen vision tower is never checkpointed."""

from __future__ import annotations

import random

import pytest

from vlm.token_batches import (
    TokenBudgetBatches,
    accumulation_for,
    largest_fitting,
    padded_tokens,
    plan_batches,
)


def fixed_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """A shuffled fixed-size batching of `n` samples: what the padding is compared with."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _lengths(n: int = 2000, seed: int = 0) -> list[int]:
    """Sequence lengths like a dataset's: image tokens plus a target of very varied length."""
    rng = random.Random(seed)
    return [100 + int(rng.lognormvariate(5.0, 0.7)) for _ in range(n)]


def test_the_batcher_fills_its_budget_with_every_sample_once():
    lengths = _lengths()
    budget = 4096
    batches = plan_batches(lengths, budget, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        padded = len(b) * max(lengths[i] for i in b)
        assert padded <= budget or len(b) == 1  # a sample over the budget travels alone, never cut
    # filled: a micro-batch could not have taken the next sample of its bucket
    fill = [len(b) * max(lengths[i] for i in b) / budget for b in batches if len(b) > 1]
    assert sum(fill) / len(fill) > 0.85
    real, padded = padded_tokens(batches, lengths)
    fixed_real, fixed_padded = padded_tokens(fixed_batches(len(lengths), len(lengths) // len(batches)), lengths)
    assert 1 - real / padded < 0.05 < 1 - fixed_real / fixed_padded  # bucketing pads far less than fixed batches


def test_a_cap_on_samples_and_the_epochs_order():
    lengths = [50] * 100
    batches = plan_batches(lengths, 10_000, max_samples=8, seed=1)
    assert max(len(b) for b in batches) == 8 and sum(len(b) for b in batches) == 100
    assert plan_batches(lengths, 1000, seed=1, epoch=0) == plan_batches(lengths, 1000, seed=1, epoch=0)
    assert plan_batches(lengths, 1000, seed=1, epoch=0) != plan_batches(lengths, 1000, seed=1, epoch=1)
    sampler = TokenBudgetBatches(_lengths(300), 2048, seed=2)
    first = list(sampler)
    assert list(sampler) != first  # an iteration nobody announced is the next epoch
    sampler.set_epoch(0)
    assert list(sampler) == first  # the trainer's set_epoch gives the same epoch the same order
    assert accumulation_for(32, 8.0) == 4 and accumulation_for(32, 64.0) == 1


class FakeOOM(RuntimeError):
    pass


def _device(capacity: int, calls: list):
    """A device holding `capacity` activation tokens; checkpointing stores a third of them."""

    def step(budget: int, ckpt: bool) -> None:
        calls.append((budget, ckpt))
        if budget * (1 if ckpt else 3) > capacity:
            raise FakeOOM("CUDA out of memory. Tried to allocate 2.00 GiB")

    return step


def test_the_largest_budget_that_fits_and_checkpointing_only_when_needed():
    calls: list = []
    # without checkpointing while a micro-batch of at least `enough` tokens fits
    assert largest_fitting(_device(30_000, calls), 16_384, floor=512, checkpointing="auto", enough=4096) == (8192, False)
    assert calls == [(16_384, False), (8192, False)]
    calls.clear()
    # no budget of `enough` fits without it: the largest with it
    assert largest_fitting(_device(30_000, calls), 16_384, floor=512, checkpointing="auto", enough=16_384) == (16_384, True)
    assert calls == [(16_384, False), (16_384, True)]
    assert largest_fitting(_device(60_000, []), 16_384, floor=512, checkpointing=False) == (16_384, False)
    assert largest_fitting(_device(30_000, []), 16_384, floor=512, checkpointing=False) == (8192, False)
    assert largest_fitting(_device(30_000, []), 65_536, floor=512, checkpointing=True) == (16_384, True)
    with pytest.raises(MemoryError, match="not even 512 tokens"):
        largest_fitting(_device(100, []), 4096, floor=512, checkpointing="auto")

    def broken(budget, ckpt):
        raise ValueError("a shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):  # only out-of-memory makes it go smaller
        largest_fitting(broken, 4096, floor=512, checkpointing="auto")


@pytest.mark.parametrize("mode", ["lora", "freeze_vision", "full"])
def test_checkpointing_is_never_on_frozen_layers(mode, tiny_dataset, tmp_path):
    import torch

    from tests.vlm.conftest import dataset_texts
    from vlm import checkpointing
    from vlm.collate import Collator, sample_from_llava
    from vlm.families import build_qwen_vl
    from vlm.loading import load_model
    from vlm.modes import TrainMode, apply_mode

    base = build_qwen_vl(dataset_texts(tiny_dataset), tmp_path / "base", mark_random=False)
    model, processor = load_model(base)
    model = apply_mode(model, TrainMode(mode), lora={"r": 4, "alpha": 8, "dropout": 0.0,
                                                   "modules": ("q_proj", "v_proj"), "vision": False})
    on = checkpointing.enable(model)
    vision = [n for n in on if ".visual." in n or n.startswith("visual.") or "vision" in n]
    text = [n for n in on if "language_model" in n or ".layers." in n]
    assert text, on  # the decoder layers, which train (adapters or weights), checkpoint
    assert bool(vision) == (mode == "full"), vision  # the vision tower only where it trains
    assert checkpointing.checkpointed(model) == on
    import json

    records = json.loads((tiny_dataset / "train.json").read_text())[:2]
    batch = Collator(processor)([sample_from_llava(r, tiny_dataset) for r in records])
    model.train()
    loss = model(**batch).loss
    loss.backward()  # the backward pass runs through the checkpointed layers
    assert any(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    checkpointing.disable(model)
    assert checkpointing.checkpointed(model) == []


def test_a_run_with_a_token_budget_reports_its_micro_batches(tiny_model, tiny_dataset, tmp_path):
    from vlm.modes import TrainMode
    from vlm.train import TrainSpec, run_training

    spec = TrainSpec(model=str(tiny_model), out_dir=str(tmp_path / "run"), mode=TrainMode.FULL, epochs=1, batch_size=2,
                     grad_accum=2, learning_rate=1e-3, device="cpu", max_tokens_per_batch=400, report_to=())
    report = run_training(spec, tiny_dataset, train_n=12, val_n=2)
    b = report["batching"]
    assert b["max_tokens_per_batch"] == 400 and b["mean_samples_per_micro_batch"] <= 4  # capped at 2 x 2
    assert b["grad_accum"] == accumulation_for(4, b["mean_samples_per_micro_batch"])
    assert report["global_step"] >= 1 and report["history"][0]["train_loss"] > 0
