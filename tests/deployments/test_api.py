"""The REST API in process, against the temporary Prefect server: the token, input checks, upload
limits, 404/409/503 answers, JSON errors, and starting / reusing / cancelling runs that nothing
serves (so they stay Scheduled). The end-to-end runs are in test_api_integration.py."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from config import load_settings
from deployments.api import create_app
from deployments.jobs import Job
from deployments.serve import build_deployments
from deployments.views import build_progress, convergence_results, seed_status

pytestmark = pytest.mark.usefixtures("prefect_server")
TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_JOB = "00000000-0000-0000-0000-000000000000"


def _settings(tmp_path: Path, **api):
    return load_settings("demo", data_dir=str(tmp_path / "data"), api={"token": TOKEN, **api})


def call(app, method: str, url: str, **kw) -> httpx.Response:
    """One request through the ASGI app, in this thread (so Prefect's test-server settings apply)."""

    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, url, **kw)

    return asyncio.run(go())


def _register(settings, present: bool) -> None:
    """Registers (or removes) the on-demand deployments; nothing serves them."""
    asyncio.run(_aregister(build_deployments(settings), present))


async def _aregister(deployments: list, present: bool) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    for dep in deployments:
        if dep.name == "nightly":
            continue
        if present:
            await dep.aapply()
        else:
            async with get_client() as client:
                try:
                    found = await client.read_deployment_by_name(f"{dep.flow_name}/{dep.name}")
                except ObjectNotFound:
                    continue
                await client.delete_deployment(found.id)


@pytest.fixture
def app(tmp_path):
    settings = _settings(tmp_path)
    _register(settings, True)
    return create_app(settings)


def _adapter(settings) -> Path:
    path = Path(settings.data_dir) / "runs" / "x-tiny_cpu-full" / "adapter"
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    return path


def test_every_mutating_endpoint_needs_the_token(tmp_path):
    app = create_app(_settings(tmp_path))
    posts = [p for p, ops in app.openapi()["paths"].items() if "post" in ops]
    assert len(posts) == 8
    for path in posts:
        url = path.replace("{name}", "demo").replace("{job_id}", NO_JOB)
        r = call(app, "POST", url, json={})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (path, r.text)
        assert call(app, "POST", url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert call(app, "GET", "/training/datasets").status_code == 200  # reads are open by default
    locked = create_app(_settings(tmp_path, protect_reads=True))
    assert call(locked, "GET", "/training/datasets").status_code == 401
    assert call(locked, "GET", "/training/datasets", headers=AUTH).status_code == 200
    assert call(locked, "GET", "/health").status_code == 200


def test_a_generated_token_when_none_is_set(tmp_path, caplog):
    settings = load_settings("demo", data_dir=str(tmp_path / "data"))
    app = create_app(settings)
    assert len(app.state.token) >= 24 and app.state.token not in caplog.text
    r = call(app, "POST", "/training/jobs/x/stop", headers={"Authorization": f"Bearer {app.state.token}"})
    assert r.status_code == 404


@pytest.mark.parametrize("name", ["..", "a..b", "a%2Fb", "a%01b", "-lead", "x" * 65])
def test_bad_dataset_names_are_refused(app, name):
    r = call(app, "GET", f"/training/datasets/{name}/status")
    assert r.status_code in (404, 422), r.text  # %2F splits the path: no such route
    r = call(app, "POST", f"/training/datasets/{name}/render", json={}, headers=AUTH)
    assert r.status_code in (404, 422) and "detail" in r.json()


@pytest.mark.parametrize("name", ["../etc", "a/b", "a\x01b", "a..b", ""])
def test_bad_output_names_are_refused(app, name):
    r = call(app, "POST", "/training/datasets/extract", json={"source": "synthetic", "output_name": name},
             headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"].startswith("output_name:"), r.text


def test_paths_outside_the_data_folder_are_refused(app):
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "files", "output_name": "x", "path": "../../etc"})
    assert r.status_code == 400 and "must lie under the data folder" in r.json()["detail"]
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "files", "output_name": "x", "path": "a\u0000b"})  # found by schemathesis
    assert r.status_code == 400 and "null byte" in r.json()["detail"]


def test_upload_limits(tmp_path):
    settings = _settings(tmp_path, max_upload_mb=0.01)
    _register(settings, True)
    app = create_app(settings)
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("part.exe", b"MZ" * 10)})
    assert r.status_code == 415 and "part.exe" in r.json()["detail"] and ".step" in r.json()["detail"]
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("part.stl", b"solid x\nendsolid x\n")})
    assert r.status_code == 409 and "no trained model" in r.json()["detail"]
    r = call(app, "POST", "/reconstruct", headers=AUTH, data={"model": "a\x00b"},
             files={"file": ("part.stl", b"solid x\nendsolid x\n")})
    assert r.status_code == 400 and "null byte" in r.json()["detail"]
    _adapter(settings)
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("big.stl", b"0" * 20_000)})
    assert r.status_code == 413 and "0.01 MB" in r.json()["detail"]
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("empty.obj", b"")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("x" * 300 + ".exe", b"MZ")})
    assert r.status_code == 415 and len(r.json()["detail"]) < 200  # a 300-character name is not echoed whole
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "synthetic", "output_name": "p", "preset": "nope"})
    assert r.status_code == 400 and "unknown preset 'nope'" in r.json()["detail"]
    assert str(Path(__file__).resolve().parents[2]) not in r.json()["detail"]  # no server folder in answers
    uploads = Path(settings.data_dir) / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.*"))  # refused uploads leave nothing behind
    r = call(app, "POST", "/reconstruct", headers=AUTH, data={"samples": "2"},
             files={"file": ("../../evil name.STL", b"solid x\nendsolid x\n")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["upload"].startswith("uploads/") and body["output_step"].startswith("uploads/")  # relative
    stored = Path(settings.data_dir) / body["upload"]
    assert stored.is_file() and stored.name == "evil_name.STL" and stored.resolve().is_relative_to(uploads.resolve())
    got = call(app, "GET", f"/reconstruct/{body['job_id']}").json()
    assert got["status"] == "pending" and got["result"] is None
    # a plain multipart upload gets the defaults OpenAPI documents, and the answer names the model
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("part.stl", b"solid x\nendsolid x\n")})
    assert r.status_code == 202, r.text
    schema = call(app, "GET", "/openapi.json").json()
    form = next(v for k, v in schema["components"]["schemas"].items() if k.startswith("Body_post_reconstruct"))
    params = _run_parameters(r.json()["job_id"])
    for field in ("samples", "constrained"):
        assert params[field] == form["properties"][field]["default"], field
    assert params["constrained"] is True
    assert r.json()["model"] == "runs/x-tiny_cpu-full/adapter" and params["model"].endswith(r.json()["model"])
    r = call(app, "POST", "/reconstruct", headers=AUTH, data={"constrained": "false"},
             files={"file": ("part.stl", b"solid x\nendsolid x\n")})
    assert _run_parameters(r.json()["job_id"])["constrained"] is False  # asked for: given


def _run_parameters(job_id: str) -> dict:
    from prefect.client.orchestration import get_client

    async def go() -> dict:
        async with get_client() as client:
            return dict((await client.read_flow_run(job_id)).parameters)

    return asyncio.run(go())


def test_unknown_jobs_are_404(app):
    for url in (f"/training/jobs/{NO_JOB}/progress", "/training/jobs/not-a-uuid/progress",
                f"/training/test-run/{NO_JOB}/results", f"/training/{NO_JOB}/status", f"/reconstruct/{NO_JOB}"):
        r = call(app, "GET", url)
        assert r.status_code == 404 and r.json()["detail"].startswith("no job"), (url, r.text)
    assert call(app, "POST", f"/training/jobs/{NO_JOB}/stop", headers=AUTH).status_code == 404


def test_start_reuse_conflict_and_stop(app):
    body = {"source": "synthetic", "train_size": 4, "val_size": 1, "output_name": "queued"}
    first = call(app, "POST", "/training/datasets/extract", json=body, headers=AUTH)
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["status"] == "started" and not job["reused"] and job["deployment"] == "build-dataset/on-demand"
    again = call(app, "POST", "/training/datasets/extract", json=body, headers=AUTH).json()
    assert again["job_id"] == job["job_id"] and again["reused"] and again["status"] == "running"
    other = call(app, "POST", "/training/datasets/extract", json={**body, "train_size": 5}, headers=AUTH)
    assert other.status_code == 409 and job["job_id"] in other.json()["detail"]

    from prefect.client.orchestration import get_client

    async def parameters(job_id: str) -> dict:
        async with get_client() as client:
            return (await client.read_flow_run(job_id)).parameters

    sizes = asyncio.run(parameters(job["job_id"]))["overrides"]["dataset"]
    assert (sizes["train_size"], sizes["val_size"], sizes["test_size"]) == (4, 1, 1)  # test: as many as val
    progress = call(app, "GET", f"/training/jobs/{job['job_id']}/progress").json()
    assert progress["status"] == "pending" and progress["state"] == "Scheduled" and progress["flow"] == "build-dataset"
    status = call(app, "GET", "/training/datasets/queued/status").json()
    assert status["job_id"] == job["job_id"] and status["stages"]["extraction"] == "pending"
    # Not a train run: the training endpoints do not know it.
    assert call(app, "GET", f"/training/{job['job_id']}/status").status_code == 404

    stop = call(app, "POST", f"/training/jobs/{job['job_id']}/stop", headers=AUTH).json()
    assert stop == {"success": True, "job_id": job["job_id"], "status": "failed", "state": "Cancelled"}
    assert call(app, "POST", f"/training/jobs/{job['job_id']}/stop", headers=AUTH).json()["success"] is False
    fresh = call(app, "POST", "/training/datasets/extract", json={**body, "train_size": 5}, headers=AUTH)
    assert fresh.status_code == 202 and fresh.json()["job_id"] != job["job_id"]
    call(app, "POST", f"/training/jobs/{fresh.json()['job_id']}/stop", headers=AUTH)


def test_client_idempotency_key(app):
    body = {"source": "synthetic", "train_size": 2, "val_size": 1, "output_name": "keyed"}
    headers = {**AUTH, "Idempotency-Key": "click-1"}
    a = call(app, "POST", "/training/datasets/extract", json=body, headers=headers).json()
    call(app, "POST", f"/training/jobs/{a['job_id']}/stop", headers=AUTH)
    b = call(app, "POST", "/training/datasets/extract", json=body, headers=headers).json()
    assert b["job_id"] == a["job_id"]  # the same key is the same run, even once it has ended


def test_a_source_the_build_cannot_read_is_refused_before_a_run_exists(app, tmp_path):
    for body, why in [({"source": "deepcad"}, "needs dataset.path"),
                      ({"source": "deepcad", "path": "."}, "no DeepCAD download here"),
                      ({"source": "files", "path": "nowhere"}, "not a folder")]:
        r = call(app, "POST", "/training/datasets/extract", headers=AUTH, json={**body, "output_name": "nosrc"})
        assert r.status_code == 400 and why in r.json()["detail"] and "\n" not in r.json()["detail"], r.text
    from deployments import jobs

    assert asyncio.run(jobs.scope_runs("dataset:nosrc", active_only=False, limit=5)) == []


def test_stages_need_an_extracted_dataset_and_training_a_built_one(app):
    r = call(app, "POST", "/training/datasets/nothing/render", json={}, headers=AUTH)
    assert r.status_code == 409 and "POST /training/datasets/extract first" in r.json()["detail"]
    r = call(app, "POST", "/training/test-run", json={"dataset": "nothing"}, headers=AUTH)
    assert r.status_code == 409 and "not built" in r.json()["detail"]
    r = call(app, "POST", "/training/start", json={"dataset": "nothing", "config": {"use_lora": False}}, headers=AUTH)
    assert r.status_code == 422 and "LoRA" in r.json()["detail"]
    assert call(app, "GET", "/training/datasets/nothing/status").status_code == 404


def test_a_base_model_that_cannot_be_loaded_is_refused_before_a_run_exists(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    settings = _settings(tmp_path)
    _register(settings, True)
    app = create_app(settings)
    ds = Path(settings.data_dir) / "datasets" / "built"
    ds.mkdir(parents=True, exist_ok=True)
    (ds / "train.json").write_text("[]")
    for model, why in [("Qwen/Qwen2-VL-2B-Instruct", "hf download Qwen/Qwen2-VL-2B-Instruct"),
                       ("a/../../../../etc", "no such model folder")]:
        r = call(app, "POST", "/training/start", headers=AUTH,
                 json={"dataset": "built", "recipe": "qwen2_vl_2b_lora", "config": {"base_model": model}})
        assert r.status_code == 400 and why in r.json()["detail"] and "\n" not in r.json()["detail"], r.text
    r = call(app, "POST", "/training/test-run", json={"dataset": "built", "recipe": "qwen2_vl_2b_lora"}, headers=AUTH)
    assert r.status_code == 400 and "hf download" in r.json()["detail"], r.text
    from deployments import jobs

    assert asyncio.run(jobs.scope_runs("train:built:full", active_only=False, limit=5)) == []  # no run made


def test_missing_deployment_is_503_with_what_to_do(tmp_path):
    settings = _settings(tmp_path)
    _register(settings, False)
    app = create_app(settings)
    r = call(app, "POST", "/training/datasets/extract", json={"source": "synthetic", "output_name": "x"}, headers=AUTH)
    assert r.status_code == 503 and "cadrecon serve" in r.json()["detail"]
    _adapter(settings)
    r = call(app, "POST", "/reconstruct", headers=AUTH, files={"file": ("part.stl", b"solid x\nendsolid x\n")})
    assert r.status_code == 503 and "reconstruct/on-demand" in r.json()["detail"]
    uploads = Path(settings.data_dir) / "uploads"
    assert not any(uploads.rglob("*.stl"))  # no run will read it: not kept
    health = call(app, "GET", "/health").json()
    assert health["status"] == "degraded" and health["prefect"]["reachable"]


def test_unexpected_errors_are_one_json_line(app, monkeypatch):
    from deployments import jobs

    async def broken(*a, **k):
        raise RuntimeError("disk on fire\nTraceback (most recent call last): ...")

    monkeypatch.setattr(jobs, "scope_runs", broken)
    r = call(app, "GET", "/training/datasets/demo/status")
    assert r.status_code == 500 and r.json() == {"detail": "RuntimeError: disk on fire"}

    async def unreachable(*a, **k):
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(jobs, "scope_runs", unreachable)
    r = call(app, "GET", "/training/datasets/demo/status")
    assert r.status_code == 503 and "ConnectError" in r.json()["detail"]


def test_no_absolute_server_path_in_a_response(tmp_path, monkeypatch):
    """Fields name places relative to the data folder; text the API did not write (an exception, a
    run's message) has the server's folders rewritten on its way out."""
    from deployments import jobs

    settings = _settings(tmp_path)
    _register(settings, True)
    app = create_app(settings)
    data = Path(settings.data_dir).resolve()
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "synthetic", "train_size": 4, "val_size": 1, "output_name": "rel"})
    assert r.status_code == 202 and r.json()["output_path"] == "datasets/rel", r.text
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "files", "output_name": "x", "path": "../../etc"})
    assert r.status_code == 400 and str(data) not in r.text
    r = call(app, "POST", "/training/datasets/extract", headers=AUTH,
             json={"source": "synthetic", "output_name": "x", "preset": "nope"})  # found by schemathesis
    assert r.status_code == 400 and r.json()["detail"].startswith("unknown preset 'nope'") and str(Path.cwd()) not in r.text, r.text

    async def leaky(*a, **k):
        raise OSError(f"[Errno 28] No space left on device: '{data}/datasets/demo/images/a.png' "
                      f"(cwd {Path.cwd()})")

    monkeypatch.setattr(jobs, "scope_runs", leaky)
    r = call(app, "GET", "/training/datasets/demo/status")
    assert r.status_code == 500
    assert r.json()["detail"] == "OSError: [Errno 28] No space left on device: 'datasets/demo/images/a.png' (cwd <server>)"


def test_openapi_docs_and_redoc(app):
    """Both pages load every asset from the API itself (they work offline: no CDN)."""
    import re

    for page in ("/docs", "/redoc"):
        html = call(app, "GET", page)
        assert html.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert assets and all(a.startswith("/static-docs/") for a in assets), assets
        for a in assets:
            got = call(app, "GET", a)
            assert got.status_code == 200 and len(got.content) > 1000, a
    assert "cdn" not in call(app, "GET", "/docs").text.lower()
    spec = call(app, "GET", "/openapi.json").json()
    extract = spec["components"]["schemas"]["ExtractResponse"]["properties"]
    assert {"success", "job_id", "status", "estimated_time", "output_path"} <= set(extract)  # the seed's fields
    progress = spec["components"]["schemas"]["JobProgress"]["properties"]
    assert {"job_id", "status", "progress", "stats"} <= set(progress)


def _job(state_type: str, artifacts: dict, parameters: dict | None = None, seconds: float = 10.0) -> Job:
    now = datetime.now(UTC)
    return Job(id="j", name="n", flow="build-dataset", state=state_type.title(), state_type=state_type, message=None,
               parameters=parameters or {}, tags=[], created=now, start_time=now - timedelta(seconds=seconds),
               end_time=None, artifacts=artifacts)


def test_build_progress_from_artifacts_mid_render():
    job = _job("RUNNING", {"ds-extract": [{"stage": "extract", "models": 100}], "ds-render-progress": 50.0},
               {"until": "render"})
    p = build_progress(job, views=3)
    assert p.status == "running" and (p.progress.current, p.progress.total, p.progress.percentage) == (50, 100, 50.0)
    assert p.progress.images_rendered == 150 and p.progress.estimated_remaining == pytest.approx(10.0, abs=0.5)
    assert p.stages["render"]["status"] == "in_progress" and "convert" not in p.stages
    done = _job("RUNNING", {"ds-extract": [{"models": 10}],
                            "ds-render": [{"stage": "render", "models": 10, "succeeded": 9, "failed": 1, "warnings": 0}],
                            "ds-convert": [{"stage": "convert", "models": 10, "succeeded": 10, "failed": 0, "warnings": 2}]})
    p = build_progress(done, views=3)
    assert p.stages["validate"]["status"] == "in_progress" and p.progress.current == 20 and p.progress.total == 30
    assert (p.stats.succeeded, p.stats.failed, p.stats.warnings) == (9, 1, 2)
    assert seed_status(_job("CRASHED", {})) == "failed" and seed_status(_job("CANCELLING", {})) == "running"
    # a re-run that read every shard back from disk publishes one table of stages instead of three
    cached = _job("COMPLETED", {"ds-extract": [{"models": 10}], "ds-stages": [
        {"stage": s, "models": 10, "succeeded": 8, "failed": 2, "warnings": 0, "cached": 1}
        for s in ("render", "convert", "validate")]})
    p = build_progress(cached, views=3)
    assert all(p.stages[s]["status"] == "completed" for s in ("render", "convert", "validate"))
    assert (p.stats.succeeded, p.stats.failed) == (4, 6) and p.progress.percentage == 100.0
    # an extract-only run: its models are what succeeded
    extracted = build_progress(_job("COMPLETED", {"ds-extract": [{"stage": "extract", "models": 8}]},
                                    {"until": "extract"}), views=3)
    assert extracted.stats.succeeded == 8 and extracted.progress.percentage == 100.0


def test_convergence_results_and_overfitting():
    rows = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.0}, {"epoch": 2, "train_loss": 1.0, "val_loss": 0.8},
            {"epoch": 3, "train_loss": 0.5, "val_loss": 1.2}]
    job = _job("COMPLETED", {"k-epochs": rows, "k-summary": [{"verdict": "improving", "loss_reduction_pct": 75.0,
                                                               "global_step": 30, "train_seconds": 6.0,
                                                               "samples_per_second": 20.0}]})
    res = convergence_results(job)
    assert res.convergence == "good" and res.overfitting and res.total_improvement == 75.0
    assert res.performance.avg_batch_time == 0.2 and res.epochs == 3
    assert convergence_results(_job("RUNNING", {"k-epochs": rows[:1]})).convergence == "pending"
    # a loss that did not move: the seed's front-end must not read "excellent" and train in full
    from vlm.verdict import verdict

    flat = [{"epoch": e, "train_loss": 7.3165, "val_loss": 7.3165 - 1e-5 * e} for e in (1, 2)]
    reduction, word = verdict(flat)
    res = convergence_results(_job("COMPLETED", {"k-epochs": flat, "k-summary": [
        {"verdict": word, "loss_reduction_pct": reduction, "global_step": 2, "train_seconds": 1.0}]}))
    assert res.convergence == "poor" and res.total_improvement == 0.0


def _streamed(total: int, counter: list, chunk: int = 1 << 20, head: bytes = b""):
    """A body of `total` bytes made as it is read (after `head`); `counter[0]` says how much was read."""

    async def gen():
        yield head
        sent = 0
        while sent < total:
            n = min(chunk, total - sent)
            counter[0] += n
            sent += n
            yield b"0" * n

    return gen()


def test_bodies_are_refused_before_they_cost_anything(tmp_path):
    """No token: a 300 MB upload and a 50 MB JSON body are answered 401 with (almost) nothing read;
    with the token, an upload past the limit is cut off as it streams (413), and a declared size
    over the limit is refused at once. Nothing is written under the data folder."""
    import resource

    settings = _settings(tmp_path, max_upload_mb=1, max_body_kb=64)
    app = create_app(settings)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    read = [0]
    r = call(app, "POST", "/reconstruct", content=_streamed(300 << 20, read),
             headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 401 and read[0] <= 1 << 20, read
    read = [0]
    r = call(app, "POST", "/training/datasets/extract", content=_streamed(50 << 20, read),
             headers={"Content-Type": "application/json", "Authorization": "Bearer wrong"})
    assert r.status_code == 401 and read[0] <= 1 << 20, read
    read = [0]
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.stl"\r\n\r\n'
    r = call(app, "POST", "/reconstruct", content=_streamed(300 << 20, read, head=part),
             headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]
    assert read[0] <= (1 << 20) + (64 << 10) + (1 << 20), read  # the limit, the slack, one chunk
    r = call(app, "POST", "/training/datasets/extract", content=b"{}",
             headers={**AUTH, "Content-Type": "application/json", "Content-Length": str(50 << 20)})
    assert r.status_code == 413 and "52428800 bytes" in r.json()["detail"]
    read = [0]
    r = call(app, "POST", "/training/datasets/extract", content=_streamed(5 << 20, read),
             headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413 and read[0] <= (64 << 10) + (1 << 20)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 20 * 1024  # KiB: < 20 MB
    written = [p for p in Path(settings.data_dir).rglob("*") if p.is_file() and p.name != "api-token"]
    assert sum(p.stat().st_size for p in written) < 1 << 20


def test_a_generated_token_is_written_to_a_private_file_and_never_logged(tmp_path, caplog):
    import stat

    settings = load_settings("demo", data_dir=str(tmp_path / "data"))
    with caplog.at_level("WARNING", logger="cadrecon.api"):
        app = create_app(settings)
    path = Path(settings.data_dir) / "api-token"
    token = path.read_text().strip()
    assert token == app.state.token and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path.resolve()) in caplog.text and token not in caplog.text
    r = call(app, "GET", "/health")
    assert "http" not in r.text and "api_url" not in r.text


def test_twenty_concurrent_extracts_of_one_dataset_start_one_run(app):
    """The busy check and the run's creation are one step: 20 different requests for one dataset
    at once give exactly one run; the 19 others are 409 naming it."""

    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=120) as client:
            return await asyncio.gather(*(
                client.post("/training/datasets/extract", headers=AUTH,
                            json={"source": "synthetic", "train_size": 4 + i, "val_size": 1, "output_name": "raced"})
                for i in range(20)))

    answers = asyncio.run(go())
    started = [r for r in answers if r.status_code == 202]
    assert len(started) == 1, [(r.status_code, r.text[:80]) for r in answers]
    job_id = started[0].json()["job_id"]
    assert all(r.status_code == 409 and job_id in r.json()["detail"] for r in answers if r is not started[0])


def test_the_dataset_list_follows_the_folders_and_locks_between_polls(app):
    """Polls are answered from the last encoded list while nothing changed; a build lock taken, a
    dataset added or its files changed show in the next answer."""
    import json as _json

    from cadlib.dataset.lock import build_lock_path, held

    datasets = Path(app.state.settings.data_dir).resolve() / "datasets"

    def listed() -> dict:
        r = call(app, "GET", "/training/datasets")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        return {d["name"]: d for d in r.json()["datasets"]}

    (datasets / "one").mkdir(parents=True)
    (datasets / "one" / "extract.json").write_text(_json.dumps({"counts": {"train": 3, "val": 1, "test": 1}}))
    first = listed()
    assert first["one"]["status"] != "building" and first["one"]["path"] == "datasets/one"
    assert listed() == first  # the same answer again
    with held(build_lock_path(datasets, "one")):
        assert listed()["one"]["status"] == "building"
    assert listed() == first
    (datasets / "two").mkdir()
    (datasets / "two" / "extract.json").write_text(_json.dumps({"counts": {"train": 1, "val": 0, "test": 0}}))
    assert set(listed()) == {"one", "two"}


def test_images_to_create_follow_the_builds_own_layout(tmp_path):
    """The layout comes from the run's preset and overrides, not the server's default settings."""
    from deployments.routes.datasets import _tiled

    per_view = tmp_path / "pv.yaml"
    per_view.write_text("dataset:\n  layout: per_view\n")
    assert _tiled({"preset": "demo", "overrides": {}})  # the demo preset tiles
    assert not _tiled({"preset": str(per_view), "overrides": {}})
    assert _tiled({"preset": str(per_view), "overrides": {"dataset": {"layout": "tile"}}})


def test_a_run_whose_process_died_frees_its_dataset(app, tmp_path, monkeypatch):
    """A Running run that stopped beating (its `cadrecon serve` killed with -9): the same request
    starts a new run (the dead one ends Crashed), and stop ends a stuck one at once; a run that
    beats is left alone."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import State

    from deployments import jobs
    from flows import heartbeat

    monkeypatch.setattr(jobs, "DEAD_AFTER_S", 1.0)

    async def set_running(job_id: str) -> None:
        async with get_client() as client:
            await client.set_flow_run_state(job_id, State(type=StateType.RUNNING, name="Running"), force=True)

    body = {"source": "synthetic", "train_size": 3, "val_size": 1, "output_name": "orphan"}
    first = call(app, "POST", "/training/datasets/extract", json=body, headers=AUTH).json()
    asyncio.run(set_running(first["job_id"]))
    beat = heartbeat.beats_dir(jobs.DATA_DIR) / f"{first['job_id']}.alive"
    beat.parent.mkdir(parents=True, exist_ok=True)
    beat.touch()  # its process beats: the same request is that run
    again = call(app, "POST", "/training/datasets/extract", json=body, headers=AUTH).json()
    assert again["job_id"] == first["job_id"] and again["reused"]
    beat.unlink()
    time.sleep(1.5)  # no beat for longer than STALE_S: dead
    fresh = call(app, "POST", "/training/datasets/extract", json=body, headers=AUTH)
    assert fresh.status_code == 202 and fresh.json()["job_id"] != first["job_id"], fresh.text
    old = call(app, "GET", f"/training/jobs/{first['job_id']}/progress").json()
    assert old["state"] == "Crashed" and "no heartbeat" in old["message"]
    asyncio.run(set_running(fresh.json()["job_id"]))
    time.sleep(1.5)
    stop = call(app, "POST", f"/training/jobs/{fresh.json()['job_id']}/stop", headers=AUTH).json()
    assert stop["state"] == "Cancelled"  # not Cancelling for good: nothing was left to stop it
