"""Pane pages: GET /panes/{name}?t=signed-link[&format=text]."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from codeforge.platform.api.deps import PlatformDep
from codeforge.platform.panes.service import render_page

__all__ = ["pages_router"]


def pages_router() -> APIRouter:
    router = APIRouter()

    @router.get("/panes/{name}", tags=["panes"], response_class=Response)
    async def pane_page(
        name: str,
        request: Request,
        platform: PlatformDep,
        t: Annotated[str, Query(description="The signed link from panes.open")] = "",
        format: Annotated[Literal["html", "text"], Query()] = "html",
    ) -> Response:
        source = request.client.host if request.client else ""
        page = await run_in_threadpool(render_page, platform, name, t, format, source)
        return Response(page.body, status_code=page.status, media_type=page.media_type)

    return router
