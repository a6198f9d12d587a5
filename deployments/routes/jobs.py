"""/training/jobs: the progress of any run, and stopping it."""

from __future__ import annotations

from fastapi import APIRouter

from deployments import jobs
from deployments.auth import Read, SettingsDep, Write
from deployments.schemas import JobId, JobProgress, StopResponse
from deployments.views import job_progress, seed_status

router = APIRouter(prefix="/training/jobs", tags=["jobs"])


@router.get("/{job_id}/progress", response_model=JobProgress, dependencies=[Read],
            responses={404: {"description": "no such job"}})
async def get_progress(job_id: JobId, settings: SettingsDep) -> JobProgress:
    """Status, progress and counts of a run, read from Prefect (state, progress and table artifacts)."""
    job = await jobs.read_job(job_id)
    views = len((job.parameters.get("overrides") or {}).get("render", {}).get("views") or settings.render.views)
    return job_progress(job, views)


@router.post("/{job_id}/stop", response_model=StopResponse, dependencies=[Write],
             responses={404: {"description": "no such job"}})
async def post_stop(job_id: JobId) -> StopResponse:
    """Cancels the run: at once if nothing runs it yet, else the process serving it stops it.
    A finished run is left as it is (`success` false)."""
    before = await jobs.read_job(job_id, artifacts=False)
    job = await jobs.cancel(job_id)
    return StopResponse(success=not before.final, job_id=job.id, status=seed_status(job), state=job.state)
