"""Trace ingestion rate: spans per second through what the OTLP endpoint does per request
(protobuf decode into records, then TraceStore.ingest: span rows, per-trace summaries,
operations, and error tracking's look at the spans), against baselines in the same run:

- `parse only`: `ExportTraceServiceRequest.ParseFromString` of the same bodies (the floor of
  any protobuf receiver);
- `plain executemany`: the same span rows (ids, names, times, attributes as JSON) inserted
  with one `executemany` per batch into a bare SQLite table with the same primary key, one
  transaction per batch (what storing costs without summaries, dedupe or error tracking).

Bodies look like an SDK's: batches of 512 spans (the BatchSpanProcessor's default), traces
of 8 spans (a root server span and its children), 6 attributes per span, a resource of 6,
1 span in 16 with an error and an `exception` event.

    .venv/bin/python -m benchmarks.monitoring_traces                 # 200 batches (102,400 spans), SQLite
    .venv/bin/python -m benchmarks.monitoring_traces --batches 50 --postgres postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.monitoring.traces import otlp
from codeforge.platform.settings import Settings

BATCH = 512
SPANS_PER_TRACE = 8


def _kv(target: Any, key: str, value: str | int) -> None:
    kv = target.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def _stacktrace() -> str:
    try:
        {}["missing"]
    except KeyError:
        return traceback.format_exc()
    return ""


def make_bodies(batches: int) -> list[bytes]:
    stack = _stacktrace()
    bodies = []
    span_counter = 0
    start = time.time_ns() - 3_600_000_000_000
    for b in range(batches):
        request = trace_service_pb2.ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        for key, value in (
            ("service.name", "shop"),
            ("service.version", "1.4.2"),
            ("deployment.environment", "production"),
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.name", "opentelemetry"),
            ("host.name", "web-7"),
        ):
            _kv(resource_spans.resource.attributes, key, value)
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "shop"
        for i in range(BATCH):
            span_counter += 1
            trace_number = (b * BATCH + i) // SPANS_PER_TRACE
            position = i % SPANS_PER_TRACE
            span = scope.spans.add()
            span.trace_id = (trace_number + 1).to_bytes(16, "big")
            span.span_id = span_counter.to_bytes(8, "big")
            if position:
                span.parent_span_id = (span_counter - position).to_bytes(8, "big")
            span.name = "POST /checkout" if position == 0 else f"step {position}"
            span.kind = 2 if position == 0 else 1
            t0 = start + trace_number * 1_000_000 + position * 10_000
            span.start_time_unix_nano = t0
            span.end_time_unix_nano = t0 + (80_000 if position == 0 else 5_000)
            for key, value in (
                ("http.request.method", "POST"),
                ("http.route", "/checkout"),
                ("http.response.status_code", 200),
                ("code.function", f"handler_{position}"),
                ("user.tier", "gold"),
                ("retry.count", 0),
            ):
                _kv(span.attributes, key, value)
            if span_counter % 16 == 0:
                span.status.code = 2
                event = span.events.add(name="exception", time_unix_nano=t0 + 1000)
                _kv(event.attributes, "exception.type", "KeyError")
                _kv(event.attributes, "exception.message", "'missing'")
                _kv(event.attributes, "exception.stacktrace", stack)
        bodies.append(request.SerializeToString())
    return bodies


def _rate(label: str, spans: int, run: Callable[[], None]) -> dict[str, Any]:
    """Wall time and this process's CPU time: on a shared machine the CPU figure is the
    steadier one (the wall clock also counts other processes' turns on the cores)."""
    started, cpu = time.perf_counter(), time.process_time()
    run()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "case": label,
        "spans": spans,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "spans_per_s": round(spans / seconds),
        "spans_per_cpu_s": round(spans / cpu_seconds),
    }


def parse_only(bodies: list[bytes]) -> None:
    for body in bodies:
        trace_service_pb2.ExportTraceServiceRequest().ParseFromString(body)


def decode_only(bodies: list[bytes]) -> None:
    for body in bodies:
        otlp.decode_traces(body)


def plain_executemany(bodies: list[bytes], folder: Path) -> None:
    """The baseline store: rows made from the parsed protobuf, one executemany per batch."""
    conn = sqlite3.connect(folder / "plain.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE spans (project_id TEXT, trace_id TEXT, span_id TEXT, parent_span_id TEXT, name TEXT, "
        "start_ns INTEGER, end_ns INTEGER, attributes TEXT, PRIMARY KEY (project_id, trace_id, span_id))"
    )
    for body in bodies:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        rows = [
            (
                "p",
                s.trace_id.hex(),
                s.span_id.hex(),
                s.parent_span_id.hex(),
                s.name,
                s.start_time_unix_nano,
                s.end_time_unix_nano,
                orjson.dumps({kv.key: kv.value.string_value or kv.value.int_value for kv in s.attributes}).decode(),
            )
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    conn.close()


def ours(bodies: list[bytes], monitoring: Monitoring) -> None:
    store = monitoring.traces
    for body in bodies:
        store.ingest("p", otlp.decode_traces(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches of 512 spans (default 200)")
    parser.add_argument(
        "--postgres", default="", help="a PostgreSQL URL: measure that backend too (its schema monitoring)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    bodies = make_bodies(args.batches)
    spans = args.batches * BATCH
    results = [
        _rate("parse only (ParseFromString)", spans, lambda: parse_only(bodies)),
        _rate("decode_traces (parse + records)", spans, lambda: decode_only(bodies)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results.append(_rate("plain executemany (SQLite)", spans, lambda: plain_executemany(bodies, folder)))
        backends = [("SQLite", "")] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
        for name, url in backends:
            settings = Settings(data_dir=folder / name, database_url=url, instance_id="bench")
            monitoring = Monitoring(settings)
            # Tables made, and error tracking's lazy imports done, outside the timing.
            monitoring.traces.ingest("warm-up", otlp.decode_traces(bodies[0]))
            results.append(_rate(f"decode + TraceStore.ingest ({name})", spans, lambda m=monitoring: ours(bodies, m)))
            again = _rate(f"same bodies again: all duplicates ({name})", spans, lambda m=monitoring: ours(bodies, m))
            results.append(again)
            monitoring.stop()
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
        return
    body_bytes = sum(map(len, bodies))
    print(f"{spans} spans in {len(bodies)} bodies of {BATCH} ({body_bytes / len(bodies) / 1024:.0f} KiB each)")
    for r in results:
        print(
            f"  {r['case']:<48} {r['spans_per_s']:>9,} spans/s wall ({r['seconds']} s)"
            f"  {r['spans_per_cpu_s']:>9,} spans/CPU-s ({r['cpu_seconds']} s)"
        )


if __name__ == "__main__":
    main()
