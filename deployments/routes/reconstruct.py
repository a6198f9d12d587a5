"""/reconstruct: upload a CAD or mesh file, get a reconstruction run; read its result."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status

from cadlib.dataset.layout import DataDir
from deployments import jobs
from deployments.auth import Read, SettingsDep, Write, under_data_dir
from deployments.schemas import JobId, ReconstructResult, ReconstructStarted
from deployments.serve import ON_DEMAND
from deployments.shown_paths import shown
from deployments.views import seed_status, started
from vlm.generate import is_trained_folder

router = APIRouter(prefix="/reconstruct", tags=["reconstruct"])
DEPLOYMENT = ON_DEMAND["reconstruct"]
CHUNK = 1 << 20


def _said(filename: str | None) -> str:
    """The client's file name as an answer repeats it: quoted, at most 80 characters."""
    name = filename or ""
    return repr(name if len(name) <= 80 else name[:60] + "..." + name[-17:])


def _safe_name(filename: str | None) -> str:
    name = Path(filename or "").name
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return name[:120] or "upload"


def _model(settings, model: str | None) -> str:
    """The adapter: the request's (under the data folder), the server's default, or the newest full run."""
    root = Path(settings.data_dir).resolve()
    if model:
        path = Path(under_data_dir(settings, model))
    elif settings.api.model:
        path = Path(settings.api.model).resolve()
    else:
        runs = DataDir(root).runs
        found = sorted([*runs.glob("*/adapter/adapter_config.json"), *runs.glob("*/model/config.json")],
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                "no trained model: train one (POST /training/start) or set CADRECON_API__MODEL")
        path = found[-1].parent
    if not is_trained_folder(path):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{shown(path, settings.data_dir)}: not a trained model folder (neither a LoRA adapter "
                            "nor a model with its training_report.json)")
    return str(path)


async def _save(upload: UploadFile, dest: Path, limit_mb: float) -> int:
    """Streams the upload to `dest`, stopping (and removing it) past the size limit."""
    limit = int(limit_mb * 2**20)
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                f.close()
                dest.unlink(missing_ok=True)
                dest.parent.rmdir()
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                    f"{_said(upload.filename)}: larger than the {limit_mb:g} MB upload limit")
            f.write(chunk)
    return size


@router.post("", response_model=ReconstructStarted, status_code=status.HTTP_202_ACCEPTED, dependencies=[Write],
             responses={413: {"description": "file too large"}, 415: {"description": "file type not accepted"}})
async def post_reconstruct(
    request: Request,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a STEP, IFC, OBJ, STL, DeepCAD JSON, ... file")],
    model: Annotated[str | None, Form(max_length=500, description="adapter folder under the data folder")] = None,
    samples: Annotated[int, Form(ge=1, le=64, description="samples per view (best-of-N)")] = 4,
    constrained: Annotated[bool, Form(description="grammar-constrained decoding")] = True,
) -> dict:
    """Stores the upload and starts a reconstruct run on it."""
    if "constrained" not in await request.form():  # parsed already: the cached form
        # FastAPI reads an absent bool form field as false (an unticked HTML checkbox) whatever its
        # default, so a plain upload decoded unconstrained; the default OpenAPI documents holds.
        constrained = True
    name = _safe_name(file.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in settings.api.upload_suffixes:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"{_said(file.filename)}: {suffix or 'no suffix'} is not accepted; send one of "
                            f"{', '.join(settings.api.upload_suffixes)}")
    adapter = _model(settings, model)
    upload_id = uuid.uuid4().hex
    dest = Path(settings.data_dir).resolve() / "uploads" / upload_id / name
    if await _save(file, dest, settings.api.max_upload_mb) == 0:
        dest.unlink(missing_ok=True)
        dest.parent.rmdir()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{_said(file.filename)}: the upload is empty")
    out_step = dest.with_name(f"{dest.stem}_reconstruction.step")
    params = {"file": str(dest), "model": adapter, "out": str(out_step), "samples": samples, "constrained": constrained}
    try:
        job, reused = await jobs.start(DEPLOYMENT, params, scope=f"upload:{upload_id}", kind="reconstruct",
                                       route="reconstruct")
    except Exception:  # no run will read it: do not keep the upload
        dest.unlink(missing_ok=True)
        dest.parent.rmdir()
        raise
    return {**started(job, reused, DEPLOYMENT), "model": shown(adapter, settings.data_dir),
            "upload": shown(dest, settings.data_dir),
            "output_step": shown(out_step, settings.data_dir)}


@router.get("/{job_id}", response_model=ReconstructResult, dependencies=[Read],
            responses={404: {"description": "no such reconstruction"}})
async def get_reconstruction(job_id: JobId) -> ReconstructResult:
    """The generated sequence, its metrics and the written STEP, once the run has finished."""
    job = await jobs.read_job(job_id, flow="reconstruct")
    rows = job.table("reconstruction")
    return ReconstructResult(job_id=job.id, status=seed_status(job), state=job.state, result=rows[0] if rows else None)
