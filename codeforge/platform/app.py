"""The FastAPI application factory of `codeforge serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codeforge import __version__
from codeforge.platform.api.events import events_router
from codeforge.platform.api.pages import pages_router
from codeforge.platform.api.problems import install_problem_handlers
from codeforge.platform.api.routes import operations_router
from codeforge.platform.core import Platform
from codeforge.platform.settings import Settings

__all__ = ["create_app"]


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


def create_app(settings: Settings | None = None, on_started: Callable[[Platform], None] | None = None) -> FastAPI:
    platform = Platform(settings or Settings())

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
    install_problem_handlers(app)
    app.include_router(operations_router())
    app.include_router(events_router())
    app.include_router(pages_router())

    app.add_middleware(RequestCounter, platform=platform)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with platform.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics() -> Response:
        return Response(platform.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
