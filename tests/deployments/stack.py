"""A real stack on loopback for the integration test: PostgreSQL, a Prefect server on it,
`cadrecon serve` and `cadrecon api`, each a child process that the fixture starts and stops."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n{tail}")


class Stack:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cadrecon-stack-"))
        os.chmod(self.dir, 0o755)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.token = "integration-token"
        self.env: dict[str, str] = {}
        self.api = ""

    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> tuple[subprocess.Popen, Path]:
        log = self.dir / f"{name}.log"
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=self.dir if name == "postgres" else None, start_new_session=True)
        self.procs.append((name, proc))
        return proc, log

    def start_postgres(self) -> str:
        data = self.dir / "pg"
        data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(_as_postgres([pg_binary("initdb"), "-D", str(data), "-U", "prefect", "--auth=trust",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
        port = free_port()
        proc, log = self._spawn("postgres", _as_postgres([
            pg_binary("postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"]))

        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return b"ready to accept connections" in log.read_bytes()

        wait_until(ready, 60, "postgres", proc, log)
        return f"postgresql+asyncpg://prefect@127.0.0.1:{port}/postgres"

    def start_prefect(self, db_url: str) -> str:
        port = free_port()
        env = {**os.environ, "PREFECT_HOME": str(self.dir / "prefect-home"), "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        proc, log = self._spawn("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                                   "--port", str(port)], env)
        url = f"http://127.0.0.1:{port}/api"
        wait_until(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 180, "prefect server", proc, log)
        return url

    def start(self, **settings_env: str) -> Stack:
        db = self.start_postgres()
        prefect_api = self.start_prefect(db)
        self.env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(self.dir / "client-home"),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "CADRECON_DATA_DIR": str(self.dir / "data"),
                    "CADRECON_API__TOKEN": self.token, **settings_env}
        self._spawn("serve", [str(BIN / "cadrecon"), "serve"], self.env)
        self.api = self.start_api()
        return self

    def start_api(self, name: str = "api", **extra_env: str) -> str:
        """Another `cadrecon api` process on the same Prefect server; returns its URL once it
        reports the served deployments."""
        port = free_port()
        api, api_log = self._spawn(name, [str(BIN / "cadrecon"), "api", "--port", str(port)], {**self.env, **extra_env})
        url = f"http://127.0.0.1:{port}"

        def served() -> bool:
            body = httpx.get(f"{url}/health", timeout=5).json()
            return "build-dataset/on-demand" in body["prefect"]["deployments"]

        wait_until(served, 180, f"cadrecon {name} (and serve)", api, api_log)
        return url

    def stop_process(self, name: str) -> None:
        for n, proc in self.procs:
            if n == name and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)

    def kill_process(self, name: str) -> None:
        """kill -9 of the process and every process it started (its session)."""
        for n, proc in self.procs:
            if n == name and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)

    def start_serve(self) -> None:
        self._spawn("serve", [str(BIN / "cadrecon"), "serve"], self.env)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
