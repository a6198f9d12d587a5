"""The split files from the shards' samples: every sample of a model that passed validation, in
sample-id order per split, streamed from the shards' convert reports (a build of any size holds
each sample's id and place, not the samples)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from cadlib.dataset.layout import SPLITS, DatasetLayout, write_json_atomic
from cadlib.dataset.reports import Assembled, ConvertReport, Sample, ValidateReport
from cadlib.dataset.writers import write_split

HELD = 2
"""Convert reports kept at a time while a split is written (samples come in shard order but for
ids that sort across a shard boundary)."""


def assemble(layout: DatasetLayout, converted: Sequence[ConvertReport], validated: Iterable[ValidateReport]
             ) -> Assembled:
    """Writes the split files from the shards' samples, leaving out models that failed
    validation; returns the sample counts per split and the number of unlabeled models.

    `converted` may read each report from disk when asked (`cadlib.dataset.stored_reports`): it is
    read once to place the samples and once per split to write them."""
    good = {m for v in validated for m in v["ok"]}
    places: dict[str, list[tuple[str, int, int, int]]] = {s: [] for s in SPLITS}
    unlabeled = []
    for at, c in enumerate(converted):
        for n, s in enumerate(c["samples"]):
            if s["model_id"] in good:
                places.setdefault(s["split"], []).append((s["id"], c["shard"], n, at))
        unlabeled += [u for u in c["unlabeled"] if u["id"] in good]
    counts = {}
    for split, where in places.items():
        where.sort()  # by id; equal ids (none in a build) by shard, then place
        write_split(layout, split, _samples(converted, where))
        counts[split] = len(where)
    write_json_atomic(layout.unlabeled, sorted(unlabeled, key=lambda u: u["id"]))
    return {"samples": counts, "unlabeled": len(unlabeled)}


def _samples(converted: Sequence[ConvertReport], where: list[tuple[str, int, int, int]]) -> Iterator[Sample]:
    """The samples at `where` (id, shard, place in its report, report), holding `HELD` reports."""
    held: dict[int, ConvertReport] = {}
    for _, _, n, at in where:
        if at not in held:
            if len(held) >= HELD:
                del held[next(iter(held))]
            held[at] = converted[at]
        yield held[at]["samples"][n]
