"""The shapes of reconstruction and evaluation results (`tasks.reconstruction`), which flows return,
Prefect persists, the CLI prints and the REST API reads. `TypedDict`s, as JSON documents are; the
per-protocol columns (`cd_<protocol>`, `iou_<protocol>`) make the summaries and rows flat mappings
of scalars."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from cadlib.scoring.reports import ProtocolDefinition


class TrainingContext(TypedDict):
    """The render and prompt settings an adapter was trained with (from its dataset's cadrecon.json)."""

    dataset: str
    views: tuple[str, ...]
    size: int
    style: str
    tile: bool
    seed: int
    bits: int
    target: str


class DrawCounts(TypedDict):
    """The first draws of a generation: answers, how many parsed and built, how many were redrawn."""

    n: int
    parsed: int
    built: int
    redrawn: int


class ScoredText(TypedDict):
    """`cadlib.evaluation.score_text` without the built geometry, with the text (and its view)."""

    parsed: bool
    valid: bool
    error: str
    cd: dict[str, float | None]
    iou: dict[str, float | None]
    iou_method: NotRequired[dict[str, str | None]]
    acc_cmd: float | None
    acc_param: float | None
    text: NotRequired[str]
    view: NotRequired[str]


class Reconstruction(TypedDict):
    """`reconstruct_file`'s result (`cadrecon reconstruct`, the reconstruct flow)."""

    file: str
    adapter: str
    constrained: bool
    samples: int
    parsed: int
    valid: int
    first_draws: DrawCounts
    single: ScoredText | None
    best_of_n: ScoredText | None
    baseline: ScoredText | None
    protocols: dict[str, ProtocolDefinition]
    step: NotRequired[str]
    side_by_side: NotRequired[str]


class ModelRow(TypedDict):
    """One model of an evaluated split."""

    id: str
    image: str
    single: ScoredText
    best_of_n: ScoredText | None
    baseline: ScoredText | None


EvaluationSummary = dict[str, float | int | None]
"""Over models: n, parse_rate, build_rate, invalid_ratio, acc_cmd, acc_param, and per protocol
`cd_<p>` (median x1e3), `iou_<p>` (mean), `iou_median_<p>`."""

ResultRow = dict[str, str | int | float | None]
"""A reconstruction flattened for the table artifact the REST API reads (`result_row`)."""


class Evaluation(TypedDict):
    """`evaluate_split`'s report (`cadrecon evaluate`, the evaluate flow, training_report.json's
    `evaluation`)."""

    dataset: str
    split: str
    adapter: str
    models: int
    samples_per_model: int
    constrained: bool
    first_draws: DrawCounts
    protocols: dict[str, ProtocolDefinition]
    single: EvaluationSummary
    baseline: EvaluationSummary
    baseline_text: str
    per_model: list[ModelRow]
    best_of_n: NotRequired[EvaluationSummary]
    report_path: NotRequired[str]  # where the evaluate flow wrote it
