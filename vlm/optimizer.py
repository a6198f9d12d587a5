"""The optimizer of a run: AdamW over the trainable weights in groups (no weight decay on norms and
biases; the vision tower at its own share of the learning rate), with the clock's schedule for a
timed run.

The vision tower's share (`vision_lr_scale`, recipe field) exists because of what a model trained
from scratch does with its eyes: at the language model's rate, the 10-minute CPU model's
convolutional tower collapsed (two parts' features 0.3% apart after the connector, 38% at
initialisation) and the model wrote its answers whatever it was shown (`vlm.image_use`: val
cross-entropy 2.3946 with the true images, 2.3945 with shuffled ones). With the tower at a tenth of
the rate, the same data, one thread: the gap appears after ~430 steps and grows (0.006, 0.016,
0.032, 0.042, 0.053 nats over the next 300 steps); with the tower frozen at its random weights it
stays at 0.001.
"""

from __future__ import annotations

from typing import Any, TypedDict

from vlm.modes import is_vision_parameter


class ParamGroup(TypedDict):
    """A torch optimizer's parameter group."""

    params: list
    weight_decay: float
    lr: float


def param_groups(model: Any, learning_rate: float, weight_decay: float, vision_lr_scale: float = 1.0) -> list[ParamGroup]:
    """The trainable weights in up to four groups: decayed or not (norms and biases are not), in the
    vision tower (at `vision_lr_scale` x `learning_rate`) or not. Empty groups are left out."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = (p.ndim < 2 or "norm" in name, is_vision_parameter(name))
            groups.setdefault(key, []).append(p)
    return [{"params": params, "weight_decay": 0.0 if no_decay else weight_decay,
             "lr": learning_rate * (vision_lr_scale if vision else 1.0)}
            for (no_decay, vision), params in sorted(groups.items())]


def adamw(model: Any, learning_rate: float, weight_decay: float, vision_lr_scale: float = 1.0, device: str = "cpu"):
    """AdamW over `param_groups` (betas 0.9/0.98, as every timed run has used); an untimed run hands
    it to `Trainer`, which builds its own schedule over it.

    The fused kernel (one pass over each group's weights, not a dozen foreach ops) where the run's
    `device` has it: the CPU model's optimizer step took 9.1 ms instead of 19.3 on 2 AVX2 cores,
    21.2 samples/s instead of 19.9 (2026-12-07)."""
    import torch

    groups: list[dict[str, Any]] = [dict(g) for g in param_groups(model, learning_rate, weight_decay, vision_lr_scale)]
    fused = device in FUSED_DEVICES or None  # every trainable weight is floating point: no check needed
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.98), fused=fused)


FUSED_DEVICES = ("cpu", "cuda")
"""Where torch's fused AdamW runs (MPS has it only in newer torch releases: the foreach kernel there)."""


def timed_optimizers(model: Any, learning_rate: float, weight_decay: float, vision_lr_scale: float, warmup: float,
                     clock, device: str = "cpu") -> tuple:
    """AdamW (`adamw`) with the clock's schedule (`vlm.budget.timed_lr`), for `Trainer(optimizers=...)`."""
    import torch

    from vlm.budget import timed_lr

    opt = adamw(model, learning_rate, weight_decay, vision_lr_scale, device)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, timed_lr(clock, warmup=max(warmup, 0.02)))
