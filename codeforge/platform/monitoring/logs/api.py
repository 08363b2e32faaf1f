"""Log ingestion endpoints: JSON lines or text at `POST /ingest/{project}/logs` (labels from
the query string), Loki's push API at `POST /loki/{project}/api/v1/push` (JSON; protobuf
bodies are refused with 415 and the fix). A token with the developer role or above sends;
a body past `max_request_bytes` is refused with 413 before it is read whole; a full queue
answers 429 with Retry-After."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import QueryParams

from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, FieldProblem, PayloadTooLarge, UnsupportedMediaType
from codeforge.platform.api.deps import BearerCredentials
from codeforge.platform.api.problems import problem_responses
from codeforge.platform.monitoring.access import authorize
from codeforge.platform.monitoring.logs.ingest import decompress, parse_json_lines, parse_loki_json, parse_text_lines
from codeforge.platform.monitoring.runtime import monitoring_for

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(400, 401, 403, 404, 422, 429, 503),
    413: {"description": "The body (or what it inflates to) is larger than max_request_bytes"},
    415: {"description": "An encoding or content type this endpoint does not read"},
}

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_LABELS = 15


def _limit(request: Request) -> int:
    return int(monitoring_for(request.app.state.platform.settings).config.max_request_bytes)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than {limit:,} bytes",
        fix="send fewer lines per request (or raise CODEFORGE_MONITORING_MAX_REQUEST_BYTES)",
    )


async def _body(request: Request) -> bytes:
    """The request body, read up to the limit and refused past it (never held whole)."""
    limit = _limit(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


Body = Annotated[bytes, Depends(_body)]


def _inflate(request: Request, body: bytes) -> bytes:
    limit = _limit(request)
    try:
        return decompress(body, request.headers.get("content-encoding", ""), limit)
    except OverflowError:
        raise _too_large(limit) from None


def _labels(params: QueryParams) -> dict[str, str]:
    labels: dict[str, str] = {}
    problems = []
    for name, value in params.multi_items():
        if not _LABEL.match(name):
            problems.append(FieldProblem(name, "is not a label name", "use letters, digits and _ (not first a digit)"))
        elif len(value) > 1024:
            problems.append(FieldProblem(name, "label value longer than 1024 characters", "shorten the value"))
        else:
            labels[name] = value
    if len(labels) > MAX_LABELS:
        problems.append(
            FieldProblem("(query)", f"{len(labels)} labels", f"give at most {MAX_LABELS}; put the rest in the lines")
        )
    if problems:
        raise BadInput.of_fields(problems)
    return labels


@router.post("/ingest/{project}/logs", summary="Send log lines (JSON lines or text)", responses=_RESPONSES)
def ingest_lines(project: str, request: Request, credentials: BearerCredentials, body: Body) -> dict[str, Any]:
    """JSON lines (`time`, `level`, `message` and other fields) or, with Content-Type
    text/plain, one line of text per line. Query parameters are the lines' labels."""
    scope = authorize(request, credentials, project, Permission.EDIT)
    labels = _labels(request.query_params)
    data = _inflate(request, body)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    records = parse_text_lines(data, labels) if content_type == "text/plain" else parse_json_lines(data, labels)
    accepted = scope.monitoring.logs.ingest(scope.project_id, records)
    return {"accepted": accepted}


@router.post("/loki/{project}/api/v1/push", status_code=204, summary="Loki push API (JSON)", responses=_RESPONSES)
def loki_push(project: str, request: Request, credentials: BearerCredentials, body: Body) -> Response:
    scope = authorize(request, credentials, project, Permission.EDIT)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-protobuf", "application/protobuf"):
        raise UnsupportedMediaType(
            "Loki's protobuf (snappy) push bodies are not accepted",
            fix="send Loki's push JSON with Content-Type: application/json "
            "(Promtail/Alloy: the JSON encoding; Grafana's Loki client libraries: their JSON mode)",
        )
    records = parse_loki_json(_inflate(request, body))
    scope.monitoring.logs.ingest(scope.project_id, records)
    return Response(status_code=204)
