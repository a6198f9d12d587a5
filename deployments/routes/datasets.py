"""/training/datasets: list, status, and the seed's four stages (each starts a build-dataset run)."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi import Path as PathParam

from cadlib.dataset.catalog import (
    STAGE_NAMES,
    DatasetConflict,
    dataset_status,
    list_datasets,
    stage_progress,
)
from cadlib.dataset.layout import DataDir, DatasetLayout, read_json
from cadlib.dataset.lock import build_lock_path, is_held
from cadlib.errors import CadlibError
from cadlib.vocabulary import Layout
from config import deep_merge
from deployments import jobs
from deployments.auth import IdempotencyKey, Read, SettingsDep, Write, under_data_dir
from deployments.http_guard import shutting_down
from deployments.schemas import (
    NAME_PATTERN,
    ConvertOutput,
    ConvertRequest,
    ConvertResponse,
    DatasetList,
    DatasetStatus,
    DatasetSummary,
    ExtractRequest,
    ExtractResponse,
    Progress,
    RenderRequest,
    RenderResponse,
    ValidateRequest,
    ValidateResponse,
    ValidationChecks,
    ValidationStats,
)
from deployments.serve import ON_DEMAND
from deployments.shown_paths import shown
from deployments.views import build_stages, started
from flows.build_dataset import check_build

router = APIRouter(prefix="/training/datasets", tags=["datasets"])
DEPLOYMENT = ON_DEMAND["build_dataset"]
Name = Annotated[str, PathParam(pattern=NAME_PATTERN, description="dataset name")]


def datasets_dir(settings) -> Path:
    return _datasets_dir(str(settings.data_dir))


@functools.lru_cache(maxsize=64)
def _datasets_dir(data_dir: str) -> Path:
    return DataDir(Path(data_dir).resolve()).datasets


def layout_for(settings, name: str) -> DatasetLayout:
    if ".." in name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad dataset name {name!r}: '..' is not allowed")
    return DatasetLayout(datasets_dir(settings) / name)


def scope(name: str) -> str:
    return f"dataset:{name}"


def models_per_minute(settings) -> float | None:
    """The throughput of the most recent finished build on this server (for estimates)."""
    runs_of = DatasetLayout(Path("*")).build_runs  # every dataset's, as a pattern
    runs = sorted(datasets_dir(settings).glob(f"{runs_of.as_posix()}/*.json"), key=lambda p: p.name)
    for path in reversed(runs):
        try:
            rate = read_json(path).get("models_per_min")
        except (OSError, ValueError):
            continue
        if rate:
            return float(rate)
    return None


def estimate(settings, models: int) -> float | None:
    rate = models_per_minute(settings)
    return round(60.0 * models / rate, 1) if rate and models else None


async def previous_parameters(settings, name: str) -> dict:
    """The parameters of the dataset's last API run; else rebuilt from its cadrecon.json."""
    runs = await jobs.scope_runs(scope(name), limit=1)
    if runs:
        return dict(runs[0].parameters)
    layout = layout_for(settings, name)
    try:
        info = layout.read_info()
    except (OSError, ValueError):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"dataset {name!r} has not been extracted through the API and has no cadrecon.json: "
                            "POST /training/datasets/extract first") from None
    cfg = dict(info.get("config", {}))
    render, sequence = cfg.pop("render", {}), cfg.pop("sequence", {})
    source, path = cfg.pop("source", None), cfg.pop("path", None) or None
    preset = read_json(layout.origin).get("preset") if layout.origin.is_file() else settings.preset
    return {"preset": preset or settings.preset, "source": source, "path": path, "name": name,
            "overrides": {"dataset": cfg, "render": render, "sequence": sequence}}


async def start_build(settings, name: str, parameters: dict, route: str, key: str | None) -> tuple[jobs.Job, bool]:
    """Starts the build run, unless the dataset is busy or was built with other settings (409)."""
    over = {**(parameters.get("overrides") or {}), "data_dir": str(settings.data_dir)}
    try:
        await asyncio.to_thread(check_build, parameters["preset"], parameters.get("source"), parameters.get("path"),
                                name, over, bool(parameters.get("force")), parameters.get("until") or "validate")
    except DatasetConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (ValueError, CadlibError) as exc:  # an unknown preset, a setting out of range: the run would fail
        raise HTTPException(status.HTTP_400_BAD_REQUEST, _one_line(exc)) from None
    try:
        return await jobs.start(DEPLOYMENT, parameters, scope=scope(name), kind="build", key=key, route=route)
    except jobs.ScopeBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors) and errors():  # a pydantic ValidationError: the first field and why
        first = errors()[0]
        return f"{'.'.join(str(x) for x in first.get('loc', ())) or 'settings'}: {first.get('msg')}"
    return (str(exc).splitlines() or [type(exc).__name__])[0]


async def wait_for(job: jobs.Job, wait_s: float, limit: float) -> jobs.Job:
    """The job once final, or as it stands after `wait_s` (at most `limit`), or at once when the
    server is stopping (the answer says the run's state; the client polls its progress)."""
    deadline = time.monotonic() + min(wait_s, limit)
    while not job.final and time.monotonic() < deadline and not shutting_down():
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        job = await jobs.read_job(job.id, artifacts=False)
    return job


@router.get("", response_model=DatasetList, dependencies=[Read])
async def get_datasets(request: Request, settings: SettingsDep) -> DatasetList:
    """Every dataset on disk; `status` is `building` while a build holds its lock or an API run
    is queued or running for it. From local state: the catalog (described again only when a
    dataset's folders changed), the lock files, and Prefect's active runs as last checked in the
    background (at most `api.health_max_age_s` old). The list is polled: an answer equal to the
    last one is sent as the bytes already validated and encoded for it."""
    found = list_datasets(datasets_dir(settings), only_known=True)  # a few stats per dataset
    if found is None:  # a dataset changed: describe it again in a thread (a tree walk)
        found = await asyncio.to_thread(list_datasets, datasets_dir(settings))
    queued = set((await request.app.state.active_scopes.snapshot()).get("scopes", ()))
    locks = datasets_dir(settings)
    for d in found:
        if scope(d["name"]) in queued or is_held(build_lock_path(locks, d["name"])):
            d["status"] = "building"
    key = json.dumps(found, default=str)
    cached = request.app.state.dataset_list
    if cached.get("key") != key:
        for d in found:
            d["path"] = shown(d["path"], settings.data_dir)
        body = DatasetList(datasets=[DatasetSummary(**d) for d in found]).model_dump_json().encode()
        cached.update(key=key, body=body)
    return Response(cached["body"], media_type="application/json")


@router.get("/{name}/status", response_model=DatasetStatus, dependencies=[Read],
            responses={404: {"description": "no such dataset"}})
async def get_status(name: Name, settings: SettingsDep) -> DatasetStatus:
    """The stages on disk, overlaid with the dataset's running build (if any)."""
    layout = layout_for(settings, name)
    runs = await jobs.scope_runs(scope(name), limit=1)
    disk = await asyncio.to_thread(stage_progress, layout)
    if not runs and not layout.extract_report.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dataset {name!r}")
    stages = {}
    for stage, st in disk["stages"].items():
        stages[stage] = "completed" if st["total"] and st["done"] >= st["total"] else "pending"
    fractions = {s: (st["done"] / st["total"] if st["total"] else 0.0) for s, st in disk["stages"].items()}
    job = None
    if runs and not runs[0].final:
        job = await jobs.read_job(runs[0].id)
        for stage, row in build_stages(job).items():
            stages[stage] = row["status"]
            fractions[stage] = 1.0 if row["status"] == "completed" else row.get("percentage", 0.0) / 100.0
    models = disk["models"]
    total = 4 * models
    current = int(sum(models * f for f in fractions.values()))
    state = "building" if job else dataset_status(layout)  # polled every few seconds: no tree walk
    return DatasetStatus(
        dataset=name, status=state, progress=Progress(current=current, total=total,
                                                      percentage=round(100 * current / total, 1) if total else 0.0),
        stages={STAGE_NAMES[s]: v for s, v in stages.items()},
        job_id=runs[0].id if runs else None, job_state=runs[0].state if runs else None)


@router.post("/extract", response_model=ExtractResponse, status_code=status.HTTP_202_ACCEPTED, dependencies=[Write])
async def post_extract(req: ExtractRequest, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> dict:
    """Lists the models of a source, dedups and splits them: a build-dataset run that stops after extract."""
    layout = layout_for(settings, req.output_name)
    path = under_data_dir(settings, req.path) if req.path else None
    test_size = req.val_size if req.test_size is None else req.test_size
    params = {"preset": req.preset or settings.preset, "source": req.source, "path": path, "name": req.output_name,
              "overrides": {"dataset": {"train_size": req.train_size, "val_size": req.val_size,
                                        "test_size": test_size, "seed": req.seed,
                                        **({"layout": req.layout} if req.layout else {})}},
              "force": req.force, "until": "extract"}
    job, reused = await start_build(settings, req.output_name, params, "extract", idempotency_key)
    eta = estimate(settings, req.train_size + req.val_size + test_size)
    return {**started(job, reused, DEPLOYMENT, round(eta / 4, 1) if eta else None),  # extract: about a quarter of a build
            "output_path": shown(layout.root, settings.data_dir), "dataset": req.output_name}


@router.post("/{name}/render", response_model=RenderResponse, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Write])
async def post_render(name: Name, req: RenderRequest, settings: SettingsDep,
                      idempotency_key: IdempotencyKey = None) -> dict:
    """Renders the dataset's views: a build-dataset run through the render stage."""
    layout = layout_for(settings, name)
    base = await previous_parameters(settings, name)
    render = {"views": list(req.views), "size": req.resolution, **({"style": req.style} if req.style else {})}
    over = {"render": render, **({"dataset": {"shard_size": req.batch_size}} if req.batch_size else {})}
    params = {**base, "overrides": deep_merge(base.get("overrides") or {}, over), "until": "render", "force": req.force}
    job, reused = await start_build(settings, name, params, "render", idempotency_key)
    models = stage_progress(layout)["models"]
    return {**started(job, reused, DEPLOYMENT, estimate(settings, models)), "models_to_process": models,
            "images_to_create": models if _tiled(params) else models * len(req.views)}


def _tiled(params: dict) -> bool:
    """Whether the build these parameters start lays its views out as one tile per model: its preset,
    then its overrides (what the run itself resolves, not the server's default)."""
    from flows.build_dataset import resolve_settings

    try:
        built = resolve_settings(params["preset"], params.get("source"), params.get("path"), params.get("name"),
                                 params.get("overrides"))
    except (OSError, ValueError):  # the run refuses it with the reason; the count is a guess then
        return (params.get("overrides", {}).get("dataset") or {}).get("layout") == Layout.TILE
    return built.dataset.layout == Layout.TILE


def _split_counts(layout: DatasetLayout) -> dict[str, int | None]:
    try:
        return dict(read_json(layout.validation).get("samples", {}))
    except (OSError, ValueError):
        return {}


@router.post("/{name}/convert", response_model=ConvertResponse, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Write])
async def post_convert(name: Name, req: ConvertRequest, settings: SettingsDep,
                       idempotency_key: IdempotencyKey = None) -> dict:
    """Writes the conversations. The split files are assembled from validated samples only, so
    this run goes on through validation (a sample that fails it never reaches train.json)."""
    layout = layout_for(settings, name)
    base = await previous_parameters(settings, name)
    over = {"dataset": {"vary_prompts": req.randomize_templates}}
    params = {**base, "overrides": deep_merge(base.get("overrides") or {}, over), "until": "validate",
              "force": req.force}
    job, reused = await start_build(settings, name, params, "convert", idempotency_key)
    job = await wait_for(job, req.wait_s, settings.api.wait_max_s)
    ext = {"messages": "jsonl", "parquet": "parquet"}.get(req.format, "json")
    counts = _split_counts(layout) if job.state_type == "COMPLETED" else {}
    return {**started(job, reused, DEPLOYMENT, estimate(settings, stage_progress(layout)["models"])),
            "output": ConvertOutput(**{f"{s}_file": None if counts.get(s) == 0 and ext != "json"  # no empty JSONL/Parquet
                                       else shown(layout.split_file(s, ext), settings.data_dir) for s in ("train", "val", "test")},
                                    **{f"{s}_conversations": counts.get(s) for s in ("train", "val", "test")})}


def _checks(layout: DatasetLayout, settings) -> tuple[ValidationChecks, ValidationStats, list[str]] | None:
    try:
        v = read_json(layout.validation)
        info = layout.read_info()
    except (OSError, ValueError):
        return None
    classes = {e[0] for e in v.get("structural_errors", [])}
    samples = v.get("samples", {})
    total_images = sum(samples.values())
    missing = sum(1 for e in v.get("structural_errors", []) if e[0] == "MissingImage")
    splits = v.get("stats", {}).get("splits", {})
    means = [(st["target_chars"]["mean"], st["target_chars"]["n"]) for st in splits.values()
             if st.get("target_chars", {}).get("n")]
    n = sum(c for _, c in means)
    size = (info.get("config", {}).get("render") or {}).get("size", settings.render.size)
    tile = info.get("config", {}).get("layout") == Layout.TILE
    checks = ValidationChecks(
        format_valid=not classes & {"BadSample", "BrokenSplit", "MissingSplit"},
        all_images_exist=missing == 0, images_checked=total_images - missing, total_images=total_images,
        conversations_valid="BadSample" not in classes, no_missing_files=not classes & {"MissingImage", "MissingSplit"},
        no_leakage="Leakage" not in classes, structural_error_count=int(v.get("structural_error_count", 0)))
    side = 2 * size if tile else size
    stats = ValidationStats(train_samples=samples.get("train", 0), val_samples=samples.get("val", 0),
                            test_samples=samples.get("test", 0),
                            avg_text_length=round(sum(m * c for m, c in means) / n, 1) if n else None,
                            image_resolution=f"{side}x{side}", failed_models=int(v.get("models", {}).get("failed", 0)))
    warnings = [f"{r['stage']}: {r['count']} x {r['error_class']} (e.g. {r['examples'][0]})" for r in v.get("failures", [])]
    dropped = sum(v.get("dropped_too_long", {}).values())
    if dropped:
        warnings.append(f"{dropped} sample(s) dropped as longer than max_tokens (never truncated)")
    return checks, stats, warnings


@router.post("/{name}/validate", response_model=ValidateResponse, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Write])
async def post_validate(name: Name, req: ValidateRequest, settings: SettingsDep,
                        idempotency_key: IdempotencyKey = None) -> dict:
    """Validates the dataset (a build-dataset run through validation: finished shards are cache hits)."""
    layout = layout_for(settings, name)
    base = await previous_parameters(settings, name)
    params = {**base, "until": "validate", "force": False}
    job, reused = await start_build(settings, name, params, "validate", idempotency_key)
    job = await wait_for(job, req.wait_s, settings.api.wait_max_s)
    found = _checks(layout, settings)
    out = {**started(job, reused, DEPLOYMENT, estimate(settings, stage_progress(layout)["models"])),
           "report_is_current": job.state_type == "COMPLETED"}
    if found:
        out.update(validation=found[0], stats=found[1], warnings=found[2])
    return out
