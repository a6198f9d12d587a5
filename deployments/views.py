"""Reading a job (a Prefect flow run and its artifacts) into the API's shapes: the seed's status
words, progress, per-stage numbers, training metrics and test-run results."""

from __future__ import annotations

from cadlib.dataset.layout import STAGES, Stage
from cadlib.vocabulary import Verdict
from deployments.jobs import Job
from deployments.schemas import (
    JobProgress,
    JobProgressDetail,
    JobStats,
    LossPoint,
    Performance,
    TestRunResults,
    TrainingMetrics,
    TrainingProgress,
)
from tasks.artifacts import Suffix

CONVERGENCE = {Verdict.CONVERGED: "excellent", Verdict.IMPROVING: "good", Verdict.NOT_CONVERGING: "poor",
               Verdict.TOO_FEW_EPOCHS: "insufficient"}
"""cadrecon's verdict -> the seed's convergence word (its workflow trains in full on 'excellent')."""


def seed_status(job: Job) -> str:
    """pending / running / completed / failed: the words the seed's front-end polls for."""
    return {"SCHEDULED": "pending", "PENDING": "pending", "PAUSED": "pending", "RUNNING": "running",
            "CANCELLING": "running", "COMPLETED": "completed"}.get(job.state_type, "failed")


def started(job: Job, reused: bool, deployment: str, eta: float | None = None) -> dict:
    """The fields every endpoint that starts a run answers with (`schemas.Started`)."""
    return {"job_id": job.id, "status": "running" if reused else "started", "state": job.state, "reused": reused,
            "flow_run_name": job.name, "deployment": deployment, "estimated_time": eta}


def _eta(job: Job, fraction: float) -> float | None:
    elapsed = job.seconds
    if job.final or not elapsed or fraction <= 0:
        return None if not job.final else 0.0
    return round(elapsed * (1 - fraction) / fraction, 1)


def build_stages(job: Job) -> dict[str, dict]:
    """Per stage of a build-dataset run: its table row when finished, else its progress so far."""
    until = job.parameters.get("until") or "validate"
    wanted = [str(s) for s in (Stage.EXTRACT, *STAGES[:STAGES.index(until) + 1])] if until in STAGES else ["extract"]
    out = {}
    for stage in wanted:
        rows = job.table(f"-{stage}") or [r for r in job.table(f"-{Suffix.STAGES}") or [] if r.get("stage") == stage]
        if rows:  # its own table, or its row in the table of stages read back from disk (no task ran)
            out[stage] = {"status": "completed", **rows[0]}
        else:
            pct = job.progress(f"-{stage}-{Suffix.PROGRESS}")
            out[stage] = {"status": "in_progress" if pct is not None else "pending", "percentage": pct or 0.0}
    if job.state_type == "RUNNING":  # the first unfinished stage is the one running
        for row in out.values():
            if row["status"] == "pending":
                row["status"] = "in_progress"
                break
    return out


def build_progress(job: Job, views: int) -> JobProgress:
    stages = build_stages(job)
    extract = stages.get("extract", {})
    models = int(extract.get("models", 0)) if extract.get("status") == "completed" else 0
    work = [s for s in stages if s != "extract"] or ["extract"]
    total = models * len(work)
    current = 0.0
    for s in work:
        row = stages[s]
        current += models if row["status"] == "completed" else models * row.get("percentage", 0.0) / 100.0
    if job.state_type == "COMPLETED":
        current = total
    done_rows = [r for s, r in stages.items() if s != "extract" and r["status"] == "completed"]
    failed = sum(int(r.get("failed", 0)) for r in done_rows)
    render = stages.get("render", {})
    rendered = (int(render.get("succeeded", 0)) if render.get("status") == "completed"
                else int(models * render.get("percentage", 0.0) / 100.0))
    fraction = current / total if total else (1.0 if job.state_type == "COMPLETED" else 0.0)
    return JobProgress(
        job_id=job.id, status=seed_status(job), state=job.state, message=job.message, flow=job.flow,
        progress=JobProgressDetail(current=int(current), total=total, percentage=round(100 * fraction, 1),
                                   images_rendered=rendered * views if "render" in stages else None,
                                   estimated_remaining=_eta(job, fraction)),
        stats=JobStats(succeeded=max(0, models - failed) if done_rows or work == ["extract"] else 0, failed=failed,
                       warnings=sum(int(r.get("warnings", 0)) for r in done_rows)),
        stages=stages, elapsed=job.seconds)


def train_rows(job: Job) -> list[dict]:
    return job.table(f"-{Suffix.EPOCHS}") or []


def train_progress(job: Job) -> JobProgress:
    rows = train_rows(job)
    last = rows[-1] if rows else {}
    step, steps = int(last.get("step", 0)), int(last.get("max_steps", 0))
    fraction = 1.0 if job.state_type == "COMPLETED" else (step / steps if steps else 0.0)
    return JobProgress(
        job_id=job.id, status=seed_status(job), state=job.state, message=job.message, flow=job.flow,
        progress=JobProgressDetail(current=step if steps else int(fraction), total=steps or 1,
                                   percentage=round(100 * fraction, 1), estimated_remaining=_eta(job, fraction)),
        stats=JobStats(succeeded=len(rows), failed=0, warnings=0), elapsed=job.seconds,
        stages={"fit": {"epochs_done": len(rows), "total_epochs": last.get("total_epochs")}})


def generic_progress(job: Job) -> JobProgress:
    """Evaluate and reconstruct runs: their progress artifact, if any."""
    pct = next((v for k, v in job.artifacts.items() if k.endswith(f"-{Suffix.PROGRESS}") and isinstance(v, (int, float))), None)
    fraction = 1.0 if job.state_type == "COMPLETED" else (pct or 0.0) / 100.0
    return JobProgress(
        job_id=job.id, status=seed_status(job), state=job.state, message=job.message, flow=job.flow,
        progress=JobProgressDetail(current=int(round(100 * fraction)), total=100, percentage=round(100 * fraction, 1),
                                   estimated_remaining=_eta(job, fraction)),
        stats=JobStats(succeeded=1 if job.state_type == "COMPLETED" else 0,
                       failed=1 if seed_status(job) == "failed" else 0, warnings=0), elapsed=job.seconds)


def job_progress(job: Job, views: int) -> JobProgress:
    if job.flow == "build-dataset":
        return build_progress(job, views)
    if job.flow == "train":
        return train_progress(job)
    return generic_progress(job)


def training_status(job: Job) -> tuple[TrainingProgress, TrainingMetrics, float | None]:
    rows = train_rows(job)
    last = rows[-1] if rows else {}
    step, steps = int(last.get("step", 0)), int(last.get("max_steps", 0))
    fraction = 1.0 if job.state_type == "COMPLETED" else (step / steps if steps else 0.0)
    losses = [r["train_loss"] for r in rows if r.get("train_loss") is not None]
    progress = TrainingProgress(current_epoch=int(last.get("epoch", 0)), total_epochs=last.get("total_epochs"),
                                current_step=step, total_steps=steps, percentage=round(100 * fraction, 1))
    metrics = TrainingMetrics(current_loss=losses[-1] if losses else None, best_loss=min(losses) if losses else None,
                              val_loss=last.get("val_loss"), learning_rate=last.get("learning_rate"))
    return progress, metrics, _eta(job, fraction)


def convergence_results(job: Job) -> TestRunResults:
    rows = train_rows(job)
    summary = (job.table(f"-{Suffix.SUMMARY}") or [{}])[0]
    vals = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
    trains = [r["train_loss"] for r in rows]
    # Overfitting: validation loss has risen above its best while training loss kept falling.
    overfitting = len(vals) >= 2 and vals[-1] > 1.05 * min(vals) and trains[-1] < trains[0]
    steps, seconds = summary.get("global_step"), summary.get("train_seconds")
    verdict = summary.get("verdict")
    return TestRunResults(
        epochs=len(rows),
        loss_progression=[LossPoint(epoch=r["epoch"], train_loss=r["train_loss"], val_loss=r.get("val_loss"))
                          for r in rows],
        total_improvement=summary.get("loss_reduction_pct"),
        convergence=CONVERGENCE.get(verdict, "pending") if verdict else "pending",
        verdict=verdict, overfitting=overfitting,
        performance=Performance(throughput=summary.get("samples_per_second"),
                                avg_batch_time=round(seconds / steps, 4) if steps and seconds else None))
