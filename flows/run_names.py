"""Readable flow-run names, from a run's parameters: `build-<dataset>-<time>`,
`train-<dataset>-<recipe>`, `evaluate-<dataset>-<split>`, `reconstruct-<file>` (Prefect's
`flow_run_name`, called when a run starts; the UI and the API's `flow_run_name` show them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def _params() -> dict:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def _stem(value, default: str) -> str:
    text = str(value or "").rstrip("/")
    return Path(text).stem or default if text else default


def _when() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}"


def build_run_name() -> str:
    p = _params()
    return f"build-{p.get('name') or _stem(p.get('preset'), 'demo')}-{_when()}"


def train_run_name() -> str:
    p = _params()
    kind = "-test" if p.get("test_run") else ""
    return f"train-{_stem(p.get('dataset'), 'demo')}-{_stem(p.get('recipe'), 'tiny_cpu')}{kind}-{_when()}"


def evaluate_run_name() -> str:
    p = _params()
    return f"evaluate-{_stem(p.get('dataset'), 'demo')}-{p.get('split') or 'test'}-{_when()}"


def reconstruct_run_name() -> str:
    return f"reconstruct-{_stem(_params().get('file'), 'model')}-{_when()}"
