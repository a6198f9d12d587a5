"""Prefect's embedded server needs a writable home: checked before a command starts one.

Without `PREFECT_API_URL`, every flow command starts a temporary Prefect server on the SQLite
database under `PREFECT_HOME`. On a full disk, or with its parent folder missing, that server never
answers and Prefect gives up after two minutes with a traceback ("Timed out ... ephemeral Prefect
API server"). `require_prefect_home` finds out in milliseconds, and says what to do in one line.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROBE_BYTES = 1 << 20
"""What the probe writes (and removes): room for the database to start, at least."""


def require_prefect_home() -> None:
    """Raises OSError (naming PREFECT_HOME, the cause and the way out) when the embedded server
    could not write its database; nothing to check when a server is configured (PREFECT_API_URL)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    if PREFECT_API_URL.value():
        return
    home = Path(PREFECT_HOME.value()).expanduser()
    probe = home / f".cadrecon-probe-{os.getpid()}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"\0" * PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OSError(exc.errno, f"{exc.strerror or exc}: Prefect's embedded server cannot keep its database "
                      "there; free space, set PREFECT_HOME to a writable folder, or PREFECT_API_URL to a running "
                      "server", f"PREFECT_HOME={home}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
