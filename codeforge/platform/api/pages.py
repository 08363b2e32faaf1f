"""Pane pages: GET /panes/{name}?t=signed-link[&format=text]."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from codeforge.platform.api.deps import PlatformDep
from codeforge.platform.api.problems import problem_responses
from codeforge.platform.panes.service import render_page

__all__ = ["pages_router"]


_PAGE = {"text/html": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}}
# A pane is a page for a browser or an editor's webview: refusals are pages too (HTML, or
# text with format=text), saying how to get a fresh link; only a malformed query is a problem.
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The pane", "content": _PAGE},
    401: {"description": "The link expired, or its token was revoked", "content": _PAGE},
    403: {"description": "The link's owner may not view panes", "content": _PAGE},
    404: {"description": "No such pane, or the link is for another pane or a deleted project", "content": _PAGE},
    **problem_responses(422, 500),
}


def pages_router() -> APIRouter:
    router = APIRouter()

    @router.get("/panes/{name}", tags=["panes"], response_class=Response, responses=_PAGE_RESPONSES)
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
