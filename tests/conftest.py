"""Shared fixtures: the realdata folder, one Prefect test server a process, a summary of conformance
counts at the end of a run; under pytest-xdist, one thread per worker and the longest work first."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("CADRECON_REALDATA", ROOT.parent / "shared" / "realdata"))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs a worker per core: each keeps to one thread (torch's and OpenMP's pools, OCCT's
    # and llvmpipe's), so two workers do not fight over the same two cores. Set before torch loads;
    # the processes a test starts inherit it.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

# The work units that take longest go first, so that the two workers finish together: the modules
# and tests named here (measured with --durations; a unit of a few minutes started last would be the
# tail of the run), in this order, then everything else in collection order.
LONGEST_FIRST = (
    "tests/conformance/test_realdata_dataset.py",
    "tests/flows/test_evaluate_reconstruct.py",
    "tests/conformance/test_realdata_render.py",
    "tests/deployments/test_api_integration.py",
    "tests/test_readme_path.py",
    "tests/deployments/test_cli.py::test_demo_builds_the_demo_dataset_and_says_where",
    "tests/conformance/test_realdata_ingest.py",
    "tests/flows/test_kill_resume.py",
    "tests/deployments/test_process_hygiene.py",
    "tests/flows/test_train_flow.py",
    "tests/flows/test_build_dataset.py",
    "tests/conformance/test_realdata_sequences.py",
    "tests/conformance/test_bad_inputs.py",
)
SHARED_MODULE_FIXTURES = ("tests/flows/test_evaluate_reconstruct.py", "tests/deployments/test_api_integration.py",
                          "tests/flows/test_train_flow.py")
"""Modules whose tests share a module-scoped fixture (a trained model, a live stack): each runs
whole on one worker (an xdist group), or each worker would build the fixture again."""


def _rank(nodeid: str) -> int:
    for i, prefix in enumerate(LONGEST_FIRST):
        if nodeid == prefix or nodeid.startswith(prefix + "::") or nodeid.startswith(prefix + "["):
            return i
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in SHARED_MODULE_FIXTURES:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=lambda item: _rank(item.nodeid))  # stable: collection order within a rank
    if "torch" in sys.modules and os.environ.get("PYTEST_XDIST_WORKER"):
        sys.modules["torch"].set_num_threads(1)

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


def pytest_sessionfinish(session) -> None:
    """An xdist worker hands its counts to the controller, which prints them all."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["conformance"] = CONFORMANCE


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    for kind, counts in getattr(node, "workeroutput", {}).get("conformance", {}).items():
        for outcome, count in counts.items():
            record(kind, outcome, count)


def pytest_terminal_summary(terminalreporter) -> None:
    if not CONFORMANCE:
        return
    terminalreporter.section("conformance and generation counts")
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
