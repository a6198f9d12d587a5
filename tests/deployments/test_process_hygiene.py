"""Entry points as a process manager and a user see them: stopped by SIGTERM mid-work they leave no
process behind (the process tree is listed before and after); wrong arguments are one error line
and no run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), CADRECON_DATA_DIR=str(tmp_path / "data"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _stop_and_check(proc: subprocess.Popen, tree: list[psutil.Process]) -> None:
    proc.send_signal(signal.SIGTERM)
    # Usually 2-6 s; once over 60 s for `serve` while the other test worker ran the realdata build
    # (uvicorn's graceful shutdown waits on the runner's open polls). The test is about what is left
    # behind; 120 s only tells a slow stop from a hang.
    proc.wait(timeout=120)
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]


@pytest.mark.slow
def test_cadrecon_api_stops_its_prefect_server_on_sigterm(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "deployments.cli", "api", "--port", str(port)], cwd=ROOT,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the API did not answer in 120 s")
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert tree, "the API started no Prefect server (is PREFECT_API_URL set?)"
        _stop_and_check(proc, tree)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_cadrecon_dataset_build_stops_its_prefect_server_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "deployments.cli", "dataset", "build", "demo", "--quiet"],
                            cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, tree = time.monotonic() + 120, []
        while time.monotonic() < deadline and proc.poll() is None:
            tree = psutil.Process(proc.pid).children(recursive=True)
            if any("uvicorn" in " ".join(p.cmdline()) or "prefect" in " ".join(p.cmdline()) for p in tree):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the build ended before it could be stopped"
        time.sleep(3)  # mid-work
        tree = psutil.Process(proc.pid).children(recursive=True)
        _stop_and_check(proc, tree)
    finally:
        if proc.poll() is None:
            proc.kill()


def _stop_mid_work(proc: subprocess.Popen, started, what: str, timeout: float = 180) -> None:
    """Waits until `started(tree)` says the work is under way, then SIGTERM and the check."""
    try:
        deadline, tree = time.monotonic() + timeout, []
        while time.monotonic() < deadline and proc.poll() is None:
            tree = psutil.Process(proc.pid).children(recursive=True)
            if started(tree):
                break
            time.sleep(0.5)
        assert proc.poll() is None, f"{what} ended before it could be stopped"
        assert time.monotonic() < deadline, f"{what} never got under way"
        tree = psutil.Process(proc.pid).children(recursive=True)
        _stop_and_check(proc, tree)
    finally:
        if proc.poll() is None:
            proc.kill()


def _runs_a_server(tree: list[psutil.Process]) -> bool:
    try:
        return any("uvicorn" in " ".join(p.cmdline()) or "prefect" in " ".join(p.cmdline()) for p in tree)
    except psutil.Error:
        return False


@pytest.mark.slow
def test_cadrecon_serve_stops_its_prefect_server_on_sigterm(tmp_path):
    """`cadrecon serve` with no PREFECT_API_URL starts the embedded server and serves the
    deployments on it: stopped while serving, both go."""
    proc = subprocess.Popen([sys.executable, "-m", "deployments.cli", "serve"], cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    home = tmp_path / "prefect"
    # Serving: the server is up and the deployments are registered in its database.
    _stop_mid_work(proc, lambda tree: _runs_a_server(tree) and any(home.rglob("*.db")) and time.sleep(5) is None,
                   "serve")


@pytest.mark.slow
def test_cadrecon_train_stops_its_server_and_workers_on_sigterm(tmp_path):
    """Training (the tiny recipe on a small dataset folder) stopped mid-epoch: no process left, and
    a checkpoint of the steps done, which the same command resumes from."""
    from tests.vlm.conftest import make_dataset

    data = make_dataset(tmp_path / "ds", n_train=200, n_val=8)  # 30 epochs of it: minutes
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "deployments.cli", "train", "--dataset", str(data),
                             "--out", str(out), "--minutes", "5"], cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Mid-work: the model is built (its tokenizer saved in the run folder) and training has begun.
    _stop_mid_work(proc, lambda tree: _runs_a_server(tree) and any(out.rglob("*.json"))
                   and time.sleep(5) is None, "train")
    assert list((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))


@pytest.mark.parametrize("args, says", [
    (["train", "--dataset", "nope"], "no built dataset here"),
    (["train", "--recipe", "nope"], "unknown training recipe 'nope'"),
    (["dataset", "build", "demo", "--source", "deepcad", "--path", "/nonexistent"], "no DeepCAD download here"),
    (["dataset", "build", "demo", "--source", "files", "--path", "/nonexistent"], "not a folder"),
    (["evaluate", "--model", "/nonexistent"], "not a trained model folder"),
])
def test_flow_commands_check_their_arguments_before_a_run_starts(tmp_path, args, says):
    """One error line, exit status 2, and no run: no Prefect server was even started."""
    r = subprocess.run([sys.executable, "-m", "deployments.cli", *args], cwd=ROOT, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and says in lines[0], (r.returncode, lines)


@pytest.mark.slow
def test_a_second_build_of_a_dataset_refuses_while_the_first_runs(tmp_path):
    first = subprocess.Popen([sys.executable, "-m", "deployments.cli", "dataset", "build", "demo", "--quiet"],
                             cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = tmp_path / "data" / "datasets" / ".locks" / "demo.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.is_file() and lock.read_text()):
            time.sleep(0.2)
        assert first.poll() is None, "the first build ended before the second started"
        r = subprocess.run([sys.executable, "-m", "deployments.cli", "dataset", "build", "demo", "--quiet"],
                           cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
        lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1, lines
        assert f"dataset 'demo' is busy: held by pid {first.pid}" in lines[0]
    finally:
        first.kill()
        first.wait()


CONFIG_CASES = {
    "typo.yaml": ("dataset:\n  trian_size: 5\n", "unknown key 'dataset.trian_size' (did you mean 'train_size'?)"),
    "broken.yaml": ("dataset: [\n  a: b\n", "broken.yaml:3:1: not valid YAML"),
    "list.yaml": ("- a\n- b\n", "list.yaml: expected a mapping of settings"),
    "binary.yaml": (bytes(range(256)) * 4, "binary.yaml: not a text (UTF-8) YAML file"),
    "wrong_type.yaml": ("dataset:\n  train_size: many\n", "dataset.train_size: Input should be a valid integer"),
}


@pytest.mark.parametrize("args, says", [
    *[(["dataset", "build", "{tmp}/" + name], says) for name, (_, says) in CONFIG_CASES.items()],
    (["dataset", "build", "demo", "--name", "../../etc"], "dataset name '../../etc'"),
    (["train", "--recipe", "{tmp}/typo_recipe.yaml"], "unknown key 'epocs' (did you mean 'epochs'?)"),
    (["train", "--minutes", "-5"], "max_minutes -5.0: Input should be greater than 0 (a value given over the recipe"),
])
def test_configuration_is_checked_before_any_work(tmp_path, args, says):
    """Presets and recipes: one line naming the file (and line) or the value, exit 2, no Prefect
    started (its home folder stays empty), nothing built."""
    for name, (text, _) in CONFIG_CASES.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "typo_recipe.yaml").write_text((ROOT / "config/training/tiny_cpu.yaml").read_text()
                                               .replace("epochs:", "epocs:", 1))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = subprocess.run([sys.executable, "-m", "deployments.cli", *args], cwd=ROOT, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and says in lines[0], (r.returncode, lines)
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").iterdir())
    assert not (tmp_path / "data" / "datasets").exists() or not any((tmp_path / "data" / "datasets").iterdir())


def test_a_prefect_home_that_cannot_be_written_is_one_line_at_once(tmp_path):
    """Was: 129-134 s, then a traceback ("Timed out ... ephemeral Prefect API server")."""
    env = {**_env(tmp_path), "PREFECT_HOME": "/proc/no-such-folder/prefect"}
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "deployments.cli", "dataset", "build", "demo"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and time.monotonic() - t < 30, (r.returncode, lines)
    assert lines[0].startswith("error: PREFECT_HOME=/proc/no-such-folder/prefect: No such file or directory")
    assert "PREFECT_API_URL" in lines[0]
