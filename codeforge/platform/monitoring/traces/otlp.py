"""OTLP/HTTP bodies in and out: `Export{Trace,Logs,Metrics}ServiceRequest` as protobuf
(`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally gzip-compressed,
decoded into the stores' records; the `Export*ServiceResponse` answers in the request's
encoding, with `partial_success` when some items were refused.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters: trace and
span ids are hex strings, not base64. They are rewritten to base64 before
`json_format.ParseDict`, an id that is not hex becoming one byte long so that the id check
below refuses its item (partial success) instead of the whole body. Unknown fields are
ignored, as the specification asks of receivers."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from codeforge.catalog.errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from codeforge.platform.monitoring.records import LogRecord, Span, SpanEvent

__all__ = [
    "JSON",
    "PROTOBUF",
    "Decoded",
    "Encoding",
    "Sample",
    "Signal",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "encode_response",
    "encoding_of",
    "gunzip",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
Encoding = Literal["protobuf", "json"]
Signal = Literal["traces", "logs", "metrics"]
Sample = tuple[dict[str, str], int, float]  # (labels with __name__, time in ms, value): MetricsStore.write's
T = TypeVar("T")

_SPAN_KINDS = ("internal", "internal", "server", "client", "producer", "consumer")  # SPAN_KIND_UNSPECIFIED = 0
_STATUSES = ("unset", "ok", "error")
_UNKNOWN_SERVICE = "unknown_service"


class Decoded(list[T]):
    """The items a request carried that were valid, and how many were refused (with the
    first refusal's reason): an OTLP partial success."""

    def __init__(self, items: Iterable[T] = (), rejected: int = 0, error: str = "") -> None:
        super().__init__(items)
        self.rejected = rejected
        self.error = error

    def refuse(self, reason: str) -> None:
        self.rejected += 1
        if not self.error:
            self.error = reason


@dataclass(frozen=True)
class _Kind:
    request: Callable[[], Message]
    response: Callable[[], Message]
    rejected_field: str


_KINDS: dict[Signal, _Kind] = {
    "traces": _Kind(
        trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"
    ),
    "logs": _Kind(
        logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"
    ),
    "metrics": _Kind(
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
}


# ---- transport ----------------------------------------------------------------------------


def encoding_of(content_type: str) -> Encoding:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        return "protobuf"
    if media == JSON:
        return "json"
    raise UnsupportedMediaType(
        f"OTLP/HTTP bodies are {PROTOBUF} or {JSON}, not {media or '(no Content-Type)'!r}",
        fix=f"send Content-Type: {PROTOBUF} (the SDKs' http/protobuf) or {JSON} (OTLP/JSON)",
    )


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """A gzip body inflated, refusing one that inflates past `max_bytes` (a zip bomb is
    refused after reading at most that much)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
        if len(out) > max_bytes:
            raise PayloadTooLarge(
                f"the gzip body inflates to more than {max_bytes} bytes",
                fix="send smaller batches (the SDK's max export batch size) or raise CODEFORGE_MONITORING_MAX_REQUEST_BYTES",
            )
        if not inflater.eof:
            raise BadInput("the gzip body is truncated", fix="send the whole compressed body")
    except zlib.error as exc:
        raise BadInput(
            f"the gzip body is malformed: {exc}", fix="compress with gzip or send Content-Encoding: identity"
        ) from None
    return out


def _body(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding == "gzip":
        return gunzip(body, max_bytes)
    raise UnsupportedMediaType(
        f"Content-Encoding {content_encoding!r} is not supported", fix="send gzip or an uncompressed body"
    )


def _parse(signal: Signal, body: bytes, content_type: str, content_encoding: str, max_bytes: int) -> Any:
    encoding = encoding_of(content_type)
    raw = _body(body, content_encoding, max_bytes)
    message = _KINDS[signal].request()
    if encoding == "protobuf":
        try:
            message.ParseFromString(raw)
        except DecodeError as exc:
            raise BadInput(
                f"the OTLP protobuf body is truncated or malformed: {exc}",
                fix=f"send a whole {message.DESCRIPTOR.name} as {PROTOBUF}",
            ) from None
        return message
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"the OTLP/JSON body is not JSON: {exc}", fix="send an OTLP/JSON object") from None
    if not isinstance(document, dict):
        raise BadInput("the OTLP/JSON body is not an object", fix=f'send {{"resource{signal.capitalize()}": [...]}}')
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadInput(
            f"the OTLP/JSON body is malformed: {exc}",
            fix="follow OTLP/JSON: lowerCamelCase fields, hex trace and span ids, int64 as numbers or strings",
        ) from None
    return message


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_WRONG_ID = base64.b64encode(b"\x00").decode()  # one byte: refused by the id check, not the whole body


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    node[key] = _WRONG_ID
            elif isinstance(value, dict | list) and key not in ("attributes", "body"):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def encode_response(signal: Signal, encoding: Encoding, rejected: int = 0, error: str = "") -> tuple[bytes, str]:
    """The Export*ServiceResponse for a request of this encoding: (body, media type)."""
    response = _KINDS[signal].response()
    if rejected or error:
        partial = response.partial_success
        setattr(partial, _KINDS[signal].rejected_field, rejected)
        partial.error_message = error
    if encoding == "protobuf":
        return response.SerializeToString(), PROTOBUF
    return json_format.MessageToJson(response, indent=None).encode(), JSON


# ---- values -------------------------------------------------------------------------------


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":  # most attributes: the fast path first
        return value.string_value
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs:  # the hot loop of decoding: strings without a call
        value = kv.value
        out[kv.key] = value.string_value if value.WhichOneof("value") == "string_value" else _value(value)
    return out


def _service(resource: dict[str, Any]) -> str:
    name = resource.get("service.name")
    return str(name) if name else _UNKNOWN_SERVICE


def _hex_id(raw: bytes, size: int, what: str, optional: bool = False) -> str:
    if len(raw) == size and raw != bytes(size):
        return raw.hex()
    if optional and (not raw or raw == bytes(size)):
        return ""
    if len(raw) != size:
        raise ValueError(f"{what} has {len(raw)} bytes, expected {size} ({2 * size} hex digits in OTLP/JSON)")
    raise ValueError(f"{what} is all zeros")


# ---- traces -------------------------------------------------------------------------------


def decode_traces(
    body: bytes, content_type: str = PROTOBUF, content_encoding: str = "", max_bytes: int = 1 << 30
) -> Decoded[Span]:
    """The spans of an ExportTraceServiceRequest; a span with a bad id or times is refused
    (counted in `rejected`), the rest kept."""
    request = _parse("traces", body, content_type, content_encoding, max_bytes)
    out: Decoded[Span] = Decoded()
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        service = _service(resource)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name
            for i, span in enumerate(scope_spans.spans):
                try:
                    trace_id = _hex_id(span.trace_id, 16, "trace_id")
                    span_id = _hex_id(span.span_id, 8, "span_id")
                    parent = _hex_id(span.parent_span_id, 8, "parent_span_id", optional=True)
                    if span.end_time_unix_nano < span.start_time_unix_nano:
                        raise ValueError("end_time_unix_nano is before start_time_unix_nano")
                except ValueError as exc:
                    out.refuse(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]: {exc}")
                    continue
                attributes = _attributes(span.attributes)
                if scope:
                    attributes.setdefault("otel.scope.name", scope)
                out.append(
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=parent,
                        service=service,
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        kind=_SPAN_KINDS[span.kind] if 0 <= span.kind < len(_SPAN_KINDS) else "internal",
                        status=_STATUSES[span.status.code] if 0 <= span.status.code < 3 else "unset",
                        status_message=span.status.message,
                        attributes=attributes,
                        resource=resource,  # one dict per resource, shared by its spans
                        events=[SpanEvent(e.time_unix_nano, e.name, _attributes(e.attributes)) for e in span.events],
                    )
                )
    return out


# ---- logs ---------------------------------------------------------------------------------

_LEVEL_TEXT = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "err": "error",
    "fatal": "critical",
    "critical": "critical",
    "crit": "critical",
    "alert": "critical",
    "emergency": "critical",
}


def _level(number: int, text: str) -> str:
    """OTLP's SeverityNumber ranges (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR,
    21-24 FATAL) as the stores' levels; the text when the number is unset."""
    if 1 <= number <= 24:
        return ("debug", "debug", "info", "warning", "error", "critical")[(number - 1) // 4]
    return _LEVEL_TEXT.get(text.strip().lower(), "")


def decode_logs(
    body: bytes, content_type: str = PROTOBUF, content_encoding: str = "", max_bytes: int = 1 << 30
) -> Decoded[LogRecord]:
    """The records of an ExportLogsServiceRequest: severity as `level`, the body as `line`
    (a structured body as JSON), the resource's service.name as the label `service`."""
    request = _parse("logs", body, content_type, content_encoding, max_bytes)
    out: Decoded[LogRecord] = Decoded()
    for r, resource_logs in enumerate(request.resource_logs):
        resource = _attributes(resource_logs.resource.attributes)
        service = _service(resource)
        shown_resource = {k: v for k, v in resource.items() if k != "service.name" and not k.startswith("telemetry.")}
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name
            for i, record in enumerate(scope_logs.log_records):
                try:
                    trace_id = _hex_id(record.trace_id, 16, "trace_id", optional=True)
                    span_id = _hex_id(record.span_id, 8, "span_id", optional=True)
                except ValueError as exc:
                    out.refuse(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]: {exc}")
                    continue
                body_value = _value(record.body)
                line = body_value if isinstance(body_value, str) else orjson.dumps(body_value).decode()
                level = _level(record.severity_number, record.severity_text)
                labels = {"service": service, "source": "otlp"}
                if level:
                    labels["level"] = level
                attributes = _attributes(record.attributes)
                if scope:
                    attributes.setdefault("otel.scope.name", scope)
                if shown_resource:
                    attributes.setdefault("resource", shown_resource)
                out.append(
                    LogRecord(
                        time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                        line=line,
                        labels=labels,
                        attributes=attributes,
                        level=level,
                        trace_id=trace_id,
                        span_id=span_id,
                    )
                )
    return out


# ---- metrics ------------------------------------------------------------------------------


def _metric_name(name: str) -> str:
    """A Prometheus metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*, other characters as `_`."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_:") else "_" for c in name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def _label_name(name: str) -> str:
    return _metric_name(name).replace(":", "_")


def _format_le(bound: float) -> str:
    return repr(float(bound))  # 0.005, 1.0, 2.5: as prometheus_client writes `le`


_NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK


def decode_metrics(
    body: bytes, content_type: str = PROTOBUF, content_encoding: str = "", max_bytes: int = 1 << 30
) -> Decoded[Sample]:
    """An ExportMetricsServiceRequest as Prometheus samples, the way Prometheus's own OTLP
    receiver names them: `job` = service.namespace/service.name, `instance` =
    service.instance.id; gauges and sums as one series (a monotonic sum gets `_total`), a
    histogram as `_bucket` (cumulative, with `le`), `_sum` and `_count`; a summary as its
    quantiles plus `_sum` and `_count`; an exponential histogram as `_sum` and `_count`."""
    request = _parse("metrics", body, content_type, content_encoding, max_bytes)
    out: Decoded[Sample] = Decoded()
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        base: dict[str, str] = {}
        if "service.name" in resource:
            namespace = resource.get("service.namespace")
            base["job"] = f"{namespace}/{resource['service.name']}" if namespace else str(resource["service.name"])
        if "service.instance.id" in resource:
            base["instance"] = str(resource["service.instance.id"])
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric_samples(metric, base, out)
    return out


def _point_labels(base: dict[str, str], name: str, point: Any) -> dict[str, str]:
    labels = dict(base)
    for kv in point.attributes:
        value = _value(kv.value)
        labels[_label_name(kv.key)] = value if isinstance(value, str) else orjson.dumps(value).decode()
    labels["__name__"] = name
    return labels


def _metric_samples(metric: Any, base: dict[str, str], out: Decoded[Sample]) -> None:
    name = _metric_name(metric.name)
    which = metric.WhichOneof("data")
    if which in ("gauge", "sum"):
        data = getattr(metric, which)
        if which == "sum" and data.is_monotonic and not name.endswith("_total"):
            name += "_total"
        for point in data.data_points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
            out.append((_point_labels(base, name, point), point.time_unix_nano // 1_000_000, value))
    elif which == "histogram":
        for point in metric.histogram.data_points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            ms = point.time_unix_nano // 1_000_000
            labels = _point_labels(base, name, point)
            cumulative = 0
            for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
                cumulative += count
                out.append(({**labels, "__name__": f"{name}_bucket", "le": _format_le(bound)}, ms, float(cumulative)))
            out.append(({**labels, "__name__": f"{name}_bucket", "le": "+Inf"}, ms, float(point.count)))
            if point.HasField("sum"):
                out.append(({**labels, "__name__": f"{name}_sum"}, ms, point.sum))
            out.append(({**labels, "__name__": f"{name}_count"}, ms, float(point.count)))
    elif which == "exponential_histogram":
        for point in metric.exponential_histogram.data_points:
            ms = point.time_unix_nano // 1_000_000
            labels = _point_labels(base, name, point)
            if point.HasField("sum"):
                out.append(({**labels, "__name__": f"{name}_sum"}, ms, point.sum))
            out.append(({**labels, "__name__": f"{name}_count"}, ms, float(point.count)))
    elif which == "summary":
        for point in metric.summary.data_points:
            ms = point.time_unix_nano // 1_000_000
            labels = _point_labels(base, name, point)
            for q in point.quantile_values:
                out.append(({**labels, "quantile": repr(float(q.quantile))}, ms, q.value))
            out.append(({**labels, "__name__": f"{name}_sum"}, ms, point.sum))
            out.append(({**labels, "__name__": f"{name}_count"}, ms, float(point.count)))
    else:
        out.refuse(f"metric {metric.name!r} has no data")
