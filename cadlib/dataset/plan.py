"""Extract as a whole: list a source, describe its models (reusing what an earlier build of the
same dataset already described), drop duplicates, split, write the manifest, cut shards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cadlib.dataset.build import Runner
from cadlib.dataset.digests import sha256_matches
from cadlib.dataset.extract import (
    DescribeJob,
    Shard,
    dedup,
    describe_items,
    describe_model,
    leakage_report,
    make_shards,
    sample_official,
    split_counts,
    split_exact,
    split_stable,
)
from cadlib.dataset.layout import DatasetLayout, read_json, write_json_atomic
from cadlib.dataset.manifest import ModelRecord, read_manifest, write_manifest
from cadlib.dataset.sources import SourceItem, list_deepcad, list_files, write_synthetic_source
from cadlib.fidelity import DEFAULT_MIN_IOU
from cadlib.quantize import TEXT_VERSION
from cadlib.vocabulary import SourceKind


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where the models come from (see `config.DatasetSettings`)."""

    kind: str  # a SourceKind
    path: str = ""
    train_size: int = 20
    val_size: int = 5
    test_size: int = 5
    seed: int = 0

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}


@dataclass(frozen=True, slots=True)
class Plan:
    root: Path  # source files are relative to it
    records: list[ModelRecord]
    shards: list[Shard]
    info: dict


def plan_dataset(layout: DatasetLayout, spec: SourceSpec, *, bits: int, max_mb: float, shard_size: int,
                 run: Runner, progress: Callable[[int, int], None] | None = None,
                 min_iou: float = DEFAULT_MIN_IOU) -> Plan:
    """Runs extract: writes manifest.jsonl and extract.json, returns the records and shards.

    `progress(done, total)` is called as models are described.
    """
    try:
        previous = {r.id: r for r in read_manifest(layout.manifest)}
    except (ValueError, TypeError):  # a broken manifest (a disk that filled mid-write): made again
        previous = {}
    stat_file = layout.cache / "stat.json"  # file sizes and times: build state, not data
    stats = read_json(stat_file) if stat_file.is_file() else {}
    done = [0]

    def describe(jobs: list[DescribeJob]):
        for o in run(describe_model, jobs):
            done[0] += 1
            if progress:
                progress(done[0], total[0])
            yield o.item, (o.value if o.ok else None), o.error_class, o.message.splitlines()[0] if o.message else ""

    def job_for(item: SourceItem) -> DescribeJob:
        return DescribeJob(item.id, str(item.path), str(layout.source_text(item.id)), bits, max_mb, min_iou,
                           solid_path=str(layout.kept_solid(item.id)))

    def text_intact(old: ModelRecord) -> bool:  # the text the signature hashes, as written
        return sha256_matches(layout.source_text(old.id), old.signature.removeprefix("seq:"))

    def describe_batch(items: list[SourceItem]) -> dict[str, ModelRecord]:
        return describe_items(items, describe, job_for, previous, stats, text_intact, (bits, min_iou, TEXT_VERSION))

    total = [0]
    if spec.kind == SourceKind.DEEPCAD:
        root = Path(spec.path)
        by_split = list_deepcad(root)
        total[0] = sum(min(len(by_split[s]), n) for s, n in spec.sizes.items())
        records = sample_official(by_split, spec.sizes, spec.seed, describe_batch)
        root = _deepcad_root(root)
        source: dict = {"kind": SourceKind.DEEPCAD.value, "path": layout.relative(spec.path),
                        "listed": {s: len(v) for s, v in by_split.items()}}
        leakage = leakage_report(records, in_source=True)
    else:
        if spec.kind == SourceKind.SYNTHETIC:
            items = write_synthetic_source(layout.raw, sum(spec.sizes.values()), spec.seed, bits=bits, run=run,
                                           record=layout.cache / "synthetic.json", progress=progress)
            root = layout.raw
        elif spec.kind == SourceKind.FILES:
            root = Path(spec.path)
            items = list_files(root)
        else:
            raise ValueError(f"unknown dataset source {str(spec.kind)!r}: expected {', '.join(SourceKind)}")
        total[0] = len(items)
        described = describe_batch(items)
        records = dedup(described[i.id] for i in items)  # first by path wins
        split = split_exact if spec.kind == SourceKind.SYNTHETIC else split_stable
        records = split(records, spec.sizes, spec.seed)
        source = {"kind": spec.kind, "path": layout.relative(spec.path) if spec.path else "", "listed": len(items)}
        leakage = leakage_report(records, in_source=False)
    write_manifest(layout.manifest, records)
    write_json_atomic(stat_file, stats, indent=None)
    shards = make_shards(records, shard_size)
    info = {"source": source, "counts": split_counts(records), "leakage": leakage, "shards": len(shards),
            "shard_size": shard_size}
    write_json_atomic(layout.extract_report, info)
    return Plan(root, records, shards, info)


def _deepcad_root(root: Path) -> Path:
    """The folder that `cad_json/...` paths in the manifest are relative to."""
    return root / "data" if not (root / "cad_json").is_dir() and (root / "data" / "cad_json").is_dir() else root

