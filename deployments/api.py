"""The REST API: the seed front-end's endpoints, each starting or reading a Prefect run.

    cadrecon api --host 0.0.0.0 --port 7001

Mutating endpoints need ``Authorization: Bearer <token>`` (`api.token`, ``CADRECON_API__TOKEN``;
without one, a token is generated at start-up and written to ``<data_dir>/api-token``, mode 0600:
the log says where, never the token). A request with a body is refused before its body is read
when the token is wrong, and cut off at the size limit as it streams (`deployments.body_guard`). Swagger UI at /docs, ReDoc at /redoc (assets served locally: `deployments.api_docs`).
The API starts runs, reads them back and asks them to stop (deployments/jobs.py); dataset lists and
statuses come from the dataset folders, /health from a background check of Prefect. It never runs a
flow itself: `cadrecon serve` (or a worker) does, against the same Prefect API (``PREFECT_API_URL``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as md
import logging
import os
import secrets
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cadlib.dataset.layout import DataDir
from config import Settings, get_settings
from deployments import jobs
from deployments.api_docs import serve_docs
from deployments.body_guard import BodyGuard
from deployments.health import PrefectWatch
from deployments.http_guard import MAX_HEAD_BYTES, guarded_protocol, serving
from deployments.routes import datasets, reconstruct, training
from deployments.routes import jobs as job_routes
from deployments.schemas import ErrorBody, Health
from deployments.shown_paths import HidePaths, hide, server_roots

log = logging.getLogger("cadrecon.api")


@functools.cache
def _version() -> str:  # importlib.metadata reads the installed files: ~4 ms a call
    try:
        return md.version("cadrecon")
    except md.PackageNotFoundError:
        return "unknown"


def _error(code: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail}, headers=headers)


def _install_error_handlers(app: FastAPI, roots: list) -> None:
    """Every error is JSON ``{"detail": "..."}`` with one clear message; never a stack trace, never a
    server path (the 500 handler sits outside the middlewares: it hides them itself)."""

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
        first = hide((str(exc).splitlines() or [""])[0], roots)[:300]
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE if _is_connection(exc) else status.HTTP_500_INTERNAL_SERVER_ERROR,
                      f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def _is_connection(exc: Exception) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


async def _active_scopes() -> dict:
    return {"scopes": sorted(await jobs.active_scopes())}


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    await jobs.close_prefect_clients()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app for `settings` (default: `get_settings()`)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="cadrecon", lifespan=_lifespan, version=_version(), docs_url=None, redoc_url=None,
        description="CAD reconstruction with vision-language models: build datasets, train, reconstruct. "
                    "Every POST starts a Prefect run and answers with its id (`job_id`); poll "
                    "`/training/jobs/{job_id}/progress`.",
        responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
                   422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    app.state.settings = settings
    jobs.LOCK_DIR = DataDir(Path(settings.data_dir)).locks
    jobs.DATA_DIR = Path(settings.data_dir)  # where the flows beat (flows.heartbeat)
    jobs.DEAD_AFTER_S = settings.api.dead_run_after_s
    token = settings.api.token.get_secret_value() if settings.api.token else None
    if not token:
        token = secrets.token_urlsafe(24)
        where = _write_token(Path(settings.data_dir), token)
        log.warning("no api.token set (CADRECON_API__TOKEN): generated one for this process, written to %s "
                    "(readable by this user only)", where)
    app.state.token = token
    app.add_middleware(BodyGuard, token_of=lambda: app.state.token, max_body=int(settings.api.max_body_kb * 1024),
                       max_upload=int(settings.api.max_upload_mb * 2**20) + UPLOAD_SLACK)
    app.add_middleware(HidePaths, data_dir=settings.data_dir)
    _install_error_handlers(app, server_roots(settings.data_dir))
    for r in (datasets.router, job_routes.router, training.router, reconstruct.router):
        app.include_router(r)
    serve_docs(app)  # Swagger UI and ReDoc from local assets: they work offline

    watch = PrefectWatch(jobs.health, max_age_s=settings.api.health_max_age_s)
    app.state.dataset_list = {}  # the last GET /training/datasets answer, encoded (routes/datasets.py)
    app.state.active_scopes = PrefectWatch(_active_scopes, max_age_s=settings.api.health_max_age_s)

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        """Liveness, and whether Prefect answers and serves our deployments (no token needed):
        the latest background check, `checked_s_ago` seconds old (`deployments.health`)."""
        prefect = await watch.snapshot()
        ok = prefect.get("reachable") and prefect.get("deployments")
        return Health(status="ok" if ok else "degraded", version=_version(), prefect=prefect)

    return app


UPLOAD_SLACK = 64 * 1024
"""Bytes a multipart body may carry beyond `api.max_upload_mb` (its part headers); the route itself
refuses a file over the limit with the limit in the message."""


def _write_token(data_dir: Path, token: str) -> Path:
    """The generated token in `<data_dir>/api-token`, created with mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "api-token"
    tmp = path.with_name(".api-token.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
    return path.resolve()


def serve_api(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Runs the API with uvicorn until interrupted."""
    import uvicorn
    from prefect.settings import PREFECT_API_URL

    from flows.prefect_home import require_prefect_home

    require_prefect_home()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not PREFECT_API_URL.value():
        log.warning("PREFECT_API_URL is not set: this API talks to an ephemeral Prefect server on the local SQLite "
                    "database; run `prefect server start` and set PREFECT_API_URL here and for `cadrecon serve`")
    config = uvicorn.Config(create_app(settings), host=host or settings.api.host, port=port or settings.api.port,
                            log_level="info", proxy_headers=True,
                            http=guarded_protocol(settings.api.head_timeout_s),  # bounded heads (http_guard)
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    serving(server)  # waiting requests answer at once when it is told to stop
    server.run()
