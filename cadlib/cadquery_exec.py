"""Executing CadQuery code with the real `cadquery` package, in the environment that has it.

cadquery 2.8 requires cadquery-ocp < 8, while cadrecon runs on cadquery-ocp 8 (its OCP API), so
CadQuery lives in its own virtual environment, `.venv-cq` beside the project's `.venv` (the
Makefile's set-up creates it), or wherever `CADRECON_CADQUERY_PYTHON` points. A persistent worker
(`cadlib/cadquery_worker.py`) runs there; each process keeps one and feeds it scripts, so
CadQuery's import (~2-3 s) is paid once. A script's solid comes back as a STEP file that
`cadlib.occ` reads, so it can be compared with the solid cadrecon builds.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from cadlib.errors import UnsupportedFormat

WORKER = Path(__file__).with_name("cadquery_worker.py")
ENV_VAR = "CADRECON_CADQUERY_PYTHON"
GRACE_S = 5.0
"""How long past a script's own time limit the caller waits before killing the worker."""


@dataclass(frozen=True, slots=True)
class CadQueryRun:
    """What one script gave, as CadQuery measures it; `step` holds the solid when `ok`."""

    ok: bool
    error: str = ""
    solids: int = 0
    valid: bool = False
    volume: float = 0.0
    step: str = ""


def cadquery_python() -> str:
    """The interpreter that has CadQuery: $CADRECON_CADQUERY_PYTHON, else `.venv-cq` beside this
    interpreter's virtual environment.

    Raises:
        UnsupportedFormat: none is there (says how to make it).
    """
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        if not Path(explicit).is_file():
            raise UnsupportedFormat(f"{ENV_VAR}={explicit}: no such interpreter")
        return explicit
    candidate = Path(sys.prefix).parent / ".venv-cq" / "bin" / "python"
    if candidate.is_file():
        return str(candidate)
    raise UnsupportedFormat(
        f"CadQuery is not installed: run `make setup` (it creates {candidate.parent.parent}) or set {ENV_VAR} "
        "to a Python that has cadquery 2.8")


class _Worker:
    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both PIPE
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        hello = self.stdout.readline()
        if not hello:
            raise UnsupportedFormat(f"{python}: the CadQuery worker did not start (is cadquery installed there?)")
        self.version = json.loads(hello).get("cadquery", "")

    def run(self, code: str, step: str, timeout: float) -> dict:
        """One script's answer; TimeoutError when none comes within `timeout` plus a grace (the
        script hangs in native code, where the worker's own alarm cannot stop it)."""
        self.stdin.write(json.dumps({"code": code, "step": step, "timeout": timeout}) + "\n")
        self.stdin.flush()
        ready, _, _ = select.select([self.stdout], [], [], timeout + GRACE_S)
        if not ready:
            raise TimeoutError(f"no answer after {timeout + GRACE_S:g} s")
        line = self.stdout.readline()
        if not line:
            raise RuntimeError("the CadQuery worker died")
        return json.loads(line)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_worker: _Worker | None = None
_lock = threading.Lock()


def run_cadquery(code: str, step: str | Path, *, timeout_s: float = 10.0) -> CadQueryRun:
    """Runs one CadQuery script and writes its `result` to `step` (STEP).

    A script that crashes the worker (OCCT can segfault) gives a failed run and a fresh worker.
    """
    global _worker
    with _lock:
        worker = _live_worker()
        try:
            out = worker.run(code, str(step), timeout_s)
        except TimeoutError as exc:
            worker.kill()
            _worker = None
            return CadQueryRun(False, f"Timeout: the script hangs ({exc}); its process was killed")
        except (RuntimeError, BrokenPipeError, OSError, ValueError):
            worker.close()
            _worker = None
            return CadQueryRun(False, "WorkerCrash: the script crashed CadQuery's process")
    if not out.get("ok"):
        return CadQueryRun(False, out.get("error", ""))
    return CadQueryRun(True, "", int(out["solids"]), bool(out["valid"]), float(out["volume"]), str(step))


def cadquery_version() -> str:
    """The version of the CadQuery that runs the scripts (starts the worker if needed)."""
    with _lock:
        return _live_worker().version


def _live_worker() -> _Worker:
    """This process's worker, started (again) when there is none or it has exited; call under `_lock`."""
    global _worker
    if _worker is None or _worker.proc.poll() is not None:
        _worker = _Worker(cadquery_python())
    return _worker


@atexit.register
def _close() -> None:
    if _worker is not None:
        _worker.close()
