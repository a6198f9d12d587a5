"""The deployments of cadrecon's flows, and serving them (`cadrecon serve`).

- ``build-dataset/nightly``: the incremental dataset build on a cron schedule; the preset, source
  and path it builds are the schedule's own parameters (settings section `schedule`), so a changed
  folder is picked up night after night and only new or changed models are redone.
- ``build-dataset/on-demand``, ``train/on-demand``, ``evaluate/on-demand``, ``reconstruct/on-demand``:
  no schedule; started from the UI, the CLI or the REST API (`deployments/api.py`) with their
  parameters.

`cadrecon serve` runs them in this process (Prefect's `serve`); schedules stay active when it stops
unless `--pause-on-shutdown`. For work pools (a process pool; a GPU pool for training) see
`prefect.yaml`.
"""

from __future__ import annotations

from prefect.schedules import Cron

from config import Settings

ON_DEMAND = {"build_dataset": "build-dataset/on-demand", "train": "train/on-demand", "evaluate": "evaluate/on-demand",
             "reconstruct": "reconstruct/on-demand"}


def nightly_parameters(settings: Settings) -> dict:
    s = settings.schedule
    params: dict = {"preset": s.preset}
    if s.source:
        params["source"] = s.source
    if s.path:
        params["path"] = s.path
    return params


def build_deployments(settings: Settings) -> list:
    """The RunnerDeployments `serve` runs (nothing is registered until they are served)."""
    from flows.build_dataset import build_dataset
    from flows.evaluate import evaluate
    from flows.reconstruct import reconstruct
    from flows.train import train

    s = settings.schedule
    nightly = build_dataset.to_deployment(
        name="nightly",
        schedules=[Cron(s.nightly_cron, timezone=s.timezone, parameters=nightly_parameters(settings), active=s.active,
                        slug="nightly")],
        description="Nightly incremental dataset build: unchanged shards are cache hits.",
        tags=["cadrecon", "dataset", "nightly"],
    )
    return [
        nightly,
        build_dataset.to_deployment(name="on-demand", tags=["cadrecon", "dataset"],
                                    description="Build (or bring up to date) a dataset."),
        train.to_deployment(name="on-demand", tags=["cadrecon", "train"], description="LoRA fine-tuning."),
        evaluate.to_deployment(name="on-demand", tags=["cadrecon", "evaluate"],
                               description="Score an adapter on a dataset split."),
        reconstruct.to_deployment(name="on-demand", tags=["cadrecon", "reconstruct"],
                                  description="Reconstruct one uploaded CAD or mesh file."),
    ]


def serve_all(settings: Settings, *, pause_on_shutdown: bool = False, limit: int | None = None) -> None:
    """Serves every deployment until interrupted."""
    from prefect import serve

    from flows.prefect_home import require_prefect_home

    require_prefect_home()

    serve(*build_deployments(settings), pause_on_shutdown=pause_on_shutdown, limit=limit)
