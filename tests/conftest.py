"""Shared fixtures: the realdata folder, and a summary of conformance counts at the end of a run."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("CADRECON_REALDATA", ROOT.parent / "shared" / "realdata"))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

CONFORMANCE: dict[str, dict[str, int]] = {}
"""kind -> outcome -> count, filled by the conformance suite and printed at the end."""


def realdata_rows(kind: str) -> list[dict]:
    """MANIFEST rows of one kind whose file is present."""
    manifest = REALDATA / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["kind"] == kind]
    return [r for r in rows if (REALDATA / r["local_path"]).is_file()]


def record(kind: str, outcome: str, count: int = 1) -> None:
    CONFORMANCE.setdefault(kind, {}).setdefault(outcome, 0)
    CONFORMANCE[kind][outcome] += count


def pytest_terminal_summary(terminalreporter) -> None:
    if not CONFORMANCE:
        return
    terminalreporter.section("realdata conformance")
    for kind, counts in sorted(CONFORMANCE.items()):
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        terminalreporter.write_line(f"{kind} -- {parts}")


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not (REALDATA / "MANIFEST.tsv").is_file():
        pytest.skip(f"no realdata at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect server (prefect_test_harness) for the tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
