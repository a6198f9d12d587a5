"""Extract: describe every model of a source (content hash, kind, geometric signature, the
sequence text), drop duplicates, assign splits, and cut the kept models into shards.

`describe_model` runs in worker processes (it may load OCCT and IfcOpenShell); the rest is plain
Python over the descriptions.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadlib.dataset.digests import sha256_matches
from cadlib.dataset.layout import SPLITS, write_text_atomic
from cadlib.dataset.manifest import ModelKind, ModelRecord, ModelStatus
from cadlib.dataset.reports import Leakage, ModelFacts
from cadlib.dataset.sources import SourceItem
from cadlib.errors import readable, user_error_class
from cadlib.fidelity import DEFAULT_MIN_IOU
from cadlib.mesh import Mesh
from cadlib.sequence_io import SequenceSource


@dataclass(frozen=True, slots=True)
class DescribeJob:
    """What a worker needs to describe one model."""

    id: str
    path: str
    text_path: str  # where to write the sequence text (sequence models)
    bits: int
    max_mb: float
    min_iou: float = DEFAULT_MIN_IOU  # quantised vs source solid, below which the model is dropped
    solid_path: str = ""  # where to keep the quantised solid for render (JSON models), or ""


def describe_model(job: DescribeJob) -> ModelFacts:
    """Hashes, format, kind and signature of one model file; writes its sequence text.

    Sequence sources (DeepCAD/Fusion JSON, sequence text) are normalised and quantised: the
    signature is the hash of that text, so two models that quantise alike are duplicates. A JSON
    model whose quantised solid is not its source's solid (`cadlib.fidelity.quantised_solid`)
    raises `QuantisationChangesTopology`: its target would describe another part than the file;
    the solid of one that passes is kept at `solid_path` for render (`cadlib.dataset.solids`).
    Other files are loaded and signed by their shape (`mesh_signature`).
    """
    from cadlib.ingest.detect import detect_format
    from cadlib.ingest.registry import load_model

    path = Path(job.path)
    stat = path.stat()
    if stat.st_size > job.max_mb * 1e6:
        from cadlib.errors import ParseError

        raise ParseError(f"file is {stat.st_size / 1e6:.1f} MB, over the {job.max_mb:g} MB limit (dataset.max_file_mb)",
                         source=str(path))
    data = path.read_bytes()
    fmt = detect_format(path)
    out: ModelFacts = {"sha256": hashlib.sha256(data).hexdigest(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "format": fmt}
    if fmt in (SequenceSource.JSON.value, SequenceSource.TEXT.value):
        from cadlib.sequence_io import read_sequence
        from cadlib.text import to_text
        from cadlib.transform import normalize

        seq, _ = read_sequence(path, bits=job.bits)
        source = normalize(seq) if fmt == "reconstruction-json" else seq
        text = to_text(source, job.bits)
        checked = None
        if fmt == SequenceSource.JSON.value:
            from cadlib.fidelity import quantised_solid
            from cadlib.text import from_text

            checked = quantised_solid(source, from_text(text), min_iou=job.min_iou, name=str(path))
        write_text_atomic(job.text_path, text)
        if checked is not None and job.solid_path:
            from cadlib.dataset.solids import keep

            keep(job.solid_path, text, checked.shape, valid=checked.valid, mesh_vertices=checked.mesh.vertices)
        out["kind"], out["signature"] = ModelKind.SEQUENCE.value, "seq:" + hashlib.sha256(text.encode()).hexdigest()[:32]
    else:
        model = load_model(path, max_mb=job.max_mb)
        kind = ModelKind.BREP if model.shape is not None else ModelKind.MESH
        out["kind"], out["signature"] = kind.value, "geo:" + mesh_signature(model.mesh)
    return out


def mesh_signature(mesh: Mesh, digits: int = 3) -> str:
    """A hash of the shape up to position, scale and axis order: sorted extents, volume and area
    relative to the largest extent, and the second moments of the vertex cloud, each rounded to
    `digits` significant digits. Re-exports and copies of one part sign alike."""
    lo, hi = mesh.bbox()
    ext = hi - lo
    size = float(ext.max()) or 1.0
    v = (mesh.vertices - (lo + hi) / 2) / size
    moments = np.sort(np.linalg.eigvalsh(np.cov(v.T))) if len(v) > 3 else np.zeros(3)
    facts = [*np.sort(ext / size), abs(mesh.volume()) / size**3, mesh.area() / size**2, *moments]
    text = ",".join(f"{x:.{digits}g}" for x in facts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


SETTLED_FAILURES = frozenset({"QuantisationChangesTopology", "QuantizeError"})
"""Failures that the file and the describe settings decide alone: not retried while neither changes
(other failures, such as a worker's time limit, are tried again on the next build)."""

Describer = Callable[[list[DescribeJob]], Iterator[tuple[DescribeJob, ModelFacts | None, str, str]]]
"""Runs `describe_model` over jobs, yielding (job, value or None, error class, message)."""


def _record(item: SourceItem, value: ModelFacts | None, ecls: str, msg: str) -> ModelRecord:
    rec = ModelRecord(id=item.id, source=item.rel, split=item.split)
    if value is None:
        return rec.with_(status=ModelStatus.FAILED.value, error_class=user_error_class(ecls or "Error", msg),
                         error=msg.replace(readable(str(item.path)), item.rel))  # no build-machine path
    return rec.with_(**{k: value[k] for k in ("sha256", "size", "format", "kind", "signature")})


def describe_items(
    items: list[SourceItem],
    describe: Describer,
    job_for: Callable[[SourceItem], DescribeJob],
    previous: dict[str, ModelRecord],
    stats: dict[str, list[int]],
    text_intact: Callable[[ModelRecord], bool],
    settings_key: tuple = (),
) -> dict[str, ModelRecord]:
    """Records for `items`: reused from `previous` where the file's size and modification time
    and the describe settings (`settings_key`: bits, threshold, text version) are those in `stats`
    (id -> [size, mtime_ns, *settings_key], updated here), the file still hashes to the recorded
    SHA-256 (an edit that kept its size and time is seen), and its text is on disk as written
    (`text_intact`); described afresh otherwise."""
    out: dict[str, ModelRecord] = {}
    todo = []
    for item in items:
        if item.problem is not None:  # not a readable model file: a failure row, never opened
            out[item.id] = _record(item, None, *item.problem)
            continue
        old = previous.get(item.id)
        try:
            st = item.path.stat()
            now = [st.st_size, st.st_mtime_ns, *settings_key]
        except OSError:
            now = None
        if (old is not None and now is not None and stats.get(item.id) == now and old.source == item.rel
                and old.status == ModelStatus.FAILED.value and old.error_class in SETTLED_FAILURES):
            out[item.id] = old.with_(split=item.split)  # the same file under the same settings fails the same way
        elif (old is not None and now is not None and stats.get(item.id) == now and old.source == item.rel
                and old.status != ModelStatus.FAILED.value and sha256_matches(item.path, old.sha256)
                and (old.kind != ModelKind.SEQUENCE.value or text_intact(old))):
            out[item.id] = ModelRecord(id=item.id, source=item.rel, split=item.split, sha256=old.sha256,
                                       size=old.size, format=old.format, kind=old.kind, signature=old.signature)
        else:
            todo.append(item)
    by_id = {i.id: i for i in todo}
    for job, value, ecls, msg in describe([job_for(i) for i in todo]):
        out[job.id] = _record(by_id[job.id], value, ecls, msg)
        if value is not None:
            stats[job.id] = [value["size"], value["mtime_ns"], *settings_key]
        elif ecls in SETTLED_FAILURES:
            try:
                st = by_id[job.id].path.stat()
                stats[job.id] = [st.st_size, st.st_mtime_ns, *settings_key]
            except OSError:
                pass
    return out


def _rank(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def dedup(records: Iterable[ModelRecord]) -> list[ModelRecord]:
    """Marks every model whose signature an earlier one has (in the given order) as a duplicate."""
    seen: dict[str, str] = {}
    out = []
    for r in records:
        if r.ok and r.signature in seen:
            r = r.with_(status=ModelStatus.DUPLICATE.value, duplicate_of=seen[r.signature])
        elif r.ok:
            seen[r.signature] = r.id
        out.append(r)
    return out


def split_exact(records: list[ModelRecord], sizes: dict[str, int], seed: int) -> list[ModelRecord]:
    """Splits the kept models in proportion to `sizes`, exactly, by a seeded hash of their
    signature (the synthetic source: generated to size, regenerated as a whole)."""
    kept = sorted((r for r in records if r.ok), key=lambda r: _rank(seed, r.signature))
    total = sum(sizes.values()) or 1
    n_test = round(len(kept) * sizes["test"] / total)
    n_val = round(len(kept) * sizes["val"] / total)
    split = {r.id: ("test" if i < n_test else "val" if i < n_test + n_val else "train") for i, r in enumerate(kept)}
    return [r.with_(split=split.get(r.id, "")) for r in records]


def split_stable(records: list[ModelRecord], sizes: dict[str, int], seed: int) -> list[ModelRecord]:
    """Splits the kept models in proportion to `sizes` by a seeded hash of each model's own
    signature, so a model keeps its split when others are added or removed (folders of files that
    grow between nightly builds)."""
    total = sum(sizes.values()) or 1
    p_test, p_val = sizes["test"] / total, sizes["val"] / total
    out = []
    for r in records:
        if r.ok:
            u = _rank(seed, r.signature) / 2**64
            r = r.with_(split="test" if u < p_test else "val" if u < p_test + p_val else "train")
        out.append(r)
    return out


def sample_official(
    by_split: dict[str, list[SourceItem]],
    sizes: dict[str, int],
    seed: int,
    describe_batch: Callable[[list[SourceItem]], dict[str, ModelRecord]],
) -> list[ModelRecord]:
    """Samples `sizes[split]` unique models from each official split, deterministically.

    Each split's list is shuffled with the seed and walked in that order, test first, then val,
    then train; a model whose signature an earlier one had is a duplicate and does not count, so
    every duplicate group lands in one split only (test and val keep theirs; train loses its
    copies). Failed models are recorded and do not count either. Models are described in batches
    of as many as are still needed, so none is described in vain and a re-run finds every one it
    needs in the manifest.
    """
    seen: dict[str, str] = {}
    out: list[ModelRecord] = []
    for split in ("test", "val", "train"):
        need = sizes.get(split, 0)
        items = list(by_split.get(split, []))
        random.Random(f"{seed}:{split}").shuffle(items)
        have, pos = 0, 0
        while have < need and pos < len(items):
            batch = items[pos: pos + need - have]  # no more than can count: none described in vain
            described = describe_batch(batch)
            for item in batch:
                pos += 1
                r = described[item.id]
                if r.ok and r.signature in seen:
                    r = r.with_(status=ModelStatus.DUPLICATE.value, duplicate_of=seen[r.signature])
                elif r.ok:
                    seen[r.signature] = r.id
                    have += 1
                out.append(r)
                if have == need:
                    break
    return out


def leakage_report(records: list[ModelRecord], *, in_source: bool) -> Leakage:
    """Duplicate groups, and how many span two splits in the dataset (must be 0) and, where the
    source has its own split (`in_source`: duplicates keep their official split), in the source."""
    groups: dict[str, list[ModelRecord]] = defaultdict(list)
    for r in records:
        if r.status in (ModelStatus.OK.value, ModelStatus.DUPLICATE.value):
            groups[r.signature].append(r)
    dup_groups = [g for g in groups.values() if len(g) > 1]
    kept_splits: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.ok:
            kept_splits[r.signature].add(r.split)
    report: Leakage = {
        "duplicate_groups": len(dup_groups),
        "duplicates_removed": sum(len(g) - 1 for g in dup_groups),
        "groups_across_splits_in_dataset": sum(1 for s in kept_splits.values() if len(s) > 1),
    }
    if in_source:
        report["groups_across_splits_in_source"] = sum(1 for g in dup_groups if len({r.split for r in g}) > 1)
    return report


@dataclass(frozen=True, slots=True)
class Shard:
    """A slice of the kept models (sorted by id) and the content key of its inputs."""

    index: int
    ids: tuple[str, ...]
    key: str


def make_shards(records: list[ModelRecord], shard_size: int) -> list[Shard]:
    """Cuts the kept models, sorted by id, into shards of `shard_size`. A shard's key hashes its
    models' ids, content hashes, signatures and splits: it changes exactly when one of them does."""
    kept = sorted((r for r in records if r.ok), key=lambda r: r.id)
    shards = []
    for n, start in enumerate(range(0, len(kept), shard_size)):
        part = kept[start: start + shard_size]
        h = hashlib.sha256()
        for r in part:
            h.update(f"{r.id}\0{r.sha256}\0{r.signature}\0{r.split}\0{r.kind}\n".encode())
        shards.append(Shard(n, tuple(r.id for r in part), h.hexdigest()[:32]))
    return shards


def split_counts(records: list[ModelRecord]) -> dict[str, int]:
    counts = dict.fromkeys(SPLITS, 0)
    for r in records:
        if r.ok:
            counts[r.split] = counts.get(r.split, 0) + 1
    return counts
