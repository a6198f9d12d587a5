"""The shapes of what the dataset stages hand each other and write: per-model results, shard
reports, split records, the validation and dataset summaries.

They are `TypedDict`s, not dataclasses, on purpose: each is a JSON document already (a shard report
on disk, a Prefect-persisted task result, validation.json, a REST field the front-end reads), so the
type names every key and mypy checks every read and write, while the bytes on disk, the cached
results and the API's answers stay exactly what they were. Serialised in one place: `json` itself.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Failure(TypedDict):
    """One model's failure in one stage (also a row source of `failure_table`)."""

    id: str
    stage: str
    error_class: str
    error: str


class StructuralError(TypedDict):
    """A fault of a sample's files (image size, missing image, target syntax), by model."""

    id: str
    error_class: str
    error: str


class SolidFacts(TypedDict):
    """The solid a sequence target rebuilds: BRepCheck's verdict, volume, number of bodies."""

    valid: bool
    volume: float
    solids: int


class BuiltSolid(SolidFacts):
    """`SolidFacts` of the solid render drew, under the sequence text's sha256 (validate reuses it)."""

    text_sha256: str


class RenderedModel(TypedDict):
    """`render_model`'s result: the images written, the style drawn, fallback notes, the solid."""

    images: list[str]
    style: str
    notes: list[str]
    digests: dict[str, str]
    """image name -> '<size>:<sha256>' when written (`cadlib.dataset.digests`): a re-run reuses an
    image only while it still holds those bytes."""
    solid: NotRequired[BuiltSolid]


class ShardHead(TypedDict):
    """What every shard report starts with: its stage, shard index, inputs key and settings key."""

    stage: str
    shard: int
    key: str
    settings: str
    seconds: NotRequired[float]  # the task's wall time (added by tasks.dataset, not written)


class RenderReport(ShardHead):
    ok: dict[str, RenderedModel]
    failed: list[Failure]
    keys: dict[str, str]  # model -> the render key its output was made under
    reused: NotRequired[int]  # models taken from an earlier report (returned, not written)


class Sample(TypedDict):
    """One conversation sample before it is written in the split formats."""

    id: str
    model_id: str
    split: str
    view: str
    image: str  # relative to the dataset root
    prompt: str
    target: str
    tokens: int


class Unlabeled(TypedDict):
    """A model with views and no target (a mesh or B-rep file without a construction sequence)."""

    id: str
    split: str
    source: str
    format: str
    images: list[str]


class Dropped(TypedDict):
    """A sample left out for its token count."""

    id: str
    model_id: str
    split: str
    tokens: int


class Converted(TypedDict):
    """`convert_models`' result for one shard."""

    samples: list[Sample]
    unlabeled: list[Unlabeled]
    dropped: list[Dropped]
    failed: list[Failure]


class ConvertReport(ShardHead, Converted):
    pass


class Agreement(TypedDict, total=False):
    """A target's rebuild facts (and, for CadQuery targets, how CadQuery's solid agrees)."""

    solids: int
    valid: bool
    cadquery_ok: bool
    cadquery_solids: int
    cadquery_valid: bool
    cadquery_volume_error: float
    cadquery_iou: float


class ModelChecks(TypedDict):
    """`validate_model`'s result: `[error_class, message]` pairs, and the rebuilt solid's facts."""

    structural: list[list[str]]
    failures: list[list[str]]
    volume: NotRequired[float]
    agreement: NotRequired[Agreement]


class ModelVerdict(TypedDict):
    """One model's validation verdict as a validate report records it."""

    ok: bool
    structural: list[StructuralError]
    failed: list[Failure]
    agreement: NotRequired[Agreement]


class ValidateReport(ShardHead):
    ok: list[str]
    failed: list[Failure]
    structural: list[StructuralError]
    agreement: dict[str, Agreement]
    keys: dict[str, str]
    reused: NotRequired[int]


class Assembled(TypedDict):
    """What `assemble` wrote: samples per split, models without a target."""

    samples: dict[str, int]
    unlabeled: int


class Distribution(TypedDict, total=False):
    n: int
    min: int
    median: float
    mean: float
    p95: float
    max: int


class CadQueryStats(TypedDict):
    executed: int
    ran: int
    iou_min: float | None
    iou_mean: float | None
    volume_error_max: float | None


class AgreementStats(TypedDict):
    models: int
    solids: dict[str, int]
    valid: int
    cadquery: NotRequired[CadQueryStats]


class SplitStats(TypedDict):
    samples: int
    models: int
    target_chars: Distribution


class SplitChecks(TypedDict, total=False):
    """`check_splits`' statistics (`write_reports` adds the token and rebuild distributions)."""

    splits: dict[str, SplitStats]
    duplicate_groups_across_splits: int
    target_tokens: Distribution
    target_rebuild: AgreementStats


class FailureRow(TypedDict):
    stage: str
    error_class: str
    count: int
    examples: list[str]


class Leakage(TypedDict, total=False):
    duplicate_groups: int
    duplicates_removed: int
    groups_across_splits_in_dataset: int
    groups_across_splits_in_source: int
    groups_across_splits_in_files: int


class ModelCounts(TypedDict):
    listed: int
    kept: int
    duplicates: int
    failed: int
    in_dataset: int


class Validation(TypedDict):
    """validation.json."""

    ok: bool
    structural_errors: list[list[str]]
    structural_error_count: int
    models: ModelCounts
    samples: dict[str, int]
    unlabeled_models: int
    dropped_too_long: dict[str, int]
    dropped_topology: int
    leakage: Leakage
    failures: list[FailureRow]
    stats: SplitChecks
    revalidated_failures: NotRequired[list[FailureRow]]  # `cadrecon dataset validate` adds it


class StageCount(TypedDict):
    done: int
    total: int


class StageProgress(TypedDict):
    """Shards done of shards planned, per stage, from the reports on disk."""

    models: int
    shards: int
    stages: dict[str, StageCount]


class DatasetSummary(TypedDict):
    """One dataset as the catalog (and the REST list, by these names) describes it."""

    name: str
    models: int
    images: int
    conversations: int
    conversations_by_split: dict[str, int]
    size: str
    size_bytes: int
    status: str
    path: str


class ModelFacts(TypedDict):
    """`describe_model`'s result: the file's hashes and what it is."""

    sha256: str
    size: int
    mtime_ns: int
    format: str
    kind: NotRequired[str]
    signature: NotRequired[str]


Turn = TypedDict("Turn", {"from": str, "value": str})
"""One LLaVA conversation turn (`from` is a Python keyword, hence this spelling)."""


class LlavaRecord(TypedDict):
    """One record of `<split>.json` (LLaVA, TinyLLaVA, LLaMA-Factory's sharegpt)."""

    id: str
    image: str
    conversations: list[Turn]
    model_id: NotRequired[str]


class ContentBlock(TypedDict):
    type: str
    text: NotRequired[str | None]


class Message(TypedDict):
    role: str
    content: list[ContentBlock]


class MessagesRecord(TypedDict):
    """One line of `<split>.jsonl` (TRL's SFTTrainer, chat templates)."""

    id: str
    messages: list[Message]
    images: list[str]


class DatasetInfo(TypedDict):
    """cadrecon.json: what the dataset is and how it was made (`config`: the build's settings as
    JSON, `versions`: the libraries that made it)."""

    name: str
    models: ModelCounts
    samples: dict[str, int]
    unlabeled_models: int
    source: dict[str, Any]
    config: dict[str, Any]
    versions: dict[str, str]
    files: dict[str, list[str]]


class RegistryEntry(TypedDict):
    """One split's entry in LLaMA-Factory's dataset_info.json."""

    file_name: str
    formatting: str
    columns: dict[str, str]
    tags: dict[str, str]


ShardReport = RenderReport | ConvertReport | ValidateReport
"""Any stage's shard report."""


class Finalized(TypedDict):
    """The finalize step's result: what was assembled into the split files, and validation.json."""

    assembled: Assembled
    validation: Validation


class Origin(TypedDict):
    """What a dataset is built from (`catalog.claim_origin` keeps a folder to one origin)."""

    preset: str
    source: str
    path: str


StageValues = dict[str, str | int | float | list[str]]
"""The settings one stage's outputs depend on (recorded per stage by `catalog.claim_origin`)."""
