"""The order a run sees its train samples in."""

from __future__ import annotations

from vlm.collate import Sample


def trainer_class(shuffle: bool, group_by_length: bool, seed: int, train: list[Sample]):
    """`Trainer` with an order of train samples: shuffled (Trainer's own), grouped by length (in a
    seeded random order of groups), or as given (`shuffle` False: a curriculum)."""
    from torch.utils.data import SequentialSampler
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class CadreconTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            if not shuffle:
                return SequentialSampler(train_dataset or self.train_dataset)
            if group_by_length:
                import torch

                generator = torch.Generator()
                generator.manual_seed(seed)
                return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                            lengths=[len(s.target) + len(s.prompt) for s in train], generator=generator)
            return super()._get_train_sampler(train_dataset)

    return CadreconTrainer
