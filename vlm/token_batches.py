"""Micro-batches sized by tokens, not by a fixed count of samples.

A VLM sample's cost is its sequence: image tokens plus prompt plus target. A fixed batch of 8 pads
every sample to the longest of the 8 and leaves memory unused when they are short; a token budget
fills each micro-batch to `max_tokens` padded tokens (samples x the longest of them), so short
samples travel many at a time and long ones few. Samples are bucketed by length (sorted within
seeded random chunks, as `LengthGroupedSampler` does) so a micro-batch pads little, and the order
of micro-batches is shuffled again every epoch.

`largest_fitting` finds the largest budget a device holds: it tries a step at a budget and halves
it on out-of-memory (CUDA), turning gradient checkpointing on first where the recipe leaves it to
`auto` (`vlm.checkpointing`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

CHUNK = 64
"""Micro-batches' worth of samples sorted together: large enough that neighbours in a chunk have
similar lengths, small enough that the data order stays random."""


def plan_batches(lengths: Sequence[int], max_tokens: int, *, max_samples: int | None = None, seed: int = 0,
                 epoch: int = 0) -> list[list[int]]:
    """Indices of `lengths` grouped into micro-batches of at most `max_tokens` padded tokens (and
    `max_samples` samples); every index exactly once. A sample longer than the budget is a
    micro-batch of its own (it is never cut)."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens {max_tokens}: must be at least 1")
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    median = sorted(lengths)[len(lengths) // 2] if lengths else 1
    size = CHUNK * max(1, max_tokens // max(1, int(median)))  # CHUNK micro-batches of typical samples
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: -lengths[i])  # longest first: padding to the first
        batch: list[int] = []
        for i in chunk:
            longest = lengths[batch[0]] if batch else lengths[i]
            full = max_samples is not None and len(batch) >= max_samples
            if batch and (full or (len(batch) + 1) * longest > max_tokens):
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


class TokenBudgetBatches:
    """A batch sampler (`DataLoader(batch_sampler=...)`) over `plan_batches`, planned again for each
    epoch: the trainer says which (`set_epoch`); an iteration it did not announce counts as the next.
    The number of micro-batches may differ by one or two between epochs (the trainer's step count
    comes from the first)."""

    def __init__(self, lengths: Sequence[int], max_tokens: int, *, max_samples: int | None = None, seed: int = 0):
        self.lengths, self.max_tokens, self.max_samples, self.seed = list(lengths), max_tokens, max_samples, seed
        self.epoch = 0
        self._iterated: int | None = None
        self._plan = plan_batches(self.lengths, max_tokens, max_samples=max_samples, seed=seed, epoch=0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self._plan = plan_batches(self.lengths, self.max_tokens, max_samples=self.max_samples, seed=self.seed,
                                      epoch=epoch)

    def __iter__(self) -> Iterator[list[int]]:
        if self._iterated == self.epoch:
            self.set_epoch(self.epoch + 1)
        self._iterated = self.epoch
        yield from self._plan

    def __len__(self) -> int:
        return len(self._plan)

    def planned(self) -> list[list[int]]:
        """This epoch's micro-batches (without counting as an iteration)."""
        return [list(b) for b in self._plan]

    def mean_samples(self) -> float:
        """Samples per micro-batch, on average (what a step of gradient accumulation carries)."""
        return len(self.lengths) / max(1, len(self._plan))


def accumulation_for(samples_per_step: int, mean_samples: float) -> int:
    """Micro-batches to accumulate so an optimizer step carries about `samples_per_step` samples
    (the recipe's batch_size x grad_accum) when micro-batches carry `mean_samples` on average."""
    return max(1, round(samples_per_step / max(mean_samples, 1e-9)))


def sample_lengths(processor, samples) -> list[int]:
    """Each sample's sequence length in tokens: its prompt and target through the tokenizer, plus
    the image tokens the processor adds (measured once by collating the first sample: every sample of
    a dataset has the same views at the same size)."""
    from vlm.collate import Collator

    if not samples:
        return []
    tok = processor.tokenizer
    text = [s.prompt + s.target for s in samples]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    collated = Collator(processor)([samples[0]])
    extra = int(collated["attention_mask"][0].sum()) - len(ids[0])
    return [len(x) + max(0, extra) for x in ids]


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device out-of-memory error (CUDA, MPS), whatever the torch version calls it."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (isinstance(oom, type) and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def largest_fitting(try_step: Callable[[int, bool], None], start: int, *, floor: int, checkpointing: bool | str,
                    enough: int | None = None, on_try: Callable[[int, bool, str], None] | None = None
                    ) -> tuple[int, bool]:
    """The largest token budget from `start` down (halving) at which `try_step(budget,
    checkpointing)` runs without running out of memory, and whether it needs gradient
    checkpointing. With `checkpointing` "auto": without it while a budget of at least `enough`
    fits (a forward pass is not recomputed for a micro-batch that is still large), else with it,
    down to `floor`; True or False: as set, down to `floor`.

    Raises:
        MemoryError: not even `floor` tokens fit (what to do: a smaller image budget or model).
    """
    passes = ([(False, max(floor, enough or floor)), (True, floor)] if checkpointing == "auto"
              else [(bool(checkpointing), floor)])
    for ckpt, lowest in passes:
        budget = start
        while budget >= lowest:
            try:
                try_step(budget, ckpt)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is a reason to go smaller
                if not is_out_of_memory(exc):
                    raise
                if on_try:
                    on_try(budget, ckpt, "out of memory")
                budget //= 2
                continue
            if on_try:
                on_try(budget, ckpt, "fits")
            return budget, ckpt
    raise MemoryError(f"not even {floor} tokens a micro-batch fit on this device (checkpointing "
                      f"{'tried' if passes[-1][0] else 'off'}): lower the image budget or use a smaller model")


def padded_tokens(batches: list[list[int]], lengths: Sequence[int]) -> tuple[int, int]:
    """(tokens the samples hold, tokens their micro-batches hold once padded): the padding share."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return real, padded


def plan_for(model, processor, choice, train, *, budget: int | str, checkpointing, batch_size: int, grad_accum: int,
             seed: int, log: Callable[[str], None] | None = None) -> tuple[TokenBudgetBatches, int, bool]:
    """The micro-batches of a run with a token budget: the sampler, the gradient accumulation that
    keeps the recipe's samples per optimizer step (`batch_size` x `grad_accum`), and whether
    gradient checkpointing is on. `budget` "auto": on CUDA the largest that fits (from a whole
    step's samples at the longest length, halving), elsewhere the recipe's batch of median
    samples; a micro-batch never carries more than `batch_size` x `grad_accum` samples;
    `checkpointing` "auto" is settled by the same trial on CUDA (off elsewhere)."""
    import logging

    from vlm import checkpointing as ckpt

    log = log or logging.getLogger(__name__).info
    lengths = sample_lengths(processor, train)
    median = sorted(lengths)[len(lengths) // 2]
    cap = batch_size * grad_accum  # a micro-batch never carries more than a step asks
    on = ckpt.resolve(checkpointing, choice.device)
    tokens = int(budget) if budget != "auto" else batch_size * median
    if choice.device == "cuda" and (budget == "auto" or on is None):
        start = cap * max(lengths) if budget == "auto" else tokens  # auto: as much as a step holds
        tokens, on = largest_fitting(_trial(model, processor, choice, train, lengths), start, floor=max(lengths),
                                     checkpointing="auto" if on is None else on, enough=batch_size * max(lengths),
                                     on_try=lambda b, c, what: log(f"micro-batch of {b} tokens, checkpointing "
                                                                   f"{'on' if c else 'off'}: {what}"))
    if on:
        ckpt.enable(model)
    else:
        ckpt.disable(model)
    sampler = TokenBudgetBatches(lengths, tokens, max_samples=cap, seed=seed)
    accum = accumulation_for(batch_size * grad_accum, sampler.mean_samples())
    real, padded = padded_tokens(sampler.planned(), lengths)
    log(f"token budget {tokens} a micro-batch: {len(sampler)} micro-batches of {sampler.mean_samples():.1f} samples "
        f"on average, {accum} accumulated a step, padding {1 - real / padded:.1%}, checkpointing "
        f"{'on' if on else 'off'}")
    return sampler, accum, bool(on)


def _trial(model, processor, choice, train, lengths):
    """`try_step` for `largest_fitting`: one forward and backward pass over the longest samples
    filling the budget, on the run's device and precision; gradients and memory freed after."""
    import contextlib

    import torch

    from vlm import checkpointing as ckpt
    from vlm.collate import Collator

    collate = Collator(processor)
    longest = sorted(range(len(train)), key=lambda i: -lengths[i])
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(choice.precision)

    def step(budget: int, on: bool) -> None:
        (ckpt.enable if on else ckpt.disable)(model)
        n = max(1, budget // lengths[longest[0]])
        batch = {k: v.to(choice.device) for k, v in collate([train[i] for i in longest[:n]]).items()}
        autocast = torch.autocast(choice.device, dtype=dtype) if dtype else contextlib.nullcontext()
        model.to(choice.device).train()
        try:
            with autocast:
                loss = model(**batch).loss
            loss.backward()
        finally:
            model.zero_grad(set_to_none=True)
            del batch
            if choice.device == "cuda":
                torch.cuda.empty_cache()

    return step
