"""/training/test-run and /training/start (train runs), their results and status."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status

from cadlib.dataset.layout import DataDir
from cadlib.vocabulary import RunKind
from config.recipes import recipe_path
from deployments import jobs
from deployments.auth import IdempotencyKey, Read, SettingsDep, Write
from deployments.schemas import (
    JobId,
    TestRunRequest,
    TestRunResultsResponse,
    TrainingStarted,
    TrainingStartRequest,
    TrainingStatus,
)
from deployments.serve import ON_DEMAND
from deployments.views import convergence_results, seed_status, started, training_status
from tasks.artifacts import Suffix

router = APIRouter(prefix="/training", tags=["training"])
DEPLOYMENT = ON_DEMAND["train"]


def _dataset(settings, name: str) -> Path:
    root = DataDir(Path(settings.data_dir).resolve()).datasets / name
    if not (root / "train.json").is_file():
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"dataset {name!r} is not built (no train.json): extract, render, convert and validate it first")
    return root


def _recipe(settings, name: str | None) -> str:
    recipe = name or settings.api.recipe
    try:
        recipe_path(recipe)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Path(recipe).stem


async def _check_model(recipe: str, overrides: dict) -> None:
    """The run's base model can be loaded (a folder, the local cache, or the Hub reachable now):
    checked before a run exists, so an offline server answers at once instead of failing the run."""
    import asyncio

    from config.recipes import load_recipe
    from vlm.loading import check_available

    try:
        model = load_recipe(recipe, overrides).model
        await asyncio.to_thread(check_available, model)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc).splitlines()[0]) from None


async def _start(name: str, parameters: dict, mode: str, key: str | None, eta: float | None) -> dict:
    try:
        job, reused = await jobs.start(DEPLOYMENT, parameters, scope=f"train:{name}:{mode}", kind=mode, key=key,
                                       route=mode)
    except jobs.ScopeBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return started(job, reused, DEPLOYMENT, eta)


@router.post("/test-run", response_model=TrainingStarted, status_code=status.HTTP_202_ACCEPTED, dependencies=[Write])
async def post_test_run(req: TestRunRequest, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> dict:
    """The convergence test: a few samples for a few epochs, then a verdict."""
    root = _dataset(settings, req.dataset)
    recipe = _recipe(settings, req.recipe)
    params = {"dataset": req.dataset, "recipe": recipe, "test_run": True, "out": None,
              "overrides": {"device": req.device, "test_run": {"train_samples": req.train_samples,
                                                               "val_samples": req.val_samples, "epochs": req.epochs}}}
    await _check_model(recipe, {})
    out = await _start(req.dataset, params, RunKind.TEST_RUN, idempotency_key, None)
    return {**out, "checkpoint_dir": f"runs/{root.name}-{recipe}-test"}


@router.get("/test-run/{job_id}/results", response_model=TestRunResultsResponse, dependencies=[Read],
            responses={404: {"description": "no such test run"}})
async def get_test_run_results(job_id: JobId) -> TestRunResultsResponse:
    """Loss per epoch so far; the verdict once the run has finished."""
    job = await jobs.read_job(job_id, flow="train")
    return TestRunResultsResponse(job_id=job.id, status=seed_status(job), state=job.state,
                                  results=convergence_results(job))


@router.post("/start", response_model=TrainingStarted, status_code=status.HTTP_202_ACCEPTED, dependencies=[Write])
async def post_start(req: TrainingStartRequest, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> dict:
    """Full LoRA fine-tuning with the recipe, overridden by `config`."""
    c = req.config
    if not c.use_lora:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "use_lora=false: cadrecon fine-tunes with LoRA only (full fine-tuning is not offered)")
    root = _dataset(settings, req.dataset)
    recipe = _recipe(settings, req.recipe)
    over = {"model": c.base_model, "epochs": c.epochs, "batch_size": c.batch_size, "learning_rate": c.learning_rate,
            "device": req.device, "lora": {"r": c.lora_r, "alpha": c.lora_alpha}}
    over["lora"] = {k: v for k, v in over["lora"].items() if v is not None}
    over = {k: v for k, v in over.items() if v is not None and v != {}}
    await _check_model(recipe, over)
    params = {"dataset": req.dataset, "recipe": recipe, "test_run": False, "out": None, "overrides": over}
    out = await _start(req.dataset, params, RunKind.FULL, idempotency_key, None)
    return {**out, "checkpoint_dir": f"runs/{root.name}-{recipe}-full"}


@router.get("/{job_id}/status", response_model=TrainingStatus, dependencies=[Read],
            responses={404: {"description": "no such training run"}})
async def get_training_status(job_id: JobId) -> TrainingStatus:
    """Epoch, step, losses and learning rate of a training run (updated every epoch)."""
    job = await jobs.read_job(job_id, flow="train")
    progress, metrics, eta = training_status(job)
    summary = job.table(f"-{Suffix.SUMMARY}") or [{}]
    return TrainingStatus(job_id=job.id, status=seed_status(job), state=job.state, progress=progress,
                          metrics=metrics, estimated_remaining=eta, adapter=summary[0].get("weights"))
