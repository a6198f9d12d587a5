"""Entry points: the `cadrecon` CLI, the deployments (`cadrecon serve`) and the REST API (`cadrecon api`)."""

import os

# No internet at run time: Prefect's embedded server must not try to send telemetry.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded server migrates a fresh SQLite database on its first start: on a slow 2-core machine
# that can pass Prefect's default 20 s limit, and the run fails before it begins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
