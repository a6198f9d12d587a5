"""The task runner a flow uses, chosen by settings: threads (default), Dask, or Ray."""

from __future__ import annotations

from prefect.task_runners import ThreadPoolTaskRunner


def task_runner_for(kind: str, *, concurrency: int = 2, address: str | None = None):
    """A Prefect task runner.

    Args:
        kind: "threads" (in-process; shards share one worker pool), "dask" (prefect-dask: the
            scheduler at `address`, or a local cluster of `concurrency` single-threaded worker
            processes) or "ray" (prefect-ray: the cluster at `address`, or a local one of `concurrency` CPUs).
        concurrency: shards in flight at once.
    """
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=concurrency)
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ValueError("task_runner 'dask' needs prefect-dask: pip install 'cadrecon[dask]'") from None
        if address:
            return DaskTaskRunner(address=address)
        import dask

        # Dask workers are daemonic by default, and daemonic processes may not start the worker
        # pool that isolates each model: let them.
        dask.config.set({"distributed.worker.daemon": False})
        return DaskTaskRunner(cluster_kwargs={"n_workers": concurrency, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise ValueError("task_runner 'ray' needs prefect-ray: pip install 'cadrecon[ray]'") from None
        if address:
            return RayTaskRunner(address=address)
        # A local cluster sized like the Dask one: `concurrency` CPUs, no dashboard, no usage report.
        import os

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        return RayTaskRunner(init_kwargs={"num_cpus": concurrency, "include_dashboard": False,
                                          "log_to_driver": False})
    raise ValueError(f"unknown task_runner {kind!r}: expected threads, dask or ray")


def hand_over(runner: str) -> tuple:
    """How the flow hands big task inputs over: (`quote`, `opaque`) under the in-process threads
    runner, so that Prefect passes records and reports as they are (quote) or waits for a future
    without walking every object of the report it resolves to (opaque). That walk cost the flow
    process ~1 ms a model: 4.6 s for the 4,200 models of synth_learn's reports at finalize, and at
    1,000 models the flow's CPU time went from 10.1 to 6.9 s. Under Dask and Ray the values go as
    they are (no annotation): prefect-dask walks the parameters itself and the task then received
    the annotation, not the value."""
    from prefect.utilities.annotations import opaque, quote

    if runner == "threads":
        return quote, opaque
    return (lambda v: v), (lambda v: v)
