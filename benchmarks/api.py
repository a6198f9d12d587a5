"""The REST API's cost: latency of starting a run and of reading one back, through the API and
straight through Prefect's client, measured in the same run against the same server.

    python benchmarks/api.py [--n 50] [--load 2000] [--connections 20] [--postgres postgresql+asyncpg://...]

Starts `prefect server start` (SQLite under a temporary PREFECT_HOME, or the given PostgreSQL),
registers the on-demand deployments without serving them (runs stay Scheduled: this measures the
API and Prefect, not the flows), then
1. times N requests of each kind in process (httpx over ASGI, so no network stack is counted);
2. under load: a real `cadrecon api` process (uvicorn) and `--load` requests each of GET /health
   and GET /training/datasets over `--connections` keep-alive connections at once, from a minimal
   asyncio HTTP/1.1 client (so the client's own cost stays small next to the server's): p50/p99.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(samples: list[float]) -> dict:
    ms = sorted(1000 * s for s in samples)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "mean_ms": round(statistics.fmean(ms), 1)}


async def _measure(n: int, data_dir: str) -> dict:
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    from config import load_settings
    from deployments.api import create_app
    from deployments.serve import build_deployments

    settings = load_settings("demo", data_dir=data_dir, api={"token": "bench"})
    deps = await asyncio.to_thread(build_deployments, settings)
    for d in deps:
        if d.name != "nightly":
            await d.aapply()
    app = create_app(settings)
    auth = {"Authorization": "Bearer bench"}
    out: dict = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
        # warm both paths once
        await api.get("/health")
        starts, direct, progress, raw, listing = [], [], [], [], []
        ids = []
        for i in range(n):
            body = {"source": "synthetic", "train_size": 4, "val_size": 1, "output_name": f"bench-{i}"}
            t = time.perf_counter()
            r = await api.post("/training/datasets/extract", json=body, headers=auth)
            starts.append(time.perf_counter() - t)
            assert r.status_code == 202, r.text
            ids.append(r.json()["job_id"])
        async with get_client() as client:
            for i in range(n):
                t = time.perf_counter()
                await arun_deployment("build-dataset/on-demand", client=client, timeout=0, as_subflow=False,
                                      parameters={"preset": "demo", "name": f"direct-{i}", "until": "extract"})
                direct.append(time.perf_counter() - t)
            for job in ids:
                t = time.perf_counter()
                await client.read_flow_run(UUID(job))
                raw.append(time.perf_counter() - t)
        for job in ids:
            t = time.perf_counter()
            r = await api.get(f"/training/jobs/{job}/progress")
            progress.append(time.perf_counter() - t)
            assert r.status_code == 200
        for _ in range(max(5, n // 5)):
            t = time.perf_counter()
            await api.get("/training/datasets")
            listing.append(time.perf_counter() - t)
        for job in ids:
            await api.post(f"/training/jobs/{job}/stop", headers=auth)
    out["start_via_api"] = _stats(starts)
    out["start_via_arun_deployment"] = _stats(direct)
    out["start_api_over_direct"] = round(statistics.median(starts) / statistics.median(direct), 2)
    out["progress_via_api"] = _stats(progress)
    out["read_flow_run_direct"] = _stats(raw)
    out["progress_api_over_read_flow_run"] = round(statistics.median(progress) / statistics.median(raw), 2)
    out["list_datasets"] = _stats(listing)
    return out


async def _load(host: str, port: int, path: str, total: int, connections: int) -> dict:
    """`total` GETs of `path` over `connections` keep-alive connections; latency per request."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    left = [total]

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        try:
            while left[0] > 0:
                left[0] -= 1
                t = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t)
                code = int(head.split(b" ", 2)[1])
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    wall = time.perf_counter() - t0
    ms = sorted(1000 * x for x in latencies)
    return {"requests": len(ms), "connections": connections, "statuses": statuses,
            "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2), "requests_per_s": round(len(ms) / wall, 1)}


def _wait_healthy(url: str, proc: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    """Polls `url` until it answers 200; SystemExit when `proc` dies or `timeout_s` passes."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.5)


def _under_load(data_dir: str, total: int, connections: int) -> dict:
    """A real `cadrecon api` process (with the benchmark's datasets on disk) under concurrent GETs."""
    from flows.build_dataset import run_build

    os.environ["CADRECON_DATA_DIR"] = data_dir
    for name in ("listed-a", "listed-b"):  # something to list: two small built datasets
        run_build("demo", name=name, overrides={"data_dir": data_dir, "dataset": {"train_size": 8, "val_size": 2,
                                                                                    "test_size": 2}})
    port = _port()
    env = {**os.environ, "CADRECON_DATA_DIR": data_dir, "CADRECON_API__TOKEN": "bench"}
    api = subprocess.Popen([str(Path(sys.executable).parent / "cadrecon"), "api", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", api, "cadrecon api")
        out = {}
        for label, path in (("health", "/health"), ("list_datasets", "/training/datasets")):
            asyncio.run(_load("127.0.0.1", port, path, 100, connections))  # warm-up
            out[label] = asyncio.run(_load("127.0.0.1", port, path, total, connections))
        return out
    finally:
        api.terminate()
        api.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--load", type=int, default=2000, help="requests per endpoint in the load phase (0: skip it)")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--postgres", help="a PostgreSQL URL for the server (default: SQLite)")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="cadrecon-bench-api-")
    port = _port()
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if args.postgres:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = args.postgres
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api"
        _wait_healthy(f"{url}/health", server, "the Prefect server")
        os.environ["PREFECT_API_URL"] = url
        os.environ["PREFECT_HOME"] = home
        result = asyncio.run(_measure(args.n, str(Path(home) / "data")))
        if args.load:
            result["under_load"] = _under_load(str(Path(home) / "data"), args.load, args.connections)
        result = {"database": "postgresql" if args.postgres else "sqlite", "cpus": os.cpu_count(), **result}
        print(json.dumps(result, indent=1))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
