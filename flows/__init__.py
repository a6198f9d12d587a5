"""Prefect flows: build_dataset, train, evaluate/reconstruct, nightly."""

import os

# No internet at run time: Prefect's embedded server must not try to send telemetry.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
