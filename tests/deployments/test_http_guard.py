"""The API process as an attacker meets it (`deployments.http_guard`): request heads past 64 KiB are
refused before a token is asked for and cost no memory, connections that do not send a whole head
in time are closed (slow clients hold no descriptors), and SIGTERM ends it in seconds with
connections open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(tmp_path):
    from prefect.settings import PREFECT_API_URL

    port = _free_port()
    env = {**os.environ, "CADRECON_DATA_DIR": str(tmp_path / "data"), "CADRECON_API__TOKEN": "t0ken",
           "CADRECON_API__HEAD_TIMEOUT_S": "2", "PREFECT_API_URL": PREFECT_API_URL.value()}
    proc = subprocess.Popen([sys.executable, "-m", "deployments.cli", "api", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the API did not start")
            time.sleep(0.3)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def _huge_header(port: int, size: int, out: list) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\nX-Big: ")
            chunk = b"a" * 2**20
            for _ in range(size // len(chunk)):
                s.sendall(chunk)
            s.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server answered and closed while the header was still coming: refused early
        try:
            out.append(s.recv(200).split(b"\r\n", 1)[0])
        except OSError:
            out.append(b"reset")


def test_huge_request_heads_are_refused_and_cost_no_memory(api):
    proc, port = api
    for _ in range(3):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)  # warm: the RSS to compare with
    before = _rss_mb(proc.pid)
    answers: list = []
    threads = [threading.Thread(target=_huge_header, args=(port, 64 * 2**20, answers)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 4 and not any(a.startswith(b"HTTP/1.1 200") for a in answers), answers
    assert all(a.split(b" ")[1:2] in ([b"400"], [b"431"]) or a in (b"", b"reset") for a in answers), answers
    assert _rss_mb(proc.pid) - before < 20, (before, _rss_mb(proc.pid))
    # 10,000 small headers: the same 64 KiB bound, not a count
    many = "".join(f"X-{i}: v\r\n" for i in range(10_000))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET /health HTTP/1.1\r\nHost: api\r\n{many}\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 431")
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200


def test_slow_clients_are_dropped_and_hold_no_descriptors(api):
    proc, port = api
    fds = psutil.Process(proc.pid).num_fds()
    slow = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: ap")  # a head that never ends
        slow.append(s)
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200  # others are served
    time.sleep(3.5)  # head_timeout_s is 2 here
    closed = sum(1 for s in slow if s.recv(10) == b"")
    for s in slow:
        s.close()
    assert closed == 200
    time.sleep(0.5)
    assert psutil.Process(proc.pid).num_fds() <= fds + 5


def test_sigterm_with_connections_open_exits_in_seconds(api):
    proc, port = api
    idle = socket.create_connection(("127.0.0.1", port), timeout=30)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n")  # keep-alive, then idle
    idle.recv(1000)
    half = socket.create_connection(("127.0.0.1", port), timeout=30)
    half.sendall(b"GET /health HTTP/1.1\r\n")
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.monotonic() - t < 5
    idle.close()
    half.close()


def test_waiting_requests_answer_at_once_when_the_server_stops(monkeypatch):
    import asyncio
    import types

    from deployments import http_guard
    from deployments.routes.datasets import wait_for

    job = types.SimpleNamespace(final=False, id="j")
    monkeypatch.setattr(http_guard, "_server", types.SimpleNamespace(should_exit=True))
    t = time.monotonic()
    assert asyncio.run(wait_for(job, 60, 600)) is job  # the run's state as it stands, no wait
    assert time.monotonic() - t < 0.5
