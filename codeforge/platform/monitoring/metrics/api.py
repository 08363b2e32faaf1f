"""Prometheus's HTTP query API over a project's metrics, at `/prometheus/{project}/api/v1/...`
(`query`, `query_range`, `series`, `labels`, `label/{name}/values`), so Grafana's Prometheus
data source (URL `<platform>/prometheus/<project>`, a platform token as bearer) works
unchanged. GET and POST (form-encoded) alike, answers in Prometheus's envelope
(`{"status": "success", "data": ...}`, errors as `{"status": "error", "errorType", "error"}`).

Thin: parameters are read here, then signing in, the store and the PromQL engine run on a
worker thread."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from codeforge import __version__
from codeforge.catalog import Permission
from codeforge.catalog.errors import CodeForgeError, RateLimited
from codeforge.catalog.monitoring.times import parse_duration, parse_time
from codeforge.platform.api.deps import bearer
from codeforge.platform.monitoring.access import Scope, authorize
from codeforge.platform.monitoring.metrics import promql
from codeforge.platform.monitoring.metrics.selector import SelectorError, parse_selector
from codeforge.platform.monitoring.records import Matcher

__all__ = ["format_value", "router"]

router = APIRouter(prefix="/prometheus/{project}/api/v1", tags=["monitoring"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
MAX_POINTS = 11_000  # per series of a range query, as Prometheus refuses more
_ERROR_TYPES = {400: "bad_data", 401: "unauthorized", 403: "forbidden", 404: "not_found", 422: "execution"}
_ENVELOPE = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "errorType": {"type": "string"}, "error": {"type": "string"}},
    "required": ["status"],
}
# Every answer is Prometheus's envelope: {"status": "success", "data": …} or its error form.
_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": _ENVELOPE}}}
    for status, text in {
        200: "Prometheus's envelope with the data",
        400: "bad_data: a parameter or the query is malformed",
        401: "no token, or not a known one",
        403: "the token's role cannot read the project",
        404: "no such project",
        422: "execution: the query parses but cannot run on this data",
        429: "too many failed sign-ins from this address",
        503: "the platform is shutting down",
    }.items()
}


class ApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class Params:
    """The query string and a form-encoded body together (Prometheus reads both)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str) -> str | None:
        return next((v for k, v in reversed(self._pairs) if k == name), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise ApiError(400, "bad_data", f'invalid parameter "{name}": it is required')
        return value

    def time_ms(self, name: str, default_ms: int) -> int:
        value = self.get(name)
        if value is None or value == "":
            return default_ms
        try:
            return round(parse_time(value) * 1000)
        except ValueError as exc:
            raise ApiError(400, "bad_data", f'invalid parameter "{name}": {exc}') from None

    def matchers(self) -> list[list[Matcher]]:
        out = []
        for text in self.all("match[]"):
            try:
                out.append(parse_selector(text))
            except SelectorError as exc:
                raise ApiError(400, "bad_data", f'invalid parameter "match[]": {text!r}: {exc}') from None
        return out


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it in JSON: a string, NaN and ±Inf spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _seconds(t_ms: int) -> float | int:
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def _envelope(data: Any, warnings: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return body


def _result(value: Any) -> dict[str, Any]:
    kind = value.result_type
    if kind in ("scalar", "string"):
        shown = format_value(value.value) if kind == "scalar" else value.value
        return {"resultType": kind, "result": [_seconds(value.time_ms), shown]}
    if kind == "vector":
        return {
            "resultType": "vector",
            "result": [
                {"metric": labels, "value": [_seconds(value.time_ms), format_value(v)]} for labels, v in value.samples
            ],
        }
    return {
        "resultType": "matrix",
        "result": [
            {"metric": labels, "values": [[_seconds(t), format_value(v)] for t, v in points]}
            for labels, points in value.series
        ],
    }


def _evaluate(call: Callable[[list[str]], promql.Value]) -> dict[str, Any]:
    warnings: list[str] = []
    try:
        value = call(warnings)
    except promql.PromQLError as exc:
        # A query that does not parse is bad data; a data fault while it runs is execution's.
        status, kind = (422, "execution") if exc.execution else (400, "bad_data")
        raise ApiError(status, kind, str(exc)) from None
    return _envelope(_result(value), warnings)


# ---- the endpoints, each run on a worker thread -----------------------------------------


def _query(scope: Scope, params: Params) -> dict[str, Any]:
    query = params.required("query")
    at_ms = params.time_ms("time", int(time.time() * 1000))
    return _evaluate(
        lambda warnings: promql.evaluate_instant(
            scope.monitoring.metrics, scope.project_id, query, at_ms, warnings=warnings
        )
    )


def _step_ms(text: str) -> int:
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise ApiError(400, "bad_data", f'invalid parameter "step": {exc}') from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ApiError(
            400,
            "bad_data",
            'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
        )
    return max(1, round(seconds * 1000))


def _query_range(scope: Scope, params: Params) -> dict[str, Any]:
    query = params.required("query")
    start_ms = params.time_ms("start", -1) if params.get("start") else None
    end_ms = params.time_ms("end", -1) if params.get("end") else None
    if start_ms is None or end_ms is None:
        raise ApiError(400, "bad_data", f'invalid parameter "{"start" if start_ms is None else "end"}": it is required')
    if end_ms < start_ms:
        raise ApiError(400, "bad_data", 'invalid parameter "end": end timestamp must not be before start time')
    step_ms = _step_ms(params.required("step"))
    if (end_ms - start_ms) // step_ms > MAX_POINTS:
        raise ApiError(
            400,
            "bad_data",
            f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries. Try decreasing the query "
            "resolution (?step=XX)",
        )
    return _evaluate(
        lambda warnings: promql.evaluate_range(
            scope.monitoring.metrics, scope.project_id, query, start_ms, end_ms, step_ms, warnings=warnings
        )
    )


def _range(params: Params) -> tuple[int | None, int | None]:
    start = params.time_ms("start", -1) if params.get("start") else None
    end = params.time_ms("end", -1) if params.get("end") else None
    return start, end


def _series(scope: Scope, params: Params) -> dict[str, Any]:
    selectors = params.matchers()
    if not selectors:
        raise ApiError(400, "bad_data", "no match[] parameter provided: give a series selector, e.g. match[]=up")
    start, end = _range(params)
    found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for matchers in selectors:
        for labels in scope.monitoring.metrics.series(scope.project_id, matchers, start, end):
            found[tuple(sorted(labels.items()))] = labels
    return _envelope([found[k] for k in sorted(found)])


def _label_sets(scope: Scope, params: Params) -> list[dict[str, str]] | None:
    """The label sets `match[]` selects in the range, or None for every series of the project."""
    selectors = params.matchers()
    start, end = _range(params)
    if not selectors:
        if start is None and end is None:
            return None
        selectors = [[Matcher("__name__", "=~", ".+")]]
    return [labels for m in selectors for labels in scope.monitoring.metrics.series(scope.project_id, m, start, end)]


def _labels(scope: Scope, params: Params) -> dict[str, Any]:
    sets = _label_sets(scope, params)
    if sets is None:
        return _envelope(scope.monitoring.metrics.label_names(scope.project_id))
    return _envelope(sorted({name for labels in sets for name in labels}))


def _label_values(scope: Scope, params: Params, name: str) -> dict[str, Any]:
    sets = _label_sets(scope, params)
    if sets is None:
        return _envelope(scope.monitoring.metrics.label_values(scope.project_id, name))
    return _envelope(sorted({labels[name] for labels in sets if name in labels}))


def _buildinfo(scope: Scope, params: Params) -> dict[str, Any]:
    return _envelope({"version": "2.42.0", "application": f"codeforge {__version__}", "revision": "", "branch": ""})


def _metadata(scope: Scope, params: Params) -> dict[str, Any]:
    return _envelope({})


# ---- HTTP ---------------------------------------------------------------------------------


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"status": "error", "errorType": error_type, "error": message}
    return JSONResponse(body, status_code=status, headers=headers)


async def _answer(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    project: str,
    handler: Callable[[Scope, Params], dict[str, Any]],
) -> JSONResponse:
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            pairs += parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    params = Params(pairs)

    def run() -> dict[str, Any]:
        scope = authorize(request, credentials, project, Permission.VIEW)
        return handler(scope, params)

    try:
        return JSONResponse(await run_in_threadpool(run))
    except ApiError as exc:
        return _error(exc.status, exc.error_type, str(exc))
    except CodeForgeError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return _error(exc.status, _ERROR_TYPES.get(exc.status, exc.slug), exc.message, headers)


def _route(path: str, handler: Callable[[Scope, Params], dict[str, Any]], summary: str) -> None:
    async def endpoint(request: Request, project: str, credentials: Credentials) -> JSONResponse:
        return await _answer(request, credentials, project, handler)

    _add(path, endpoint, summary)


def _add(path: str, endpoint: Callable[..., Any], summary: str) -> None:
    """GET, documented, and POST with a form (Prometheus answers both; Grafana posts long
    queries), served alike but left out of the document: one operation per path there, and a
    405's `Allow` (Starlette's, from the first route) agrees with it."""
    name = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    router.add_api_route(
        path, endpoint, methods=["GET"], summary=summary, responses=_RESPONSES, operation_id=f"prometheus_{name}"
    )
    router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False, name=f"prometheus_{name}_post")


_route("/query", _query, "PromQL instant query (Prometheus HTTP API)")
_route("/query_range", _query_range, "PromQL range query (Prometheus HTTP API)")
_route("/series", _series, "Series matching selectors (Prometheus HTTP API)")
_route("/labels", _labels, "Label names (Prometheus HTTP API)")
_route("/status/buildinfo", _buildinfo, "Build information (Prometheus HTTP API)")
_route("/metadata", _metadata, "Metric metadata (none kept; Prometheus HTTP API)")


async def label_values(request: Request, project: str, name: str, credentials: Credentials) -> JSONResponse:
    return await _answer(request, credentials, project, lambda scope, params: _label_values(scope, params, name))


_add("/label/{name}/values", label_values, "Label values (Prometheus HTTP API)")
