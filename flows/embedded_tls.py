"""The embedded Prefect server's clients skip parsing the whole CA bundle.

Prefect builds a TLS context for every API client it creates, `ssl.create_default_context(cafile=
PREFECT_API_SSL_CERT_FILE)`, the setting defaulting to SSL_CERT_FILE or certifi's bundle: 28-47 ms
on 2 cores to parse ~140 certificates, and a dataset build creates dozens of clients (task runs,
artifacts, the result-storage block). Without a configured API the server is the embedded one,
over plain HTTP on 127.0.0.1: the context is never used. Measured (a 1,000-model build, one model
changed, five re-runs each): 2.97 s -> 2.04 s.

`use_one_certificate` (called by `flows/__init__.py` before Prefect reads its settings) points the
setting at a file holding one certificate (the bundle's first, written once to the temp folder;
under a millisecond to load) when no API URL is configured, in the environment or in the active
Prefect profile, and the setting was not set by hand. A configured server, where the context
verifies real connections, is left alone; so is anything that cannot be read (the default stays).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import MutableMapping
from pathlib import Path

SETTING = "PREFECT_API_SSL_CERT_FILE"
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
FILE_NAME = "cadrecon-embedded-api-ca.pem"


def api_configured(env: MutableMapping[str, str]) -> bool:
    """True when Prefect will talk to a server of its own configuration: PREFECT_API_URL in the
    environment or in the active profile (PREFECT_PROFILE, else the file's `active`, of
    PREFECT_PROFILES_PATH, else profiles.toml under PREFECT_HOME). An unreadable profile file
    counts as configured (nothing is changed on a guess)."""
    if env.get("PREFECT_API_URL"):
        return True
    home = Path(env.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    if not path.exists():
        return False
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    active = env.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    table = profiles.get("profiles", {}).get(active, {})
    return not isinstance(table, dict) or bool(table.get("PREFECT_API_URL"))


def one_certificate(bundle: Path, folder: Path) -> Path | None:
    """`folder`/FILE_NAME holding the first certificate of `bundle`, made once (atomically, and
    checked to load; a file there that does not load is made again), or None when the bundle holds
    none, a file cannot be read or written, or the certificate does not load."""
    import ssl

    out = folder / FILE_NAME
    with contextlib.suppress(OSError, ssl.SSLError):
        if out.is_file():
            ssl.create_default_context(cafile=str(out))  # a file left by an earlier process must load
            return out
    part = out.with_suffix(f".{os.getpid()}.part")
    try:
        text = bundle.read_text(errors="replace")
        start = text.index(BEGIN)
        part.write_text(text[start:text.index(END, start) + len(END)] + "\n")
        ssl.create_default_context(cafile=str(part))
        os.replace(part, out)
    except (OSError, ValueError, ssl.SSLError):
        return None
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)  # gone already once replaced
    return out


def use_one_certificate(env: MutableMapping[str, str] = os.environ) -> str | None:
    """Sets SETTING in `env` to a one-certificate file when the API is the embedded server and
    the setting is not set; returns the path set, or None when it left `env` alone."""
    if env.get(SETTING) or api_configured(env):
        return None
    bundle = env.get("SSL_CERT_FILE")
    if not bundle:
        try:
            import certifi
        except ImportError:
            return None
        bundle = certifi.where()
    got = one_certificate(Path(bundle), Path(tempfile.gettempdir()))
    if got is None:
        return None
    env[SETTING] = str(got)
    return str(got)
