"""The optimizer's groups: no decay on norms and biases, the vision tower at its own share of the rate."""

from __future__ import annotations

import pytest

from vlm.modes import is_vision_parameter
from vlm.optimizer import param_groups


def test_the_vision_tower_trains_at_its_share_of_the_rate_and_norms_are_not_decayed(tiny_model):
    from vlm.loading import load_model

    model, _ = load_model(tiny_model)
    model.model.text_model.layers[0].self_attn.q_proj.weight.requires_grad_(False)  # frozen: in no group
    groups = param_groups(model, 1e-3, 0.01, vision_lr_scale=0.1)
    owner = {id(p): g for g in groups for p in g["params"]}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(owner) == len(trainable) == sum(len(g["params"]) for g in groups)  # each in exactly one group
    assert any(is_vision_parameter(n) for n, _ in trainable) and any(not is_vision_parameter(n) for n, _ in trainable)
    for name, p in trainable:
        g = owner[id(p)]
        assert g["lr"] == pytest.approx(1e-4 if is_vision_parameter(name) else 1e-3), name
        assert g["weight_decay"] == (0.0 if p.ndim < 2 or "norm" in name else 0.01), name
    assert "connector" not in "".join(n for n, _ in trainable if is_vision_parameter(n))  # the connector learns at 1x
    assert {g["lr"] for g in param_groups(model, 1e-3, 0.01)} == {1e-3}


@pytest.mark.parametrize("minutes", [None, 0.05])
def test_a_run_with_a_vision_rate_trains_and_records_it(minutes, tiny_model, tiny_dataset, tmp_path):
    """Untimed (the Trainer's schedule over our optimizer) and timed (the clock's)."""
    from vlm.modes import TrainMode
    from vlm.train import TrainSpec, run_training

    spec = TrainSpec(model=str(tiny_model), out_dir=str(tmp_path / "run"), mode=TrainMode.FULL, epochs=1, batch_size=4,
                     learning_rate=1e-3, device="cpu", vision_lr_scale=0.1, max_minutes=minutes, report_to=())
    report = run_training(spec, tiny_dataset, train_n=12, val_n=2)
    assert report["global_step"] >= 1 and report["history"][0]["train_loss"] > 0
    assert report["spec"]["vision_lr_scale"] == 0.1


def test_the_optimizer_is_fused_where_the_device_has_the_kernel_and_steps_like_the_foreach_one(tiny_model):
    import torch

    from vlm.loading import load_model
    from vlm.optimizer import adamw

    model, _ = load_model(tiny_model)
    fused, plain = adamw(model, 1e-3, 0.01, 0.1, "cpu"), adamw(model, 1e-3, 0.01, 0.1, "mps")
    assert all(g["fused"] for g in fused.param_groups) and not any(g["fused"] for g in plain.param_groups)
    weights = [p.detach().clone() for p in model.parameters()]
    after = []
    for opt in (fused, plain):  # one step each from the same weights and gradients
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights, strict=True):
                p.copy_(w)
                p.grad = torch.full_like(p, 0.5)
        opt.step()
        after.append([p.detach().clone() for p in model.parameters()])
    assert any(not torch.equal(a, w) for a, w in zip(after[0], weights, strict=True))
    for a, b in zip(*after, strict=True):
        torch.testing.assert_close(a, b)
