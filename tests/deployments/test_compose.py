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
    assert set(c["services"]) >= {"postgres", "prefect-server", "worker"}
    server, worker = c["services"]["prefect-server"], c["services"]["worker"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "prefect-server"):
        assert "healthcheck" in c["services"][name]
    assert set(c["volumes"]) == {"pgdata", "cadrecon-data"}
    assert worker["command"] == ["cadrecon", "serve"]


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
