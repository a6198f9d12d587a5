"""The one module through which the REST API talks to Prefect: start a deployment, read a run
(state, parameters, artifacts), find a dataset's runs, cancel.

The API keeps one Prefect client per event loop for its lifetime (`prefect_client`): opening one
per request cost ~600 ms under 20 concurrent requests (a new HTTP connection pool each time).

A *job* is a Prefect flow run; its id is the flow-run id. Every run the API starts carries the tags
``cadrecon-api`` and ``cadrecon-scope:<scope>`` (e.g. ``dataset:demo``): the scope is what two runs
must not work on at once (one dataset folder, one training run folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import State

from cadlib.dataset.lock import held

API_TAG = "cadrecon-api"
SCOPE_TAG = "cadrecon-scope:"
FLOWS = ["build-dataset", "train", "evaluate", "reconstruct"]
ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]


class JobNotFound(LookupError):
    """No flow run with this id (or not one of the kind asked for)."""


class DeploymentMissing(RuntimeError):
    """The deployment is not registered: nothing serves it (`cadrecon serve` is not running)."""


class ScopeBusy(RuntimeError):
    """Another run is already working on the same dataset or run folder."""

    def __init__(self, scope: str, job: Job) -> None:
        super().__init__(f"{scope} is busy: job {job.id} ({job.flow}, {job.state}) is working on it")
        self.scope, self.job = scope, job


@dataclass
class Job:
    """What the API needs to know about a flow run."""

    id: str
    name: str
    flow: str
    state: str  # Prefect's state name: Scheduled, Running, Completed, Failed, Cancelled, Crashed, ...
    state_type: str  # SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED, ...
    message: str | None
    parameters: dict
    tags: list[str]
    created: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    artifacts: dict[str, Any] = field(default_factory=dict)
    """Latest data per artifact key (tables parsed from JSON, progress as a float)."""

    @property
    def final(self) -> bool:
        return self.state_type in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")

    @property
    def seconds(self) -> float | None:
        if self.start_time is None:
            return None
        end = self.end_time or datetime.now(UTC)
        return max(0.0, (end - self.start_time).total_seconds())

    def table(self, suffix: str) -> list[dict] | None:
        """The latest table artifact whose key ends with `suffix`."""
        for key, data in self.artifacts.items():
            if key.endswith(suffix) and isinstance(data, list):
                return data
        return None

    def progress(self, suffix: str) -> float | None:
        for key, data in self.artifacts.items():
            if key.endswith(suffix) and isinstance(data, (int, float)):
                return float(data)
        return None


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Event loop -> (Prefect API URL, the client opened on that loop, its opening)."""
_flow_names: dict = {}
"""Flow id -> flow name (a flow's name never changes)."""


async def _flow_name(client, flow_id) -> str:
    if flow_id not in _flow_names:
        _flow_names[flow_id] = (await client.read_flow(flow_id)).name
    return _flow_names[flow_id]


@contextlib.asynccontextmanager
async def prefect_client():
    """The Prefect client of the running event loop, opened once and shared by every request on
    it (an httpx client is bound to its loop; a new API URL opens a new one)."""
    from prefect.settings import PREFECT_API_URL

    loop = asyncio.get_running_loop()
    url = PREFECT_API_URL.value()
    held_ = _clients.get(loop)
    if held_ is None or held_[0] != url:
        client = get_client()
        # Opened once, held open until close_prefect_clients(); concurrent first requests await
        # the same opening rather than each opening a client.
        _clients[loop] = held_ = (url, client, asyncio.ensure_future(client.__aenter__()))
    await held_[2]
    async with held_[1] as client:  # re-entrant: counts, does not reopen
        yield client


async def close_prefect_clients() -> None:
    """Closes the running loop's shared client (the app's shutdown)."""
    held_ = _clients.pop(asyncio.get_running_loop(), None)
    if held_ is not None:
        await held_[2]
        await held_[1].__aexit__(None, None, None)


def scope_tag(scope: str) -> str:
    return SCOPE_TAG + scope


def request_key(route: str, body: dict, generation: str) -> str:
    """An idempotency key for a request: the same request, made again before the scope's latest
    run has finished (a double click, a client retry), gets the same run back."""
    blob = json.dumps([route, body, generation], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _job(run, flow_name: str, artifacts: dict | None = None) -> Job:
    st = run.state
    return Job(id=str(run.id), name=run.name, flow=flow_name, state=st.name if st else "Unknown",
               state_type=st.type.value if st else "UNKNOWN", message=st.message if st else None,
               parameters=dict(run.parameters or {}), tags=list(run.tags or []), created=run.created,
               start_time=run.start_time, end_time=run.end_time, artifacts=artifacts or {})


def _artifact_data(a) -> Any:
    if a.type == "table" and isinstance(a.data, str):
        try:
            return json.loads(a.data)
        except ValueError:
            return None
    return a.data


async def read_job(job_id: str, *, flow: str | None = None, artifacts: bool = True) -> Job:
    """The run with its latest artifacts; `flow` restricts it to one flow (else JobNotFound)."""
    try:
        uid = UUID(job_id)
    except ValueError:
        raise JobNotFound(f"no job {job_id!r}: job ids are flow-run UUIDs") from None
    async with prefect_client() as client:
        try:
            run = await client.read_flow_run(uid)
        except ObjectNotFound:
            raise JobNotFound(f"no job {job_id}") from None
        flow_name = await _flow_name(client, run.flow_id)
        if flow is not None and flow_name != flow:
            raise JobNotFound(f"job {job_id} is a {flow_name} run, not a {flow} run")
        data: dict[str, Any] = {}
        if artifacts:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uid])),
                sort=ArtifactSort.UPDATED_DESC, limit=200)
            for a in found:  # newest first: keep the first of each key
                if a.key and a.key not in data:
                    data[a.key] = _artifact_data(a)
    return _job(run, flow_name, data)


async def scope_runs(scope: str, *, active_only: bool = False, limit: int = 5) -> list[Job]:
    """The runs started for a scope, newest first (without artifacts)."""
    flt = FlowRunFilter(tags=FlowRunFilterTags(all_=[scope_tag(scope)]))
    if active_only:
        flt = FlowRunFilter(tags=flt.tags, state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)))
    async with prefect_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=flt, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        out = [_job(r, await _flow_name(client, r.flow_id)) for r in runs]
    return out


async def active_scopes() -> set[str]:
    """The scopes that API-started runs are working on now (one query)."""
    flt = FlowRunFilter(tags=FlowRunFilterTags(all_=[API_TAG]),
                        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)))
    async with prefect_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=flt, limit=200)
    return {t.removeprefix(SCOPE_TAG) for r in runs for t in (r.tags or []) if t.startswith(SCOPE_TAG)
            and not _dead(str(r.id), r.state_type.value if r.state_type else "", r.start_time)}


DATA_DIR: Path | None = None
"""The data folder the flows beat in (`flows.heartbeat`); `create_app` sets it. None: no run is
ever judged dead."""
DEAD_AFTER_S: float | None = None
"""Seconds without a beat after which a run is dead (`api.dead_run_after_s`); None: `flows.heartbeat.STALE_S`."""


def _dead(run_id: str, state_type: str, start_time: datetime | None) -> bool:
    """A Running or Cancelling run whose process stopped beating (`flows.heartbeat.is_dead`)."""
    from flows.heartbeat import is_dead

    if DATA_DIR is None or state_type not in ("RUNNING", "CANCELLING"):
        return False
    return is_dead(DATA_DIR, run_id, start_time.timestamp() if start_time else None, stale_s=DEAD_AFTER_S)


def is_dead_job(job: Job) -> bool:
    return _dead(job.id, job.state_type, job.start_time)


async def end_dead(job: Job, *, cancelled: bool = False) -> Job:
    """Moves a run whose process died to a final state (Crashed, or Cancelled when a stop asked
    for it), which frees its scope; returns it after."""
    from flows.heartbeat import STALE_S

    why = (f"its process stopped (no heartbeat for over {DEAD_AFTER_S or STALE_S:.0f} s: a killed "
           "`cadrecon serve`?)")
    state = (State(type=StateType.CANCELLED, name="Cancelled", message=f"cancelled through the API; {why}")
             if cancelled else State(type=StateType.CRASHED, name="Crashed", message=why))
    async with prefect_client() as client:
        await client.set_flow_run_state(UUID(job.id), state=state, force=True)
    return await read_job(job.id, artifacts=False)


async def start(deployment: str, parameters: dict, *, scope: str, kind: str, key: str | None = None,
                route: str = "", exclusive: bool = True) -> tuple[Job, bool]:
    """Starts `deployment` (``flow/deployment``) with `parameters` and returns (job, reused).

    The idempotency key is the client's when given, else one derived from the request and the
    scope's latest run; an identical request made while its run is still going gets that run back
    (reused=True). With `exclusive`, a different request on a busy scope raises ScopeBusy.
    """
    async with _deciding(scope):  # "is it busy? start it" as one step, across API processes
        return await _start(deployment, parameters, scope=scope, kind=kind, key=key, route=route, exclusive=exclusive)


LOCK_DIR: Path | None = None
"""Where the API's start locks live (`create_app` sets it under the data folder, which API
replicas share); None: only this process is serialised."""
_scope_locks: dict[str, asyncio.Lock] = {}


@contextlib.asynccontextmanager
async def _deciding(scope: str):
    """Serialises the busy check and the run's creation for one scope: an asyncio lock within this
    process, and an OS file lock (`cadlib.dataset.lock`) across the processes sharing LOCK_DIR."""
    lock = _scope_locks.setdefault(scope, asyncio.Lock())
    async with lock:
        if LOCK_DIR is None:
            yield
            return
        name = hashlib.sha256(scope.encode()).hexdigest()[:24]
        cm = held(LOCK_DIR / f"start-{name}.lock", wait_s=30, what=f"starting a run for {scope}")
        await asyncio.to_thread(cm.__enter__)
        try:
            yield
        finally:
            cm.__exit__(None, None, None)


async def _start(deployment: str, parameters: dict, *, scope: str, kind: str, key: str | None, route: str,
                 exclusive: bool) -> tuple[Job, bool]:
    busy = await scope_runs(scope, active_only=True, limit=5)
    dead = [j for j in busy if is_dead_job(j)]
    for job in dead:  # its process died: the scope is free again
        await end_dead(job)
    dead_ids = {d.id for d in dead}
    busy = [j for j in busy if j.id not in dead_ids]
    if busy:
        if busy[0].parameters == parameters:
            return busy[0], True
        if exclusive:
            raise ScopeBusy(scope, busy[0])
    recent = await scope_runs(scope, limit=1)
    generation = recent[0].id if recent else "none"
    idem = f"{route}:{key}" if key else request_key(route, {"deployment": deployment, **parameters}, generation)
    async with prefect_client() as client:
        try:
            await client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise DeploymentMissing(f"deployment {deployment!r} is not registered: start `cadrecon serve` "
                                    "(or `prefect deploy` with a worker) against this Prefect API") from None
        before = datetime.now(UTC)
        run = await arun_deployment(deployment, client=client, parameters=parameters, timeout=0,
                                    tags=[API_TAG, scope_tag(scope), f"cadrecon-job:{kind}"],
                                    idempotency_key=idem, as_subflow=False)
        flow_name = await _flow_name(client, run.flow_id)
    return _job(run, flow_name), bool(run.created and run.created < before)


async def cancel(job_id: str) -> Job:
    """Asks Prefect to cancel a run (the process serving it stops the flow); returns it after."""
    job = await read_job(job_id, artifacts=False)
    if job.final:
        return job
    if is_dead_job(job):  # nothing is left to stop it: it ends here
        return await end_dead(job, cancelled=True)
    # A run no process has picked up yet is cancelled at once; a running one is asked to stop, and
    # the runner serving it kills the flow and marks it Cancelled.
    waiting = job.state_type in ("SCHEDULED", "PENDING", "PAUSED")
    state = State(type=StateType.CANCELLED, name="Cancelled", message="cancelled through the API") if waiting \
        else State(type=StateType.CANCELLING, name="Cancelling", message="cancelled through the API")
    async with prefect_client() as client:
        await client.set_flow_run_state(UUID(job_id), state=state, force=waiting)
    return await read_job(job_id, artifacts=False)


async def health() -> dict:
    """Whether the Prefect API answers, and which of our deployments it knows."""
    async with prefect_client() as client:
        ok = (await client.api_healthcheck()) is None
        names: list[str] = []
        if ok:
            flows = {f.id: f.name for f in await client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=FLOWS)))}
            if flows:
                deps = await client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=FLOWS)))
                names = sorted(f"{flows.get(d.flow_id, '?')}/{d.name}" for d in deps)
        return {"reachable": ok, "deployments": names}  # no URL: the client needs none, an attacker would
