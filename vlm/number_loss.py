"""Ordinal number targets: the training loss of a construction sequence's numbers.

The sequence text quantises every coordinate, length and angle to an integer in [0, 2^bits) and
the CPU model's tokenizer makes each of them one token. Plain cross-entropy treats those tokens as
unrelated classes: answering 130 where the truth is 128 costs as much as answering 7, so the model
is told nothing about *how* wrong a number is, and learns to read sizes from pixels slowly. Here a
number token's target is a discretised Gaussian over the number tokens centred on the true value
(standard deviation `sigma`, in quantisation steps): a near miss costs little, a far one much,
and the gradient points toward the right value. Every other token keeps its one-hot target.
(Soft ordinal targets of this kind are the usual remedy for regression-as-classification: DORN,
SORD; Pix2Seq quantises box coordinates the same way.)

Greedy decoding still picks the most likely token, the centre of what the model learnt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def number_token_ids(tokenizer, limit: int) -> list[int] | None:
    """The token id of each number 0..limit-1 as it follows a space in the text (`" 17"`), or
    None when the tokenizer splits some of them (digits as separate tokens: nothing ordinal to
    smooth over one token)."""
    ids = []
    for n in range(limit):
        got = tokenizer.encode(f" {n}", add_special_tokens=False)
        if len(got) != 1:
            return None
        ids.append(got[0])
    return ids if len(set(ids)) == limit else None


def ordinal_targets(limit: int, sigma: float) -> torch.Tensor:
    """(limit, limit): row v is the target distribution for the true value v."""
    values = torch.arange(limit, dtype=torch.float32)
    k = torch.exp(-((values[None, :] - values[:, None]) ** 2) / (2 * sigma**2))
    return k / k.sum(dim=1, keepdim=True)


def number_smoothing_loss(number_ids: list[int], sigma: float) -> Callable:
    """A `Trainer(compute_loss_func=...)`: next-token cross-entropy where the targets of number
    tokens are `ordinal_targets`, averaged over the answer's tokens (the labels not -100)."""
    ids = torch.tensor(number_ids, dtype=torch.long)
    targets = ordinal_targets(len(number_ids), sigma)

    def loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs.logits[:, :-1, :]
        gold = labels[:, 1:].to(logits.device)
        mask = gold != -100
        logp = torch.log_softmax(logits[mask].float(), dim=-1)
        gold = gold[mask]
        per_token = -logp.gather(1, gold[:, None]).squeeze(1)
        lookup = torch.full((logp.shape[-1],), -1, dtype=torch.long, device=logp.device)
        lookup[ids.to(logp.device)] = torch.arange(len(ids), device=logp.device)
        position = lookup[gold]
        is_number = position >= 0
        if is_number.any():
            soft = targets.to(logp.device)[position[is_number]]
            per_token = per_token.clone()
            per_token[is_number] = -(soft * logp[is_number][:, ids.to(logp.device)]).sum(dim=1)
        denominator = num_items_in_batch if num_items_in_batch is not None else max(1, int(mask.sum()))
        return per_token.sum() / denominator

    return loss
