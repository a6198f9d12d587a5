"""The REST API: the seed front-end's endpoints, each starting or reading a Prefect run.

    cadrecon api --host 0.0.0.0 --port 7001

Mutating endpoints need ``Authorization: Bearer <token>`` (`api.token`, ``CADRECON_API__TOKEN``;
without one, a token is generated at start-up and logged). Swagger UI at /docs, ReDoc at /redoc.
The API only starts runs and reads them back (deployments/jobs.py); `cadrecon serve` (or a worker)
runs them, against the same Prefect API (``PREFECT_API_URL``).
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import secrets

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from config import Settings, get_settings
from deployments import jobs
from deployments.routes import datasets, reconstruct, training
from deployments.routes import jobs as job_routes
from deployments.schemas import ErrorBody, Health

log = logging.getLogger("cadrecon.api")


def _version() -> str:
    try:
        return md.version("cadrecon")
    except md.PackageNotFoundError:
        return "unknown"


def _error(code: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail}, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON ``{"detail": "..."}`` with one clear message; never a stack trace."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "request"
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: {first.get('msg')}{more}")

    @app.exception_handler(jobs.JobNotFound)
    async def not_found(request: Request, exc: jobs.JobNotFound) -> JSONResponse:
        return _error(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(jobs.DeploymentMissing)
    async def missing(request: Request, exc: jobs.DeploymentMissing) -> JSONResponse:
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Prefect unreachable, a full disk, a bug: logged with its traceback here, one line to the client.
        log.exception("%s %s failed", request.method, request.url.path)
        first = (str(exc).splitlines() or [""])[0][:300]
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE if _is_connection(exc) else status.HTTP_500_INTERNAL_SERVER_ERROR,
                      f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def _is_connection(exc: Exception) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app for `settings` (default: `get_settings()`)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="cadrecon", version=_version(), docs_url="/docs", redoc_url="/redoc",
        description="CAD reconstruction with vision-language models: build datasets, train, reconstruct. "
                    "Every POST starts a Prefect run and answers with its id (`job_id`); poll "
                    "`/training/jobs/{job_id}/progress`.",
        responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
                   422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    app.state.settings = settings
    token = settings.api.token.get_secret_value() if settings.api.token else None
    if not token:
        token = secrets.token_urlsafe(24)
        log.warning("no api.token set (CADRECON_API__TOKEN): generated one for this process: %s", token)
    app.state.token = token
    _install_error_handlers(app)
    for r in (datasets.router, job_routes.router, training.router, reconstruct.router):
        app.include_router(r)

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        """Liveness, and whether Prefect answers and serves our deployments (no token needed)."""
        try:
            prefect = await jobs.health()
        except Exception as exc:  # noqa: BLE001 - health reports it rather than failing
            prefect = {"reachable": False, "error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"}
        ok = prefect.get("reachable") and prefect.get("deployments")
        return Health(status="ok" if ok else "degraded", version=_version(), prefect=prefect)

    return app


def serve_api(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Runs the API with uvicorn until interrupted."""
    import uvicorn
    from prefect.settings import PREFECT_API_URL

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not PREFECT_API_URL.value():
        log.warning("PREFECT_API_URL is not set: this API talks to an ephemeral Prefect server on the local SQLite "
                    "database; run `prefect server start` and set PREFECT_API_URL here and for `cadrecon serve`")
    uvicorn.run(create_app(settings), host=host or settings.api.host, port=port or settings.api.port,
                log_level="info", proxy_headers=True)
