"""Prefect flows: build_dataset (on demand, and nightly through its scheduled deployment), train,
evaluate, reconstruct."""

import os

# No internet at run time: Prefect's embedded server must not try to send telemetry.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded server migrates a fresh SQLite database on its first start: on a slow 2-core machine
# that can pass Prefect's default 20 s limit, and the run fails before it begins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Without a configured API, Prefect's clients talk plain HTTP to the embedded server: each need not
# parse the whole CA bundle (~30 ms a client, dozens a build; flows/embedded_tls.py).
from flows.embedded_tls import use_one_certificate  # noqa: E402

use_one_certificate()
