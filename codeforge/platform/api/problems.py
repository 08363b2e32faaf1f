"""Every error as `application/problem+json`, naming the field and the fix; never a traceback,
never a credential (error texts are scrubbed where errors are made: catalog/errors.py)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codeforge.catalog import CATALOG
from codeforge.catalog.errors import BadInput, BadRequest, CodeForgeError, RateLimited, field_problems

__all__ = ["PROBLEM", "PROBLEM_SCHEMA", "install_problem_handlers", "problem_response", "problem_responses"]

log = logging.getLogger("codeforge.http")
PROBLEM = "application/problem+json"

# The body of every error answer (RFC 9457), as the OpenAPI document declares it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URL naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What was wrong."},
        "fix": {"type": "string", "description": "What to do next."},
        "errors": {
            "type": "array",
            "description": "Each field that needs fixing.",
            "items": {
                "type": "object",
                "required": ["field", "message", "fix"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "fix": {"type": "string"}},
            },
        },
    },
}

_DESCRIPTIONS = {
    400: "The request itself is malformed (its JSON, a header)",
    401: "Missing, unknown, expired or revoked token",
    403: "The caller's role does not allow this",
    404: "Something named in the request does not exist",
    405: "The path does not take this method",
    409: "The request conflicts with the current state",
    410: "What the request names is over for good (an ended session)",
    422: "Bad input: each field with what is wrong and the fix",
    429: "Too many failed sign-ins from this address: wait Retry-After seconds",
    500: "The platform hit an internal error",
    502: "A system the platform drives failed",
    503: "The platform cannot serve this now",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, each with the problem body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}
            }
        if status == 405:
            entry["headers"] = {"Allow": {"description": "The methods the path takes", "schema": {"type": "string"}}}
        out[status] = entry
    return out


def problem_response(err: CodeForgeError, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if err.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(err.retry_after)
    elif (retry_after := getattr(err, "retry_after", None)) is not None:  # a 503 while shutting down
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(err.to_problem(), status_code=err.status, media_type=PROBLEM, headers=headers or None)


async def _codeforge_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CodeForgeError)
    return problem_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI locates each error under "body" first: dropped here, and only here, so a field
    # named `body` (collab.comment's) is still named.
    errors = [
        {**e, "loc": tuple(e.get("loc", ()))[1:]} if tuple(e.get("loc", ()))[:1] == ("body",) else e
        for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            BadRequest("the request body is not valid JSON", fix="send a JSON object of the operation's input fields")
        )
    path = getattr(request.scope.get("route"), "path", "")
    op = next((o for o in CATALOG.values() if f"/api/v1{o.path}" == path), None)
    problems = field_problems(errors, model=op.input if op else None)
    if any(p.field == "(input)" for p in problems):
        problems = [p for p in problems if p.field != "(input)"] or problems
    return problem_response(BadInput.of_fields(problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    titles = {404: ("Not found", "not-found"), 405: ("Method not allowed", "method-not-allowed")}
    # The error scrubs its detail, as every CodeForgeError does (a path may quote a URL).
    err = CodeForgeError(str(exc.detail), fix="check the URL and method against GET /openapi.json")
    err.status = exc.status_code
    err.title, err.slug = titles.get(exc.status_code, ("HTTP error", "http"))
    # Starlette puts `Allow` on a 405: an answer to a method the path does not take names those it does.
    return problem_response(err, headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        CodeForgeError("the platform hit an internal error", fix="try again; if it persists, read the platform log")
    )


class UnexpectedErrors:
    """Answers an unexpected exception with the 500 problem and ends there. Starlette's
    outermost ServerErrorMiddleware (where a handler for Exception goes) sends that answer
    and then raises the exception again, and uvicorn closes a connection whose request
    raised: the client's next request on it failed too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # half an answer is out: only closing the connection can tell the client
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CodeForgeError, _codeforge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(UnexpectedErrors)
