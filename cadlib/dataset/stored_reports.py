"""A stage's shard reports as the build wrote them, read back from disk one at a time.

The final files of a dataset need every shard's reports, and a build of 100,000 models holds
~3 KB of them a model: finalize reads them here, a shard at a time, instead of being handed them
all in memory (the flow keeps only what its tables show: `flows.build_report.brief`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar, overload

from cadlib.dataset.extract import Shard
from cadlib.dataset.layout import DatasetLayout
from cadlib.dataset.reports import ConvertReport, RenderReport, ValidateReport
from cadlib.errors import CadlibError

R = TypeVar("R", RenderReport, ConvertReport, ValidateReport)


class StaleReport(CadlibError):
    """A shard report on disk is missing, unreadable, or not the one this build wrote."""


class StoredReports(Sequence[R], Generic[R]):
    """The `stage` reports of `shards`, in shard order: item i is read from disk (and checked to be
    for shard i's inputs and the build's `settings` key, `cadlib.dataset.build.settings_key`) each
    time it is asked for; none is kept."""

    def __init__(self, layout: DatasetLayout, stage: str, shards: Sequence[Shard], settings: str) -> None:
        self.layout, self.stage, self.shards, self.settings = layout, stage, list(shards), settings

    def __len__(self) -> int:
        return len(self.shards)

    def __iter__(self) -> Iterator[R]:
        for i in range(len(self)):
            yield self[i]

    @overload
    def __getitem__(self, i: int) -> R: ...

    @overload
    def __getitem__(self, i: slice) -> list[R]: ...

    def __getitem__(self, i: int | slice) -> R | list[R]:
        if isinstance(i, slice):
            return [self[n] for n in range(*i.indices(len(self)))]
        shard = self.shards[i]
        path = self.layout.shard_report(self.stage, shard.index)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StaleReport(f"the {self.stage} report of shard {shard.index} cannot be read back "
                              f"({type(exc).__name__}: {exc}); build again", source=str(path)) from None
        if not isinstance(report, dict) or report.get("key") != shard.key or report.get("settings") != self.settings:
            raise StaleReport(f"the {self.stage} report of shard {shard.index} is not this build's (another build "
                              "wrote it since); build again", source=str(path))
        return report  # type: ignore[return-value]  # a report written by this stage's code
