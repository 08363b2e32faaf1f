"""OTLP/HTTP receiver: `POST /otlp/{project}/v1/{traces,logs,metrics}`, so an app's
OpenTelemetry SDK sends here with OTEL_EXPORTER_OTLP_ENDPOINT=<platform>/otlp/<project> and
its token in OTEL_EXPORTER_OTLP_HEADERS.

Thin: the body is read here (refused past `max_request_bytes`, by Content-Length first and
while it streams), then signing in, decoding and storing run on a worker thread. Errors are
the platform's problem documents with the statuses OTLP/HTTP gives them (400 bad data, 413,
415, 429 with Retry-After, 503), so an SDK retries exactly what it should."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, BadRequest, PayloadTooLarge
from codeforge.platform.api.deps import bearer
from codeforge.platform.api.problems import problem_responses
from codeforge.platform.monitoring.access import Scope, authorize
from codeforge.platform.monitoring.traces import otlp

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Export*ServiceResponse in the request's encoding (partial_success when items were refused)"},
    **problem_responses(400, 401, 403, 404, 429, 503),
    413: {"description": "The body (or what it inflates to) is larger than max_request_bytes"},
    415: {"description": "Content-Type is neither application/x-protobuf nor application/json"},
}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than {limit} bytes",
        fix="send smaller batches (the SDK's max export batch size) or raise CODEFORGE_MONITORING_MAX_REQUEST_BYTES",
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(f"Content-Length {declared!r} is not a number", fix="send the body's length in bytes")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # chunked bodies have no Content-Length: count as they come
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _store(scope: Scope, signal: otlp.Signal, body: bytes, content_type: str, content_encoding: str) -> tuple[int, str]:
    """Decode and hand over; (refused items, the first refusal's reason)."""
    limit = scope.monitoring.config.max_request_bytes
    try:
        if signal == "traces":
            spans = otlp.decode_traces(body, content_type, content_encoding, limit)
            scope.monitoring.traces.ingest(scope.project_id, spans)
            return spans.rejected, spans.error
        decoded: otlp.Decoded[Any] = (otlp.decode_logs if signal == "logs" else otlp.decode_metrics)(
            body, content_type, content_encoding, limit
        )
    except BadInput as exc:
        exc.status = 400  # OTLP/HTTP: data that cannot be decoded is a 400, which SDKs do not retry
        raise
    if decoded and signal == "logs":
        scope.monitoring.logs.ingest(scope.project_id, list(decoded))  # RateLimited (429, Retry-After) when full
    elif decoded:
        scope.monitoring.metrics.write(scope.project_id, decoded)
    return decoded.rejected, decoded.error


async def _export(request: Request, credentials: Credentials, project: str, signal: otlp.Signal) -> Response:
    scope = await run_in_threadpool(authorize, request, credentials, project, Permission.EDIT)
    content_type = request.headers.get("content-type", "")
    encoding = otlp.encoding_of(content_type)  # 415 before reading a body nobody can decode
    body = await _read_body(request, scope.monitoring.config.max_request_bytes)
    rejected, error = await run_in_threadpool(
        _store, scope, signal, body, content_type, request.headers.get("content-encoding", "")
    )
    content, media_type = otlp.encode_response(signal, encoding, rejected, error)
    return Response(content, media_type=media_type)


@router.post("/otlp/{project}/v1/traces", responses=_RESPONSES, summary="OTLP/HTTP traces")
async def export_traces(request: Request, credentials: Credentials, project: str) -> Response:
    return await _export(request, credentials, project, "traces")


@router.post("/otlp/{project}/v1/logs", responses=_RESPONSES, summary="OTLP/HTTP logs")
async def export_logs(request: Request, credentials: Credentials, project: str) -> Response:
    return await _export(request, credentials, project, "logs")


@router.post("/otlp/{project}/v1/metrics", responses=_RESPONSES, summary="OTLP/HTTP metrics")
async def export_metrics(request: Request, credentials: Credentials, project: str) -> Response:
    return await _export(request, credentials, project, "metrics")
