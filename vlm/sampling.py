"""The order a run sees its train samples in."""

from __future__ import annotations

from vlm.collate import Sample


def length_grouped(batch_size: int, train: list[Sample], seed: int):
    """transformers' `LengthGroupedSampler` over `train` (a sample's length: its prompt and target
    characters), seeded: consecutive batches of `batch_size` hold samples of about the same length."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator()
    generator.manual_seed(seed)
    return LengthGroupedSampler(batch_size, lengths=[len(s.target) + len(s.prompt) for s in train], generator=generator)


def trainer_class(shuffle: bool, group_by_length: bool, seed: int, train: list[Sample], batches=None):
    """`Trainer` with an order of train samples: shuffled (Trainer's own), grouped by length (in a
    seeded random order of groups), or as given (`shuffle` False: a curriculum); or, with
    `batches` (a `vlm.token_batches.TokenBudgetBatches`), micro-batches sized by a token budget."""
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class CadreconTrainer(Trainer):
        def get_train_dataloader(self):
            if batches is None:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            loader = DataLoader(self.train_dataset, batch_sampler=batches, collate_fn=self.data_collator,
                                num_workers=self.args.dataloader_num_workers,
                                pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

        def _get_train_sampler(self, train_dataset=None):
            if not shuffle:
                return SequentialSampler(train_dataset or self.train_dataset)
            if group_by_length:
                return length_grouped(self.args.train_batch_size * self.args.gradient_accumulation_steps, train, seed)
            return super()._get_train_sampler(train_dataset)

    return CadreconTrainer
