"""Request and response bodies of the REST API.

Field names are the seed front-end's (../shared/seed/api-shapes.md); where ours say more, fields are
added, never renamed. Times are seconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cadlib.vocabulary import Device as DeviceKind
from cadlib.vocabulary import Layout, SourceKind, Style
from config.settings import DATASET_NAME_PATTERN, VIEWS

NAME_PATTERN = rf"^{DATASET_NAME_PATTERN}$"


def _no_dots(name: str) -> str:
    if ".." in name:
        raise ValueError("a dataset name may not contain '..'")
    return name


DatasetName = Annotated[str, Field(pattern=NAME_PATTERN, description="letters, digits, '.', '_', '-' (max 64)",
                                   examples=["deepcad_1k"]), AfterValidator(_no_dots)]
JobId = Annotated[str, Path(max_length=64, description="the flow-run id a POST answered with")]
SOURCES = tuple(k.value for k in SourceKind)
STYLES = tuple(k.value for k in Style)
LAYOUTS = tuple(k.value for k in Layout)
View = Literal[VIEWS]  # type: ignore[valid-type]  # the names config.settings.VIEWS takes from cadlib.views
Device = Literal[tuple(k.value for k in DeviceKind)]  # type: ignore[valid-type]
JobStatus = Literal["pending", "running", "completed", "failed"]
StageStatus = Literal["completed", "in_progress", "pending"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Started(BaseModel):
    """What every endpoint that starts a run answers."""

    success: bool = True
    job_id: str = Field(description="the Prefect flow-run id")
    status: str = Field("started", description="'started', or 'running' when an identical request's run was reused")
    state: str = Field(description="Prefect's state of the run (Scheduled, Running, ...)")
    reused: bool = Field(False, description="an identical request's run was still going: this is that run")
    flow_run_name: str
    deployment: str
    estimated_time: float | None = Field(None, description="seconds, from the last measured throughput; null: unknown")


# --- datasets ---------------------------------------------------------------------------------


class ExtractRequest(Body):
    source: Literal[SOURCES] = SourceKind.DEEPCAD.value  # type: ignore[valid-type]
    train_size: int = Field(1000, ge=0, le=200_000)
    val_size: int = Field(100, ge=0, le=200_000)
    test_size: int | None = Field(None, ge=0, le=200_000, description="test models (DeepCAD: from the official "
                                  "test split); default: as many as val_size")
    output_name: DatasetName
    path: str | None = Field(None, max_length=1024,
                             description="deepcad download or folder of files; must lie under the data folder")
    preset: str | None = Field(None, pattern=r"^[a-z0-9_]{1,64}$", description="settings preset (default: the server's)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    layout: Literal[LAYOUTS] | None = Field(  # type: ignore[valid-type]
        None, description="tile: one 2x2 image (front/top/right/iso) per model; per_view: a sample per view "
                          "(default: the server's setting, tile)")
    force: bool = Field(False, description="replace the dataset if it was built from another source or with "
                                           "other settings (else 409)")


class ExtractResponse(Started):
    output_path: str = Field(description="the dataset folder, relative to the data folder")
    dataset: str


class RenderRequest(Body):
    views: list[View] = Field(default_factory=lambda: ["front", "top", "right"], min_length=1, max_length=4)
    resolution: int = Field(512, ge=32, le=4096)
    batch_size: int | None = Field(None, ge=1, le=100_000, description="models per shard (a Prefect task)")
    style: Literal[STYLES] | None = None  # type: ignore[valid-type]
    force: bool = Field(False, description="replace the dataset if it was built from another source or with "
                                           "other settings (else 409)")


class RenderResponse(Started):
    models_to_process: int
    images_to_create: int


class ConvertRequest(Body):
    format: Literal["tinyllava", "llava", "messages", "parquet"] = Field(
        "tinyllava", description="every format is written; this names the file reported in `output`")
    randomize_templates: bool = Field(True, description="varied, seeded prompt wordings; false: one template")
    force: bool = Field(False, description="replace the dataset if it was built from another source or with "
                                           "other settings (else 409)")
    wait_s: float = Field(0.0, ge=0, le=3600, description="wait up to this long for the run and report its files")


class ConvertOutput(BaseModel):
    """The split files of the asked format; null for an empty split's JSONL or Parquet file (not written)."""

    train_file: str | None
    val_file: str | None
    test_file: str | None
    train_conversations: int | None
    val_conversations: int | None
    test_conversations: int | None


class ConvertResponse(Started):
    output: ConvertOutput


class ValidateRequest(Body):
    wait_s: float = Field(0.0, ge=0, le=3600, description="wait up to this long for the run and report its checks")


class ValidationChecks(BaseModel):
    format_valid: bool
    all_images_exist: bool
    images_checked: int
    total_images: int
    conversations_valid: bool
    no_missing_files: bool
    no_leakage: bool
    structural_error_count: int


class ValidationStats(BaseModel):
    train_samples: int
    val_samples: int
    test_samples: int
    avg_text_length: float | None
    image_resolution: str
    failed_models: int


class ValidateResponse(Started):
    validation: ValidationChecks | None = Field(
        None, description="the checks of the dataset's validation.json (this run's when it finished in wait_s)")
    stats: ValidationStats | None = None
    warnings: list[str] = Field(default_factory=list)
    report_is_current: bool = Field(False, description="the report is this run's (it finished within wait_s)")


class DatasetSummary(BaseModel):
    name: str
    models: int
    images: int
    conversations: int
    conversations_by_split: dict[str, int]
    size: str
    size_bytes: int
    status: str = Field(description="ready, invalid, partial, empty; or building while a run works on it")
    path: str = Field(description="the dataset folder, relative to the data folder")


class DatasetList(BaseModel):
    datasets: list[DatasetSummary]


class Progress(BaseModel):
    current: int
    total: int
    percentage: float


class DatasetStatus(BaseModel):
    dataset: str
    status: str
    progress: Progress
    stages: dict[str, StageStatus] = Field(description="extraction, rendering, conversion, validation")
    job_id: str | None = Field(None, description="the latest run started for this dataset through the API")
    job_state: str | None = None


# --- jobs -------------------------------------------------------------------------------------


class JobProgressDetail(Progress):
    images_rendered: int | None = None
    estimated_remaining: float | None = Field(None, description="seconds")


class JobStats(BaseModel):
    succeeded: int
    failed: int
    warnings: int


class JobProgress(BaseModel):
    job_id: str
    status: JobStatus = Field(description="the seed's: pending, running, completed or failed (cancelled and crashed "
                                          "runs count as failed; `state` tells them apart)")
    state: str
    message: str | None
    flow: str
    progress: JobProgressDetail
    stats: JobStats
    stages: dict[str, dict] = Field(default_factory=dict, description="per stage: the numbers of its table artifact")
    elapsed: float | None = None


class StopResponse(BaseModel):
    success: bool
    job_id: str
    status: JobStatus
    state: str


# --- training ---------------------------------------------------------------------------------


class TestRunRequest(Body):
    dataset: DatasetName
    train_samples: int = Field(100, ge=1, le=100_000)
    val_samples: int = Field(20, ge=0, le=100_000)
    epochs: int = Field(5, ge=1, le=100)
    device: Device = "auto"
    recipe: str | None = Field(None, pattern=r"^[a-z0-9_]{1,64}$", description="training recipe (default: the server's)")


class TrainingStarted(Started):
    checkpoint_dir: str = Field(description="where the run writes, relative to the data folder")


class LossPoint(BaseModel):
    epoch: int
    train_loss: float
    val_loss: float | None


class Performance(BaseModel):
    throughput: float | None = Field(None, description="training samples per second")
    avg_batch_time: float | None = Field(None, description="seconds per optimiser step")


class TestRunResults(BaseModel):
    epochs: int
    loss_progression: list[LossPoint]
    total_improvement: float | None = Field(None, description="train-loss reduction, %")
    convergence: str = Field(description="excellent (converged), good (improving), poor (not converging), "
                                         "insufficient (too few epochs) or pending")
    verdict: str | None = Field(None, description="cadrecon's verdict: converged, improving, not converging")
    overfitting: bool
    performance: Performance


class TestRunResultsResponse(BaseModel):
    job_id: str
    status: JobStatus
    state: str
    results: TestRunResults


class TrainingConfig(Body):
    """Values on top of the recipe; a field left out keeps the recipe's value."""

    base_model: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                                   description="HF model id, or 'tiny' (the offline model built from the dataset)")
    use_lora: bool = Field(True, description="must be true: cadrecon fine-tunes with LoRA")
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_alpha: int | None = Field(None, ge=1, le=4096)
    epochs: float | None = Field(None, gt=0, le=1000)
    batch_size: int | None = Field(None, ge=1, le=4096)
    learning_rate: float | None = Field(None, gt=0, le=1)


class TrainingStartRequest(Body):
    dataset: DatasetName
    config: TrainingConfig = TrainingConfig()
    device: Device = "auto"
    recipe: str | None = Field(None, pattern=r"^[a-z0-9_]{1,64}$", description="recipe the config overrides")


class TrainingProgress(BaseModel):
    current_epoch: int
    total_epochs: float | None
    current_step: int
    total_steps: int
    percentage: float


class TrainingMetrics(BaseModel):
    current_loss: float | None
    best_loss: float | None
    val_loss: float | None
    learning_rate: float | None


class TrainingStatus(BaseModel):
    job_id: str
    status: JobStatus
    state: str
    progress: TrainingProgress
    metrics: TrainingMetrics
    estimated_remaining: float | None = Field(None, description="seconds")
    adapter: str | None = None


# --- reconstruction ---------------------------------------------------------------------------


class ReconstructStarted(Started):
    model: str = Field(description="the trained model the run uses (the request's, the server's default or "
                                   "the newest run's), relative to the data folder where it lies under it")
    upload: str = Field(description="where the uploaded file was stored, relative to the data folder")
    output_step: str = Field(description="the STEP the run writes, relative to the data folder")


class ReconstructResult(BaseModel):
    job_id: str
    status: JobStatus
    state: str
    result: dict | None = Field(None, description="the reconstruction's numbers (null until it finished)")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    prefect: dict


class ErrorBody(BaseModel):
    detail: str
