"""OTLP/HTTP ingestion against the shared platform: an app instrumented with the OpenTelemetry
Python SDK (tests/monitoring/otel_app.py, a child process) sends traces and logs unchanged;
OTLP/JSON by hand as the specification shows it; gzip; and the refusals (truncated or
malformed bodies, oversized ones, a wrong content type, a viewer's token, an unknown project).
Decoding of logs and metrics is checked on its own at the end."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from codeforge.catalog import CATALOG
from codeforge.catalog.errors import BadInput
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.traces import otlp
from tests.conftest import RunningPlatform

APP = Path(__file__).with_name("otel_app.py")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
LIMIT = 16 * 1024 * 1024  # MonitoringSettings.max_request_bytes' default, which the shared platform keeps


def _post(
    platform: RunningPlatform, project: str, signal: str, body: Any, headers: dict[str, str], token: str | None = None
) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token or platform.token}"} if token != "" else {}
    return httpx.post(
        f"{platform.url}/otlp/{project}/v1/{signal}", content=body, headers={**headers, **auth}, timeout=60
    )


def _call(client: PlatformClient, op: str, data: dict[str, Any]) -> Any:
    """An operation's output as JSON, the way an editor sees it."""
    return client.call(op, data).model_dump(mode="json")


def _eventually(check: Callable[[], Any], what: str, attempts: int = 100) -> Any:
    """What `check` returns once truthy: for work a platform loop finishes after the answer
    (the log writer, error grouping). Not a timing assertion: it only bounds the wait."""
    for _ in range(attempts):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} never happened")


def _span_request(trace_id: str, spans: list[tuple[str, str, str, int, int, int]], service: str = "shop") -> bytes:
    """(span_id, parent, name, start_ns, end_ns, status code) as an ExportTraceServiceRequest."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    scope = resource_spans.scope_spans.add()
    for span_id, parent, name, start, end, code in spans:
        span = scope.spans.add()
        span.trace_id, span.span_id = bytes.fromhex(trace_id), bytes.fromhex(span_id)
        span.parent_span_id = bytes.fromhex(parent)
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = name, start, end
        span.status.code = code  # type: ignore[assignment]
    return request.SerializeToString()


def _run_app(platform: RunningPlatform, project: str, service: str) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CODEFORGE_"))},
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"{platform.url}/otlp/{project}",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{platform.token}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    done = subprocess.run(
        [sys.executable, str(APP), service], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"the app's exports failed:\n{done.stdout}\n{done.stderr}"
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# ---- a real SDK app -----------------------------------------------------------------------


def test_sdk_app_traces_logs_and_errors(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    sent = _run_app(monitored, project, "shop")
    ok, failed = sent["traces"]

    found = _call(client, "monitoring.traces", {"project": project, "service": "shop"})["items"]
    assert {t["trace_id"] for t in found} == {ok, failed}
    assert all(t["complete"] and t["operation"] == "POST /checkout" and t["spans"] == 4 for t in found)
    errors = _call(client, "monitoring.traces", {"project": project, "error": True})["items"]
    assert [t["trace_id"] for t in errors] == [failed] and errors[0]["errors"] == 1
    assert [
        t["trace_id"] for t in _call(client, "monitoring.traces", {"project": project, "error": False})["items"]
    ] == [ok]
    by_operation = _call(client, "monitoring.traces", {"project": project, "operation": "SELECT carts"})["items"]
    assert len(by_operation) == 2
    assert _call(client, "monitoring.traces", {"project": project, "min_duration": "1h"})["items"] == []
    assert (
        len(_call(client, "monitoring.traces", {"project": project, "since": "5m", "max_duration": "1h"})["items"]) == 2
    )
    assert _call(client, "monitoring.traces", {"project": project, "service": "billing"})["items"] == []

    tree = _call(client, "monitoring.trace", {"project": project, "trace_id": failed.upper()})
    assert tree["trace_id"] == failed and tree["service"] == "shop" and tree["span_count"] == 4
    shape = [(s["name"], s["depth"], s["kind"], s["error"]) for s in tree["spans"]]
    assert shape == [
        ("POST /checkout", 0, "server", False),
        ("load cart", 1, "internal", False),
        ("SELECT carts", 2, "client", False),
        ("charge card", 1, "internal", True),
    ]
    root, load, query, charge = tree["spans"]
    assert root["children"] == [load["span_id"], charge["span_id"]] and load["children"] == [query["span_id"]]
    assert query["parent_span_id"] == load["span_id"] and not any(s["orphan"] for s in tree["spans"])
    assert root["offset_ms"] == 0 and all(s["duration_ms"] >= 0 for s in tree["spans"])
    assert root["attributes"]["http.request.method"] == "POST" and root["resource"]["service.name"] == "shop"
    assert charge["status_message"] == "card declined for 50000 cents"
    (exception,) = charge["events"]
    assert exception["name"] == "exception"
    assert exception["attributes"]["exception.type"].endswith("PaymentDeclined")
    assert "otel_app.py" in exception["attributes"]["exception.stacktrace"]

    if "monitoring.logs" in CATALOG:  # the logs part: OTLP log records reach its store
        logs = _eventually(
            lambda: _call(client, "monitoring.logs", {"project": project, "query": "payment failed"})["items"],
            "the OTLP log line reaching the log store",
        )
        assert {line.get("trace_id") for line in logs} == {failed}
    else:
        assert sent["results"]["logs"], "the app exported its logs (the platform answered 503 meanwhile)"

    groups = _eventually(
        lambda: [
            g
            for g in _call(client, "monitoring.errors", {"project": project})["items"]
            if g["type"].endswith("PaymentDeclined")
        ],
        "the recorded exception becoming an error group",
    )
    assert groups[0]["frames"] and groups[0]["frames"][-1]["function"] == "charge"


# ---- encodings ----------------------------------------------------------------------------


def test_otlp_json_body_as_the_specification_shows(
    monitored: RunningPlatform, project: str, client: PlatformClient
) -> None:
    trace_id = uuid.uuid4().hex
    now = time.time_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual", "version": "1.0"},
                        "spans": [
                            {
                                "traceId": trace_id.upper(),
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "",
                                "name": "GET /items",
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 2_000_000),
                                "kind": 2,
                                "attributes": [
                                    {"key": "http.status_code", "value": {"intValue": "200"}},
                                    {"key": "retry", "value": {"boolValue": False}},
                                ],
                                "status": {},
                                "someFutureField": 1,
                            },
                            {
                                "traceId": trace_id,
                                "spanId": "eee19b7ec3c1b175",
                                "parentSpanId": "eee19b7ec3c1b174",
                                "name": "render",
                                "startTimeUnixNano": now + 1_000_000,
                                "endTimeUnixNano": now + 1_500_000,
                                "kind": "SPAN_KIND_INTERNAL",
                                "status": {"code": 2, "message": "template missing"},
                            },
                            {"traceId": "not-hex", "spanId": "eee19b7ec3c1b176", "name": "bad id"},
                        ],
                    }
                ],
            }
        ]
    }
    answer = _post(monitored, project, "traces", json.dumps(body), JSON)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] in ("1", 1) and "spans[2]: trace_id" in partial["errorMessage"]

    tree = _call(client, "monitoring.trace", {"project": project, "trace_id": trace_id})
    assert [(s["name"], s["depth"], s["kind"], s["status"]) for s in tree["spans"]] == [
        ("GET /items", 0, "server", "unset"),
        ("render", 1, "internal", "error"),
    ]
    assert tree["spans"][0]["attributes"] == {"http.status_code": 200, "retry": False, "otel.scope.name": "manual"}
    assert tree["duration_ms"] == 2.0 and tree["error_count"] == 1

    # A body of nothing but valid items answers an empty response; protobuf in, protobuf out.
    clean = _post(
        monitored, project, "traces", _span_request(uuid.uuid4().hex, [("01" * 8, "", "x", 1, 2, 0)]), PROTOBUF
    )
    assert clean.status_code == 200 and clean.headers["content-type"] == "application/x-protobuf"
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(clean.content)
    assert not response.HasField("partial_success")


def test_gzip_bodies(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    trace_id = uuid.uuid4().hex
    body = _span_request(trace_id, [("0a" * 8, "", "zipped", 10, 20, 0)])
    answer = _post(monitored, project, "traces", gzip.compress(body), {**PROTOBUF, "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert _call(client, "monitoring.trace", {"project": project, "trace_id": trace_id})["spans"][0]["name"] == "zipped"

    truncated = _post(monitored, project, "traces", gzip.compress(body)[:-12], {**PROTOBUF, "Content-Encoding": "gzip"})
    assert truncated.status_code == 400 and "gzip body is truncated" in truncated.json()["detail"]
    bomb = gzip.compress(b"\0" * (LIMIT + 1))  # ~16 KB inflating past the limit
    inflated = _post(monitored, project, "traces", bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert inflated.status_code == 413 and "inflates to more than" in inflated.json()["detail"]
    other = _post(monitored, project, "traces", body, {**PROTOBUF, "Content-Encoding": "br"})
    assert other.status_code == 415 and "gzip" in other.json()["fix"]


# ---- refusals -----------------------------------------------------------------------------


def test_malformed_and_oversized_bodies(monitored: RunningPlatform, project: str) -> None:
    body = _span_request(uuid.uuid4().hex, [("0b" * 8, "", "cut", 10, 20, 0)])
    truncated = _post(monitored, project, "traces", body[:-5], PROTOBUF)
    assert truncated.status_code == 400
    assert truncated.json()["detail"].startswith("the OTLP protobuf body is truncated or malformed: ")
    assert "ExportTraceServiceRequest" in truncated.json()["fix"]

    not_json = _post(monitored, project, "logs", b'{"resourceLogs": [', JSON)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
    wrong_shape = _post(monitored, project, "traces", json.dumps({"resourceSpans": {"a": 1}}), JSON)
    assert wrong_shape.status_code == 400 and "OTLP/JSON body is malformed" in wrong_shape.json()["detail"]

    big = b"\0" * (LIMIT + 1)
    too_large = _post(monitored, project, "traces", big, PROTOBUF)
    assert too_large.status_code == 413 and str(LIMIT) in too_large.json()["detail"]
    chunked = _post(monitored, project, "traces", iter([big[: LIMIT // 2], big[LIMIT // 2 :]]), PROTOBUF)
    assert chunked.status_code == 413  # no Content-Length: counted while it streams

    wrong_type = _post(monitored, project, "traces", body, {"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert "application/x-protobuf" in wrong_type.json()["detail"] and "application/json" in wrong_type.json()["detail"]


def test_who_may_send(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    viewer = f"otlp-viewer-{uuid.uuid4().hex[:6]}"
    client.call("members.add", {"username": viewer, "role": "viewer"})
    token = _call(client, "tokens.create", {"name": "t", "username": viewer})["token"]
    body = _span_request(uuid.uuid4().hex, [("0c" * 8, "", "x", 1, 2, 0)])

    refused = _post(monitored, project, "traces", body, PROTOBUF, token=token)
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    unknown = _post(monitored, "no-such-project", "traces", body, PROTOBUF)
    assert unknown.status_code == 404 and "no-such-project" in unknown.json()["detail"]
    anonymous = _post(monitored, project, "traces", body, PROTOBUF, token="")
    assert anonymous.status_code == 401
    # A viewer may read what others sent.
    assert _call(PlatformClient(monitored.url, token), "monitoring.traces", {"project": project})["items"] == []


def test_otlp_metrics_reach_the_metrics_store(monitored: RunningPlatform, project: str) -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    json_format.ParseDict(_METRICS, request)
    answer = _post(monitored, project, "metrics", request.SerializeToString(), PROTOBUF)
    if answer.status_code == 503:  # the metrics part has not landed in this tree
        assert "metrics store is not installed" in answer.json()["detail"]
        return
    assert answer.status_code == 200, answer.text
    assert not metrics_service_pb2.ExportMetricsServiceResponse.FromString(answer.content).HasField("partial_success")


# ---- decoding on its own ------------------------------------------------------------------

_NOW = 1_700_000_000_000_000_000
_METRICS: dict[str, Any] = {
    "resourceMetrics": [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "shop"}},
                    {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
                ]
            },
            "scopeMetrics": [
                {
                    "metrics": [
                        {"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": str(_NOW), "asInt": "7"}]}},
                        {
                            "name": "http.requests",
                            "sum": {
                                "isMonotonic": True,
                                "aggregationTemporality": 2,
                                "dataPoints": [
                                    {
                                        "timeUnixNano": str(_NOW),
                                        "asDouble": 3.0,
                                        "attributes": [{"key": "http.route", "value": {"stringValue": "/a"}}],
                                    }
                                ],
                            },
                        },
                        {
                            "name": "latency",
                            "histogram": {
                                "aggregationTemporality": 2,
                                "dataPoints": [
                                    {
                                        "timeUnixNano": str(_NOW),
                                        "count": "6",
                                        "sum": 2.5,
                                        "explicitBounds": [0.1, 1.0],
                                        "bucketCounts": ["1", "3", "2"],
                                    }
                                ],
                            },
                        },
                    ]
                }
            ],
        }
    ]
}


def test_decode_metrics_as_prometheus_series() -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    json_format.ParseDict(_METRICS, request)
    samples = otlp.decode_metrics(request.SerializeToString())
    base = {"job": "shop", "instance": "pod-1"}
    ms = _NOW // 1_000_000
    assert samples == [
        ({**base, "__name__": "queue_depth"}, ms, 7.0),
        ({**base, "http_route": "/a", "__name__": "http_requests_total"}, ms, 3.0),
        ({**base, "__name__": "latency_bucket", "le": "0.1"}, ms, 1.0),
        ({**base, "__name__": "latency_bucket", "le": "1.0"}, ms, 4.0),
        ({**base, "__name__": "latency_bucket", "le": "+Inf"}, ms, 6.0),
        ({**base, "__name__": "latency_sum"}, ms, 2.5),
        ({**base, "__name__": "latency_count"}, ms, 6.0),
    ]
    assert samples.rejected == 0


def test_decode_logs_levels_ids_and_refusals() -> None:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    kv = resource_logs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "shop"
    scope = resource_logs.scope_logs.add()
    scope.scope.name = "shop.checkout"
    for number, text, body in ((9, "INFO", "hello"), (17, "", "boom"), (0, "WARN", ""), (0, "", "plain")):
        record = scope.log_records.add()
        record.time_unix_nano, record.severity_number, record.severity_text = _NOW, number, text  # type: ignore[assignment]
        if body:
            record.body.string_value = body
        else:
            record.body.kvlist_value.values.add(key="k").value.int_value = 1
    scope.log_records[1].trace_id, scope.log_records[1].span_id = b"\x01" * 16, b"\x02" * 8
    scope.log_records.add(time_unix_nano=_NOW, span_id=b"\x02" * 3)  # a bad span id: refused alone

    records = otlp.decode_logs(gzip.compress(request.SerializeToString()), "application/x-protobuf", "gzip")
    assert [(r.level, r.line) for r in records] == [
        ("info", "hello"),
        ("error", "boom"),
        ("warning", '{"k":1}'),
        ("", "plain"),
    ]
    assert records[0].labels == {"service": "shop", "source": "otlp", "level": "info"}
    assert records[1].trace_id == "01" * 16 and records[1].span_id == "02" * 8 and records[0].trace_id == ""
    assert records[0].attributes["otel.scope.name"] == "shop.checkout"
    assert records.rejected == 1 and "logRecords[4]: span_id has 3 bytes" in records.error

    body, media = otlp.encode_response("logs", "json", records.rejected, records.error)
    assert media == "application/json" and json.loads(body)["partialSuccess"]["rejectedLogRecords"] in ("1", 1)
    with pytest.raises(BadInput, match="truncated or malformed"):
        otlp.decode_logs(request.SerializeToString()[:-3])
