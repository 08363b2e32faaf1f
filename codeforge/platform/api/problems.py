"""Every error as `application/problem+json`, naming the field and the fix; never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from codeforge.catalog import CATALOG
from codeforge.catalog.errors import BadInput, CodeForgeError, field_problems

__all__ = ["install_problem_handlers", "problem_response"]

log = logging.getLogger("codeforge.http")
PROBLEM = "application/problem+json"


def problem_response(err: CodeForgeError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse(err.to_problem(), status_code=err.status, media_type=PROBLEM, headers=headers)


async def _codeforge_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CodeForgeError)
    return problem_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    path = getattr(request.scope.get("route"), "path", "")
    op = next((o for o in CATALOG.values() if f"/api/v1{o.path}" == path), None)
    problems = field_problems(list(exc.errors()), model=op.input if op else None)
    if any(p.field == "(input)" for p in problems):
        problems = [p for p in problems if p.field != "(input)"] or problems
    return problem_response(BadInput(f"{len(problems)} field(s) need fixing", errors=problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    err = CodeForgeError(str(exc.detail), fix="check the URL against GET /api/v1/catalog")
    err.status = exc.status_code
    err.title = "Not found" if exc.status_code == 404 else "HTTP error"
    err.slug = "not-found" if exc.status_code == 404 else "http"
    return problem_response(err)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        CodeForgeError("the platform hit an internal error", fix="try again; if it persists, read the platform log")
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CodeForgeError, _codeforge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
