"""docker-compose.yml: the services, their wiring, and settings names the code actually reads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_share_the_prefect_api_and_wait_for_health():
    c = compose()
    svc = c["services"]
    assert set(svc) == {"postgres", "redis", "prefect-server", "prefect-services", "worker", "api"}
    server, services, worker, api = svc["prefect-server"], svc["prefect-services"], svc["worker"], svc["api"]
    db = server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "@postgres:5432/" in db
    # The API server and its background services are separate processes on one database and one broker.
    assert "--no-services" in server["command"] and services["command"] == ["prefect", "server", "services", "start"]
    for key in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_MESSAGING_BROKER", "PREFECT_REDIS_MESSAGING_HOST"):
        assert server["environment"][key] == services["environment"][key]
    assert server["environment"]["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
    for client in (worker, api):
        assert client["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert client["depends_on"]["prefect-server"]["condition"] == "service_healthy"
        assert client["environment"]["CADRECON_DATA_DIR"] == "/data" and "cadrecon-data:/data" in client["volumes"]
    for dep in ("postgres", "redis"):
        assert server["depends_on"][dep]["condition"] == "service_healthy"
    for name in ("postgres", "redis", "prefect-server", "api"):
        assert "healthcheck" in svc[name]
    assert set(c["volumes"]) == {"pgdata", "redisdata", "cadrecon-data"}
    assert worker["command"] == ["cadrecon", "serve"]
    assert api["command"][:2] == ["cadrecon", "api"] and "7001:7001" in api["ports"]
    assert api["environment"]["CADRECON_API__TOKEN"].startswith("${CADRECON_API__TOKEN:?")  # no default token


def test_every_cadrecon_variable_is_a_setting():
    """CADRECON_X__Y must name a field the settings read (a typo would be silently ignored)."""
    fields = Settings.model_fields
    for service in compose()["services"].values():
        for key in (service.get("environment") or {}):
            if not key.startswith("CADRECON_") or key == "CADRECON_PRESET":
                continue
            parts = key.removeprefix("CADRECON_").lower().split("__")
            assert parts[0] in fields, key
            if len(parts) == 2:
                assert parts[1] in fields[parts[0]].annotation.model_fields, key


@pytest.mark.skipif(not shutil.which("docker") or subprocess.run(["docker", "compose", "version"],
                    capture_output=True).returncode != 0, reason="docker compose is not available here")
def test_docker_compose_accepts_the_file():
    res = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
