"""The REST API end to end: PostgreSQL + a Prefect server on it + `cadrecon serve` + `cadrecon api`,
all real processes on loopback. The seed's workflow (extract -> render -> convert -> validate) runs
as Prefect runs that reach Completed, progress is read back through the API, and stop cancels."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.deployments.stack import Stack, pg_binary

pytestmark = pytest.mark.timeout(900)

REQUIRED = os.environ.get("CADRECON_TEST_REQUIRE_POSTGRES") == "1"
FUZZ_EXAMPLES = int(os.environ.get("CADRECON_FUZZ_EXAMPLES", "25"))
FUZZ_SEED = int(os.environ.get("CADRECON_FUZZ_SEED", time.strftime("%Y%m%d")))
"""The generated requests change once a day (so the space is covered over time) and are replayed
within the day; a failure names its seed: CADRECON_FUZZ_SEED=<seed> replays it."""


@pytest.fixture(scope="module")
def stack():
    if not (pg_binary("initdb") and pg_binary("postgres")):
        if REQUIRED:
            pytest.fail("PostgreSQL (initdb, postgres) is not installed; `make test` installs it")
        pytest.skip("PostgreSQL is not installed")
    s = Stack()
    try:
        # Small, quick builds: 64 px line drawings, 2 worker processes.
        yield s.start(CADRECON_DATASET__WORKERS="2", CADRECON_RENDER__STYLE="lines", CADRECON_API__DEAD_RUN_AFTER_S="20")
    except Exception:
        for name in ("postgres", "prefect-server", "serve", "api"):
            print(f"--- {name} ---\n{s.log(name)[-4000:]}")
        raise
    finally:
        s.stop()


def _client(stack: Stack, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=stack.api, headers=headers, timeout=30)


def _wait(api: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body = api.get(f"/training/jobs/{job_id}/progress").json()
        seen.append(body)
        if body["status"] in ("completed", "failed"):
            return {**body, "history": seen}
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {timeout} s")


def test_seed_workflow_builds_a_dataset_through_prefect(stack):
    api = _client(stack, stack.token)
    r = api.post("/training/datasets/extract", json={"source": "synthetic", "train_size": 6, "val_size": 2,
                                                       "test_size": 0, "output_name": "it-small", "layout": "per_view"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] and body["status"] == "started" and body["output_path"].endswith("datasets/it-small")
    done = _wait(api, body["job_id"])
    assert done["status"] == "completed" and done["state"] == "Completed", (done, stack.log("serve")[-3000:])
    n = done["stages"]["extract"]["models"]  # 8 generated, less those whose 8-bit solid is another part
    assert 6 <= n <= 8

    r = api.post("/training/datasets/it-small/render", json={"views": ["front", "top", "right"], "resolution": 64,
                                                             "batch_size": 4})
    assert r.status_code == 202, r.text
    assert r.json()["models_to_process"] == n and r.json()["images_to_create"] == 3 * n
    done = _wait(api, r.json()["job_id"])
    assert done["status"] == "completed", done
    assert done["progress"]["current"] == done["progress"]["total"] == n and done["progress"]["percentage"] == 100
    assert done["progress"]["images_rendered"] == 3 * n
    assert done["stats"] == {"succeeded": n, "failed": 0, "warnings": 0}
    assert done["stages"]["render"]["shards"] == 2

    r = api.post("/training/datasets/it-small/convert", json={"format": "tinyllava", "randomize_templates": False,
                                                              "wait_s": 240})
    assert r.status_code == 202, r.text
    out = r.json()["output"]
    assert out["train_file"].endswith("it-small/train.json")
    assert out["train_conversations"] + out["val_conversations"] == 3 * n  # a sample per view
    assert out["train_conversations"] >= 12

    r = api.post("/training/datasets/it-small/validate", json={"wait_s": 240})
    assert r.status_code == 202, r.text
    v = r.json()
    assert v["report_is_current"] and v["validation"]["format_valid"] and v["validation"]["all_images_exist"]
    assert v["stats"]["train_samples"] == out["train_conversations"] and v["stats"]["image_resolution"] == "64x64"

    status = api.get("/training/datasets/it-small/status").json()
    assert status["status"] == "ready"
    assert set(status["stages"].values()) == {"completed"} and status["progress"]["percentage"] == 100
    listed = {d["name"]: d for d in api.get("/training/datasets").json()["datasets"]}
    assert listed["it-small"]["conversations"] == 3 * n and listed["it-small"]["images"] == 3 * n


def test_stop_cancels_a_running_build(stack):
    api = _client(stack, stack.token)
    # A small build (its extract is most of the cost) whose render takes long enough to be stopped:
    # 512 px line drawings of 150 models in shards of 8.
    r = api.post("/training/datasets/extract", json={"source": "synthetic", "train_size": 150, "val_size": 0,
                                                       "test_size": 0, "output_name": "it-big"})
    assert r.status_code == 202, r.text
    _wait(api, r.json()["job_id"])
    r = api.post("/training/datasets/it-big/render", json={"resolution": 512, "batch_size": 8})
    job = r.json()["job_id"]
    deadline = time.monotonic() + 120
    while api.get(f"/training/jobs/{job}/progress").json()["state"] != "Running":
        assert time.monotonic() < deadline, "the render run never started"
        time.sleep(0.5)
    time.sleep(1)
    stop = api.post(f"/training/jobs/{job}/stop")
    assert stop.status_code == 200 and stop.json()["success"], stop.text
    deadline = time.monotonic() + 90
    while (state := api.get(f"/training/jobs/{job}/progress").json())["state"] != "Cancelled":
        assert time.monotonic() < deadline, f"still {state['state']} 90 s after stop"
        time.sleep(1)
    assert state["status"] == "failed" and state["progress"]["percentage"] < 100
    # The dataset's scope is free again: a new request is accepted, not refused as busy.
    again = api.post("/training/datasets/it-big/render", json={"resolution": 512, "batch_size": 8})
    assert again.status_code == 202 and again.json()["job_id"] != job
    api.post(f"/training/jobs/{again.json()['job_id']}/stop")


def test_a_build_whose_serve_was_killed_frees_its_dataset(stack):
    """kill -9 of `cadrecon serve` (and its flow) mid-build: the run stops beating, and within a
    minute the same request starts a new run (the dead one ends Crashed) on the restarted serve
    (the stack judges a run dead after 20 s without a beat; the default is 40)."""
    api = _client(stack, stack.token)
    r = api.post("/training/datasets/extract", json={"source": "synthetic", "train_size": 150, "val_size": 0,
                                                       "test_size": 0, "output_name": "it-orphan"})
    _wait(api, r.json()["job_id"])
    body = {"resolution": 512, "batch_size": 8}  # 150 models of 512 px line drawings: long enough to kill
    job = api.post("/training/datasets/it-orphan/render", json=body).json()["job_id"]
    deadline = time.monotonic() + 240
    while (state := api.get(f"/training/jobs/{job}/progress").json()["state"]) != "Running":
        assert time.monotonic() < deadline and state not in ("Completed", "Failed", "Crashed", "Cancelled"), state
        time.sleep(0.3)
    time.sleep(2)
    stack.kill_process("serve")
    killed = time.monotonic()
    stack.start_serve()
    while True:
        r = api.post("/training/datasets/it-orphan/render", json=body)
        assert r.status_code == 202, r.text
        if r.json()["job_id"] != job:
            break
        assert time.monotonic() - killed < 60, "the dead run was still handed back a minute after serve died"
        time.sleep(2)
    old = api.get(f"/training/jobs/{job}/progress").json()
    assert old["state"] == "Crashed" and "no heartbeat" in old["message"], old
    api.post(f"/training/jobs/{r.json()['job_id']}/stop")


def test_token_and_input_checks_on_the_live_api(stack):
    anon = _client(stack, None)
    assert anon.get("/health").status_code == 200
    r = anon.post("/training/datasets/extract", json={"source": "synthetic", "output_name": "x"})
    assert r.status_code == 401 and r.json()["detail"].startswith("missing bearer token")
    wrong = _client(stack, "nope")
    assert wrong.post("/training/jobs/00000000-0000-0000-0000-000000000000/stop").status_code == 401
    api = _client(stack, stack.token)
    assert api.get("/training/jobs/00000000-0000-0000-0000-000000000000/progress").status_code == 404
    assert api.post("/training/datasets/extract", json={"output_name": "../etc"}).status_code == 422


def test_twenty_concurrent_extracts_on_two_replicas_start_one_run(stack):
    """20 requests for one new dataset at once, split over two API processes on the PostgreSQL-backed
    Prefect server (the `docker compose --scale api=2` case): exactly one run, 19 answers 409 naming it."""
    import asyncio

    second = stack.start_api("api-2")

    async def go():
        headers = {"Authorization": f"Bearer {stack.token}"}
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            return await asyncio.gather(*(
                client.post(f"{(stack.api, second)[i % 2]}/training/datasets/extract",
                            json={"source": "synthetic", "train_size": 4 + i, "val_size": 1, "test_size": 0,
                                  "output_name": "it-raced"})
                for i in range(20)))

    answers = asyncio.run(go())
    started = [r for r in answers if r.status_code == 202]
    assert len(started) == 1, [(r.status_code, r.text[:100]) for r in answers]
    job_id = started[0].json()["job_id"]
    refused = [r for r in answers if r is not started[0]]
    assert all(r.status_code == 409 and job_id in r.json()["detail"] for r in refused), [r.text[:100] for r in refused]
    done = _wait(_client(stack, stack.token), job_id)
    assert done["status"] == "completed", done
    stack.stop_process("api-2")


@pytest.fixture(scope="module")
def fuzz_api(stack):
    """The API with nothing serving the deployments (the runs fuzzing starts stay Scheduled and
    cost nothing), on a process whose waits are capped at 2 s."""
    stack.stop_process("serve")
    return stack.start_api("api-fuzz", CADRECON_API__WAIT_MAX_S="2")


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_property_based_requests_find_no_server_error(fuzz_api, stack, mode):
    """Every operation of the OpenAPI spec, with generated valid (positive) and invalid (negative)
    input, with the token: no 5xx. (Schemathesis' own pytest plugin does not load under pytest 9,
    so its strategies drive hypothesis directly.)"""
    from hypothesis import given, seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{fuzz_api}/openapi.json")
    auth = {"Authorization": f"Bearer {stack.token}"}
    # No absolute path in any body: not the data folder, the stack's folder, the repository, the temp folder.
    server_folders = [str(stack.dir), str(stack.dir.resolve()), str(Path.cwd()), tempfile.gettempdir() + "/"]
    seen: dict[str, set[int]] = {}
    nothing_to_break = []
    for result in schema.get_all_operations():
        op = result.ok()

        @seed(FUZZ_SEED)
        @given(case=op.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call(headers=auth, timeout=30)
            seen.setdefault(case.operation.label, set()).add(response.status_code)
            assert response.status_code < 500, f"seed {FUZZ_SEED}: {case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            leaked = [root for root in server_folders if root in response.text]
            assert not leaked, f"seed {FUZZ_SEED}: {case.method} {case.formatted_path}: {leaked[0]} in {response.text[:300]}"

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (GET /health, GET /training/datasets)
            assert mode == "negative" and op.label in ("GET /health", "GET /training/datasets")
            nothing_to_break.append(op.label)
    print(mode, {k: sorted(v) for k, v in sorted(seen.items())})
    assert len(seen | dict.fromkeys(nothing_to_break)) == 15

