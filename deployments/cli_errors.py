"""One error line per failure for every `cadrecon` command: ``error: <file>: <cause>``, exit 2."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import typer

from cadlib.errors import CadlibError

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
            _fail(f"{exc.filename or '?'}: {exc.strerror or exc}")
        except ValueError as exc:
            if _state["debug"]:
                raise
            _fail(str(exc))

    return wrapper


