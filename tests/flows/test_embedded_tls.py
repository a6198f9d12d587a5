"""Prefect's clients on the embedded server load a one-certificate CA file; a configured server's
are left with the setting they had."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from flows import embedded_tls
from flows.embedded_tls import SETTING, api_configured, one_certificate, use_one_certificate

ROOT = Path(__file__).resolve().parents[2]


def bundle_of(tmp_path: Path, n: int = 3) -> Path:
    """A CA bundle of `n` real certificates (the system's or certifi's first ones)."""
    import certifi

    text = Path(os.environ.get("SSL_CERT_FILE") or certifi.where()).read_text(errors="replace")
    certs, at = [], 0
    while len(certs) < n:
        start = text.index(embedded_tls.BEGIN, at)
        at = text.index(embedded_tls.END, start) + len(embedded_tls.END)
        certs.append(text[start:at])
    out = tmp_path / "bundle.pem"
    out.write_text("# a comment line first\n" + "\n".join(certs) + "\n")
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.setattr(embedded_tls.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return {"PREFECT_HOME": str(tmp_path / "home"), "SSL_CERT_FILE": str(bundle_of(tmp_path))}


def test_without_a_configured_api_the_setting_names_one_certificate_that_loads(env: dict):
    got = use_one_certificate(env)
    assert got is not None and env[SETTING] == got
    text = Path(got).read_text()
    assert text.count(embedded_tls.BEGIN) == 1 and text.count(embedded_tls.END) == 1
    assert ssl.create_default_context(cafile=got).cert_store_stats()["x509_ca"] == 1
    assert use_one_certificate({k: v for k, v in env.items() if k != SETTING}) == got  # made once, found again


@pytest.mark.parametrize("case", ["api url in env", "api url in the active profile", "setting set by hand",
                                  "profile file unreadable"])
def test_a_configured_server_or_a_setting_of_ones_own_is_left_alone(env: dict, case: str):
    home = Path(env["PREFECT_HOME"])
    home.mkdir()
    if case == "api url in env":
        env["PREFECT_API_URL"] = "https://api.prefect.cloud/api/accounts/a/workspaces/w"
    elif case == "api url in the active profile":
        (home / "profiles.toml").write_text('active = "work"\n[profiles.ephemeral]\n'
                                            'PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
                                            '[profiles.work]\nPREFECT_API_URL = "https://prefect.example/api"\n')
    elif case == "setting set by hand":
        env[SETTING] = "/etc/my-ca.pem"
    else:
        (home / "profiles.toml").write_text("active = [not toml")
    before = dict(env)
    assert use_one_certificate(env) is None
    assert env == before


def test_the_active_profile_decides_and_an_ephemeral_one_counts_as_embedded(env: dict):
    home = Path(env["PREFECT_HOME"])
    home.mkdir()
    (home / "profiles.toml").write_text('active = "ephemeral"\n[profiles.ephemeral]\n'
                                        'PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
                                        '[profiles.work]\nPREFECT_API_URL = "https://prefect.example/api"\n')
    assert not api_configured(env)
    assert api_configured({**env, "PREFECT_PROFILE": "work"})


def test_a_broken_file_left_in_the_temp_folder_is_made_again(tmp_path: Path, env: dict):
    left = tmp_path / "tmp" / embedded_tls.FILE_NAME
    left.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    assert use_one_certificate(env) == str(left)
    assert ssl.create_default_context(cafile=str(left)).cert_store_stats()["x509_ca"] == 1
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [embedded_tls.FILE_NAME]  # no part file left


def test_an_unwritable_temp_folder_changes_nothing(tmp_path: Path, env: dict):
    assert one_certificate(Path(env["SSL_CERT_FILE"]), tmp_path / "no" / "such" / "folder") is None


def test_a_bundle_without_certificates_changes_nothing(tmp_path: Path, env: dict):
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    env["SSL_CERT_FILE"] = str(empty)
    assert use_one_certificate(env) is None and SETTING not in env
    assert list((tmp_path / "tmp").iterdir()) == []


def test_importing_flows_sets_it_before_prefect_reads_its_settings(tmp_path: Path):
    """The process a `cadrecon` command runs in: flows (or deployments) imported first."""
    code = ("import flows\nfrom prefect.settings import PREFECT_API_SSL_CERT_FILE\n"
            "import json\nprint(json.dumps(PREFECT_API_SSL_CERT_FILE.value()))")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", SETTING)}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    value = json.loads(run.stdout.strip().splitlines()[-1])
    assert value and Path(value).name == embedded_tls.FILE_NAME
