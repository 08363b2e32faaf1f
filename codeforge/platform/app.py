"""The FastAPI application factory of `codeforge serve`."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codeforge import __version__
from codeforge.catalog.errors import Unauthenticated
from codeforge.catalog.jobs import JobEvent
from codeforge.platform.api.deps import bearer, check_rate_limit, note_auth_failure
from codeforge.platform.api.events import events_router
from codeforge.platform.api.pages import pages_router
from codeforge.platform.api.problems import PROBLEM_SCHEMA, install_problem_handlers, problem_responses
from codeforge.platform.api.routes import operations_router
from codeforge.platform.auth.limits import InProcessAuthLimiter
from codeforge.platform.core import Platform, ShuttingDown
from codeforge.platform.registry import api_routers
from codeforge.platform.settings import Settings

__all__ = ["create_app", "metrics_token"]

log = logging.getLogger("codeforge.platform")


class RequestCounter:
    """Counts HTTP responses by method and status: plain ASGI, no per-request task or stream
    (Starlette's @app.middleware("http") adds both)."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.requests = platform.metrics.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.requests.labels(scope["method"], str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat as reachable from outside


def metrics_token(settings: Settings) -> str | None:
    """The bearer token /metrics requires, or None when it answers anyone.

    Set: CODEFORGE_METRICS_TOKEN. Unset: open on loopback (only this machine can ask) or with
    CODEFORGE_METRICS_OPEN; otherwise a token generated once into data_dir/metrics.token (mode
    600; replicas sharing the dir agree), for Prometheus's `bearer_token_file`."""
    if settings.metrics_token is not None and settings.metrics_token.get_secret_value():
        return settings.metrics_token.get_secret_value()
    if settings.metrics_open or _is_loopback(settings.host):
        return None
    path = Path(settings.data_dir) / "metrics.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)  # atomic create-if-absent
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    log.warning(
        "/metrics needs a bearer token: the platform listens beyond loopback and CODEFORGE_METRICS_TOKEN is unset",
        extra={"metrics_token_file": str(path)},
    )
    return path.read_text().strip()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the problem body every error answer refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        event = JobEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(event.pop("$defs", {}))
        components["JobEvent"] = event  # the `data` of each event of a job's stream
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None, on_started: Callable[[Platform], None] | None = None) -> FastAPI:
    platform = Platform(settings or Settings())
    required_metrics_token = metrics_token(platform.settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(platform.start)
        if on_started is not None:
            on_started(platform)
        try:
            yield
        finally:
            await run_in_threadpool(platform.stop)

    app = FastAPI(
        title="CodeForge platform",
        version=__version__,
        lifespan=lifespan,
        description="Every operation of the platform; the same catalog drives the CLI and the editors.",
    )
    app.state.platform = platform
    app.state.auth_limiter = InProcessAuthLimiter(platform.settings.auth_failures_per_minute)
    install_problem_handlers(app)
    app.include_router(operations_router())
    app.include_router(events_router())
    app.include_router(pages_router())
    for router in api_routers(platform.capabilities):
        app.include_router(router)

    app.add_middleware(RequestCounter, platform=platform)

    @app.get("/healthz", tags=["health"], responses=problem_responses(500, 503))
    def healthz() -> dict[str, str]:
        # A draining replica says so, so a load balancer stops sending it work.
        if not platform.accepting:
            raise ShuttingDown()
        with platform.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Response:
        if required_metrics_token is not None:
            check_rate_limit(request, platform)
            given = credentials.credentials.strip() if credentials is not None else ""
            if not secrets.compare_digest(given.encode(), required_metrics_token.encode()):
                note_auth_failure(request, platform, "metrics-token" if given else "missing")
                raise Unauthenticated(
                    "/metrics needs its bearer token" if not given else "this is not the metrics token",
                    fix="send Authorization: Bearer with CODEFORGE_METRICS_TOKEN, or the data dir's metrics.token",
                )
        return Response(platform.metrics.render(), media_type="text/plain; version=0.0.4")

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
