"""The shapes of scoring results: one prediction's scores under a protocol, a model's best-of-N, a
protocol's summary over models, a folder's report. `TypedDict`s: each is written as JSON (the
report file, the evaluation record, a worker's answer) and read by the CLI and the REST API by
these keys; the type names them and mypy checks them, the JSON stays as it was."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class PairScore(TypedDict):
    """One prediction against its truth under one protocol (`score_pair`)."""

    cd: float  # in the protocol's reported units (x cd_scale)
    iou: float | None
    iou_method: str  # mesh | exact | voxels-64 | "none: <why>"
    rotation: int | None  # the axis-aligned rotation kept (aligned protocol), else None


class Scored(TypedDict):
    """A sample reduced to what best-of-N reads."""

    valid: bool
    cd: NotRequired[float | None]
    iou: NotRequired[float | None]


class BestOf(TypedDict):
    """cadrille's best-of-N of one model: the smallest CD and the largest IoU among valid samples."""

    valid: bool
    cd: float | None
    iou: float | None


class ProtocolSummary(TypedDict):
    """One protocol's numbers over models (`summarize`)."""

    n: int
    valid: int
    invalid_ratio: float | None
    median_cd: float | None
    mean_cd: float | None
    mean_iou: float | None
    median_iou: float | None
    iou_n: int


class ProtocolDefinition(TypedDict):
    """A protocol's definition as reports print it (`Protocol.as_dict`)."""

    name: str
    points: int
    normalisation: str
    aligned: bool
    cd_scale: float
    timeout_s: float
    source: str
    description: str


class JobScore(TypedDict):
    """A worker's answer for one prediction file (`score_job`)."""

    valid: bool
    cause: str  # "" when valid; the failure's class otherwise (TruthError, Timeout, a parse error...)
    error: str
    scores: NotRequired[dict[str, PairScore]]  # by protocol, when valid


class SampleScore(JobScore):
    sample: str  # the prediction's sample name (`<id>+<k>`: k; "" for a single prediction)


ScoreRow = dict[str, str | int | float | None]
"""One model's row of a folder report: id, samples, valid_samples, failed_samples, cause, error and
`cd_<protocol>`, `iou_<protocol>` per protocol (a CSV line; its columns depend on the protocols)."""


class FolderReport(TypedDict):
    """`score_folder`'s report (`cadrecon score`)."""

    pred: str
    truth: str
    protocols: dict[str, ProtocolSummary]
    definitions: dict[str, ProtocolDefinition]
    models: int
    predictions: int
    samples_per_model: int
    invalid_causes: dict[str, int]
    unmatched_predictions: list[str]
    skipped_files: list[str]
    timeout_s: float
    seconds: float
    predictions_per_s: float | None
    rows: list[ScoreRow]


class TextScore(TypedDict):
    """One generated text's scores (`cadlib.evaluation.score_text`): metrics None where they do not
    apply or the text failed; `geometry`, the built prediction in the truth's frame, when valid."""

    parsed: bool
    valid: bool
    error: str
    cd: dict[str, float | None]  # by protocol
    iou: dict[str, float | None]
    iou_method: dict[str, str | None]
    acc_cmd: float | None
    acc_param: float | None
    geometry: NotRequired[Any]  # cadlib.scoring.geometry.Geometry (not JSON: callers drop it)
