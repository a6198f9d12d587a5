"""One error line per failure for every `cadrecon` command: ``error: <file>: <cause>``, exit 2; one
``stopped`` line when a signal ends it (exit 128 + the signal)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import typer

from cadlib.errors import CadlibError
from cadlib.stop_request import Stopped

_state = {"debug": False}


def set_debug(on: bool) -> None:
    """With debug on, errors propagate with their traceback."""
    _state["debug"] = on


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def clean_errors(fn: Callable) -> Callable:
    """Turns expected failures into one `error: <file>: <cause>` line and exit status 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except CadlibError as exc:
            if _state["debug"]:
                raise
            _fail(str(exc))
        except OSError as exc:
            if _state["debug"]:
                raise
            _fail(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else
                  f"{exc.strerror or exc} (the system named no file; the data folder and PREFECT_HOME are where "
                  "this command writes)")
        except ValueError as exc:
            if _state["debug"]:
                raise
            _fail(str(exc))
        except BaseException as exc:
            signum = _stop_signal(exc)
            if signum is None or _state["debug"]:
                raise
            typer.echo(f"stopped by signal {signum}: work finished so far is kept; the same command resumes it",
                       err=True)
            raise typer.Exit(128 + signum) from None

    return wrapper


def _stop_signal(exc: BaseException) -> int | None:
    """The signal behind a stop: Ctrl-C, our stop request, or Prefect's SIGTERM bridge (which
    replaces our handler while a flow runs and raises TerminationSignal)."""
    import signal

    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(exc, Stopped):
        return signal.SIGTERM
    if type(exc).__name__ == "TerminationSignal":
        return int(getattr(exc, "signal", signal.SIGTERM))
    return None


