"""The API's dependencies: its settings, and the bearer token on mutating endpoints."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from config import Settings

_bearer = HTTPBearer(auto_error=False, description="the token of `api.token` (CADRECON_API__TOKEN)")


# The dependencies are coroutines: they do no I/O, and FastAPI runs a plain function's dependency in
# a worker thread (a hop per request).


async def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def _check(request: Request, creds: HTTPAuthorizationCredentials | None) -> None:
    token: str = request.app.state.token
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


async def require_token(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> None:
    """Every mutating endpoint depends on this."""
    _check(request, creds)


async def require_token_for_reads(request: Request,
                            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> None:
    """GET endpoints: the token only when `api.protect_reads` is set."""
    if request.app.state.settings.api.protect_reads:
        _check(request, creds)


SettingsDep = Annotated[Settings, Depends(app_settings)]
IdempotencyKey = Annotated[str | None, Header(max_length=200, description="a client's key: the same key, the same run")]
Write = Depends(require_token)
Read = Depends(require_token_for_reads)


def under_data_dir(settings, path: str) -> str:
    """A client-given path, accepted only inside the data folder (the API never reads elsewhere)."""
    root = Path(settings.data_dir).resolve()
    try:
        p = (root / path).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte, a path too long, ...
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"path {path!r}: {exc}") from None
    if not p.is_relative_to(root):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"path {path!r} must lie under the data folder (give it relative to it)")
    return str(p)
