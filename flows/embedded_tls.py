"""The embedded Prefect server's clients skip parsing the whole CA bundle.

Prefect builds a TLS context for every API client it creates, `ssl.create_default_context(cafile=
PREFECT_API_SSL_CERT_FILE)`, the setting defaulting to SSL_CERT_FILE or certifi's bundle: 28-47 ms
on 2 cores to parse ~140 certificates, and a dataset build creates dozens of clients (task runs,
artifacts, the result-storage block). Without a configured API the server is the embedded one,
over plain HTTP on 127.0.0.1: the context is never used. Measured (a 1,000-model build, one model
changed, six re-runs each, interleaved): 3.14 s -> 2.46 s.

`use_one_certificate` (called when `flows` is imported) points the setting at a file holding one
certificate (the bundle's first, written once to the temp folder; under a millisecond to load)
when Prefect's own settings configure no API URL (in any of its sources) and the certificate file
was not chosen by hand, then has Prefect read its settings again. A configured server, where the
context verifies real connections, is left alone; so is anything that cannot be read (the default
stays).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

SETTING = "PREFECT_API_SSL_CERT_FILE"
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
FILE_NAME = "cadrecon-embedded-api-ca.pem"


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
    """Sets SETTING in `env` to a one-certificate file, and has Prefect read its settings again,
    when Prefect's own settings (environment, .env, prefect.toml, pyproject.toml, the active
    profile) configure no API URL and leave the certificate file at its default; returns the path
    set, or None when it left everything alone."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if env.get(SETTING) or settings.api.url or settings.api.ssl_cert_file != env.get("SSL_CERT_FILE"):
        return None  # a configured server verifies real connections; a file chosen by hand is kept
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
    if env is os.environ:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect read its settings when it was imported
    return str(got)
