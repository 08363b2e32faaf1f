"""TraceStore and the traces operations: spans arriving out of order, in several batches and
twice (a retried export); search filters; the span tree (orphans, a cycle); retention; the
operations' refusals (a bad id, an unknown trace, a bad duration or time); and the same
ingest, search and tree on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from codeforge.client import PlatformClient
from codeforge.platform.monitoring.records import Span, SpanEvent
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.monitoring.traces.service import span_tree
from codeforge.platform.monitoring.traces.store import TraceStore
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform
from tests.monitoring_platform import new_project

NOW = 1_800_000_000_000_000_000
MS = 1_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    """A store on SQLite in a data folder of its own, in this process."""
    monitoring = Monitoring(Settings(data_dir=tmp_path, instance_id="test"))
    store: TraceStore = monitoring.traces
    yield store
    monitoring.stop()


def _span(trace: str, span: str, parent: str = "", name: str = "op", service: str = "api", start: int = 0,
          duration: int = 10, status: str = "unset") -> Span:  # fmt: skip
    return Span(
        trace_id=trace * 32 if len(trace) == 1 else trace,
        span_id=span * 16 if len(span) == 1 else span,
        parent_span_id=(parent * 16 if len(parent) == 1 else parent),
        service=service,
        name=name,
        start_ns=NOW + start * MS,
        end_ns=NOW + (start + duration) * MS,
        status=status,
        resource={"service.name": service},
    )


def test_out_of_order_batches_and_retries_keep_one_summary(store: TraceStore) -> None:
    child = _span("a", "2", parent="1", name="query", service="db", start=5, duration=50, status="error")
    late_child = _span("a", "3", parent="1", name="render", start=40, duration=80)
    root = _span("a", "1", name="GET /", start=0, duration=100)

    assert store.ingest("p", [child]) == 1  # the child first: no root yet
    (summary,) = store.search("p")
    assert (summary.has_root, summary.root_name, summary.span_count, summary.error_count) == (False, "", 1, 1)

    assert store.ingest("p", [root, late_child]) == 2
    assert store.ingest("p", [child, root]) == 0  # the exporter retried a batch: counted once
    (summary,) = store.search("p")
    assert (summary.root_service, summary.root_name, summary.span_count, summary.error_count) == ("api", "GET /", 3, 1)
    assert summary.start_ns == NOW and summary.duration_ns == 120 * MS  # the late child ends last

    assert [s.name for s in store.trace("p", "a" * 32)] == ["GET /", "query", "render"]
    assert store.trace("p", "b" * 32) == [] and store.search("other") == []
    assert store.services("p") == ["api", "db"] and store.operations("p", "api") == ["GET /", "render"]


def test_search_filters(store: TraceStore) -> None:
    store.ingest(
        "p",
        [
            _span("1", "1", name="GET /fast", start=0, duration=5),
            _span("2", "1", name="GET /slow", start=1000, duration=2000),
            _span("2", "2", parent="1", name="SELECT", service="db", start=1010, duration=1900, status="error"),
            _span("3", "1", name="GET /fast", service="web", start=2000, duration=50),
        ],
    )

    def ids(**filters: Any) -> list[str]:
        return [t.trace_id[0] for t in store.search("p", **filters)]

    assert ids() == ["3", "2", "1"]  # newest first
    assert ids(service="db") == ["2"] and ids(service="api", operation="GET /fast") == ["1"]
    assert ids(operation="SELECT", error=True) == ["2"] and ids(error=False) == ["3", "1"]
    assert ids(min_duration_ns=50 * MS) == ["3", "2"] and ids(max_duration_ns=50 * MS) == ["3", "1"]
    assert ids(start_ns=NOW + 1000 * MS, end_ns=NOW + 2000 * MS) == ["2"]  # end excluded
    assert ids(limit=1) == ["3"] and ids(service="nobody") == []


def test_span_tree_orphans_and_cycles() -> None:
    spans = [
        _span("a", "1", name="root", start=0),
        _span("a", "2", parent="1", name="b", start=2),
        _span("a", "3", parent="1", name="a", start=1),
        _span("a", "4", parent="9", name="lost parent", start=3),
        _span("a", "5", parent="6", name="cycle x", start=4),
        _span("a", "6", parent="5", name="cycle y", start=5),
    ]
    spans.sort(key=lambda s: s.start_ns)  # as the store gives them
    tree = [(s.name, depth, len(kids), orphan) for s, depth, kids, orphan in span_tree(spans)]
    assert tree == [
        ("root", 0, 2, False),
        ("a", 1, 0, False),
        ("b", 1, 0, False),
        ("lost parent", 0, 0, True),
        ("cycle x", 0, 1, True),
        ("cycle y", 1, 0, False),
    ]


def test_retention_and_events_round_trip(store: TraceStore) -> None:
    old = _span("c", "1", name="old", start=-8 * 86_400_000)  # 8 days before NOW; retention is 7
    new = _span("d", "1", name="new")
    new.events = [SpanEvent(NOW + 1, "exception", {"exception.type": "KeyError", "n": [1, 2]})]
    new.attributes = {"http.status_code": 500, "nested": {"a": True}}
    store.ingest("p", [old, new])
    assert store.apply_retention(now_ns=NOW) == 1
    assert [t.trace_id[0] for t in store.search("p")] == ["d"] and store.trace("p", "c" * 32) == []
    assert store.operations("p") == ["new"]  # the old operation last seen before the window: gone
    (back,) = store.trace("p", "d" * 32)
    assert back.events == new.events and back.attributes == new.attributes and back.resource == {"service.name": "api"}


# ---- the operations on the platform -------------------------------------------------------


def _problem(platform: RunningPlatform, op: str, data: dict[str, Any]) -> httpx.Response:
    """The platform's own answer (the client would refuse a bad input before sending it)."""
    return httpx.post(
        f"{platform.url}/api/v1/monitoring/{op}",
        json=data,
        headers={"Authorization": f"Bearer {platform.token}"},
        timeout=30,
    )


def test_operations_refuse_bad_input(monitored: RunningPlatform, project: str) -> None:
    bad_id = _problem(monitored, "trace", {"project": project, "trace_id": "xyz"})
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "trace_id"
    zeros = _problem(monitored, "trace", {"project": project, "trace_id": "0" * 32})
    assert zeros.status_code == 422 and zeros.json()["errors"][0]["field"] == "trace_id"
    unknown = _problem(monitored, "trace", {"project": project, "trace_id": "ab" * 16})
    assert unknown.status_code == 404 and "monitoring.traces" in unknown.json()["fix"]

    for field, value in (("min_duration", "2 seconds"), ("max_duration", "5x"), ("since", "yesterday")):
        refused = _problem(monitored, "traces", {"project": project, field: value})
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["errors"]
        assert problem["field"] == field and repr(value) in problem["message"]
    swapped = _problem(monitored, "traces", {"project": project, "min_duration": "2s", "max_duration": "250ms"})
    assert swapped.status_code == 422 and swapped.json()["errors"][0]["field"] == "max_duration"
    assert _problem(monitored, "traces", {"project": project, "limit": 0}).status_code == 422


def test_postgresql_ingest_search_and_tree(monitored_pg: RunningPlatform) -> None:
    project = new_project(monitored_pg)
    trace_id = uuid.uuid4().hex
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "pg-app"
    scope = resource_spans.scope_spans.add()
    for span_id, parent, name, start, end, code in (
        ("02" * 8, "01" * 8, "child", 2, 8, 2),
        ("01" * 8, "", "root", 1, 10, 0),
    ):
        span = scope.spans.add(name=name, start_time_unix_nano=NOW + start, end_time_unix_nano=NOW + end)
        span.trace_id, span.span_id, span.parent_span_id = (
            bytes.fromhex(trace_id),
            bytes.fromhex(span_id),
            bytes.fromhex(parent),
        )
        span.status.code = code  # type: ignore[assignment]
    for _ in range(2):  # the second time is a retry: nothing doubles
        sent = httpx.post(
            f"{monitored_pg.url}/otlp/{project}/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {monitored_pg.token}"},
            timeout=30,
        )
        assert sent.status_code == 200, sent.text

    client = PlatformClient(monitored_pg.url, monitored_pg.token)
    (found,) = client.call("monitoring.traces", {"project": project, "service": "pg-app", "error": True}).items
    assert (found.trace_id, found.operation, found.spans, found.errors, found.duration_ms) == (
        trace_id,
        "root",
        2,
        1,
        9e-6,
    )
    tree = client.call("monitoring.trace", {"project": project, "trace_id": trace_id})
    assert [(s.name, s.depth, s.error) for s in tree.spans] == [("root", 0, False), ("child", 1, True)]
