"""Which process this is under `accelerate launch` / `torchrun`, and what the processes agree on.

Rank 0 owns the run: the Prefect flow run, the artifacts, the saved weights and the report. The
other ranks train (their gradients are averaged into every step) and write nothing. Decisions one
process would take from its own clock (the time-budget learning rate, when to stop) are agreed
across processes each step, so every rank takes the same steps with the same learning rate.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def _group_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agree_max(*values: float) -> tuple[float, ...]:
    """The largest of each value over all processes (the values themselves in a single process)."""
    if world_size() == 1 or not _group_ready():
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(float(v) for v in t.tolist())


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (building a shared model folder, say); the others wait for it,
    then run it (finding the work done). A plain block in a single process."""
    if world_size() == 1:
        yield
        return
    import torch
    from accelerate import PartialState

    # Without CUDA the processes meet over gloo (PartialState() alone would see no accelerator and
    # not join them); the Trainer later finds this state and trains in it.
    with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
        yield
