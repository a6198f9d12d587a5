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
from flows.embedded_tls import SETTING, one_certificate

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
def folder(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(embedded_tls.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def test_the_file_holds_one_certificate_that_loads_and_is_made_once(tmp_path: Path, folder: Path):
    bundle = bundle_of(tmp_path)
    got = one_certificate(bundle, folder)
    assert got is not None and got.parent == folder
    text = got.read_text()
    assert text.count(embedded_tls.BEGIN) == 1 and text.count(embedded_tls.END) == 1
    assert ssl.create_default_context(cafile=str(got)).cert_store_stats()["x509_ca"] == 1
    stamp = got.stat().st_mtime_ns
    assert one_certificate(bundle, folder) == got and got.stat().st_mtime_ns == stamp  # found again, not rewritten


def test_a_broken_file_left_in_the_temp_folder_is_made_again(tmp_path: Path, folder: Path):
    left = folder / embedded_tls.FILE_NAME
    left.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    assert one_certificate(bundle_of(tmp_path), folder) == left
    assert ssl.create_default_context(cafile=str(left)).cert_store_stats()["x509_ca"] == 1
    assert [p.name for p in folder.iterdir()] == [embedded_tls.FILE_NAME]  # no part file left


def test_an_unwritable_folder_or_a_bundle_without_certificates_gives_none(tmp_path: Path, folder: Path):
    assert one_certificate(bundle_of(tmp_path), tmp_path / "no" / "such" / "folder") is None
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    assert one_certificate(empty, folder) is None
    assert list(folder.iterdir()) == []


SHOW = ("import json, flows\nfrom prefect.settings import get_current_settings\n"
        "print(json.dumps(get_current_settings().api.ssl_cert_file))")


def cert_file_seen(tmp_path: Path, env: dict, files: dict[str, str] | None = None) -> str | None:
    """What Prefect's settings hold for the certificate file in a fresh process that imported
    `flows`, run in a folder holding `files` (relative name -> text), with `env` over a clean
    Prefect environment (its own PREFECT_HOME)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name, text in (files or {}).items():
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(text)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base |= {"PREFECT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", SHOW], cwd=cwd, env=base | env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_without_a_configured_api_prefect_reads_the_one_certificate_file(tmp_path: Path):
    """Prefect has read its settings when `flows` sets the file: they are read again."""
    seen = cert_file_seen(tmp_path, {})
    assert seen == str(tmp_path / embedded_tls.FILE_NAME)


@pytest.mark.parametrize("case", ["api url in env", "api url in the active profile", "api url in prefect.toml",
                                  "file set by hand", "file set in prefect.toml"])
def test_a_configured_server_or_a_file_of_ones_own_is_left_alone(tmp_path: Path, case: str):
    env: dict[str, str] = {}
    files: dict[str, str] = {}
    expected = os.environ.get("SSL_CERT_FILE")
    if case == "api url in env":
        env["PREFECT_API_URL"] = "https://prefect.example/api"
    elif case == "api url in the active profile":
        home = tmp_path / "home"
        home.mkdir()
        (home / "profiles.toml").write_text('active = "work"\n[profiles.ephemeral]\n'
                                            'PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
                                            '[profiles.work]\nPREFECT_API_URL = "https://prefect.example/api"\n')
    elif case == "api url in prefect.toml":
        files["prefect.toml"] = '[api]\nurl = "https://prefect.example/api"\n'
    elif case == "file set by hand":
        env[SETTING] = expected = str(bundle_of(tmp_path))
    else:
        expected = str(bundle_of(tmp_path))
        files["prefect.toml"] = f'[api]\nssl_cert_file = "{expected}"\n'
    assert cert_file_seen(tmp_path, env, files) == expected
    assert not (tmp_path / embedded_tls.FILE_NAME).exists()
