"""A small app instrumented with the OpenTelemetry Python SDK, run as a child process by the
traces tests: it exports over OTLP/HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT with
OTEL_EXPORTER_OTLP_HEADERS, exactly as a deployed app would, then prints one JSON line:
the trace ids it made and what each export returned.

One checkout request: `POST /checkout` (server) -> `load cart` -> `SELECT carts` (client), and
`charge card`, which raises (ValueError from `charge`, recorded with span.record_exception and
status ERROR); log lines through logging with the SDK's LoggingHandler (one with exc_info)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode

RESULTS: dict[str, list[str]] = {"traces": [], "logs": []}


class RecordingSpanExporter(OTLPSpanExporter):
    """The SDK's exporter, remembering each export's result (the batch processor drops it)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        RESULTS["traces"].append(result.name)
        return result


class RecordingLogExporter(OTLPLogExporter):
    def export(self, batch: Any) -> Any:
        result = super().export(batch)
        RESULTS["logs"].append(result.name)
        return result


class PaymentDeclined(ValueError):
    pass


def charge(amount_cents: int) -> None:
    if amount_cents > 10_000:
        raise PaymentDeclined(f"card declined for {amount_cents} cents")


def checkout(tracer: trace.Tracer, log: logging.Logger, amount_cents: int) -> str:
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("load cart"):
            with tracer.start_as_current_span("SELECT carts", kind=trace.SpanKind.CLIENT) as query:
                query.set_attribute("db.system", "postgresql")
            log.info("cart loaded with %d items", 3)
        with tracer.start_as_current_span("charge card", record_exception=False, set_status_on_exception=False) as span:
            try:
                charge(amount_cents)
            except PaymentDeclined as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                log.exception("payment failed")
        return format(root.get_span_context().trace_id, "032x")


def main() -> int:
    resource = Resource.create({"service.name": sys.argv[1] if len(sys.argv) > 1 else "shop"})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(BatchSpanProcessor(RecordingSpanExporter()))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(RecordingLogExporter()))
    set_logger_provider(logs)
    log = logging.getLogger("shop.checkout")
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logs))

    tracer = tracing.get_tracer("shop")
    ok = checkout(tracer, log, 500)  # the error span exists in both; only the second charge fails
    failed = checkout(tracer, log, 50_000)
    tracing.shutdown()
    logs.shutdown()
    print(json.dumps({"traces": [ok, failed], "results": RESULTS}), flush=True)
    return 0 if all(r == "SUCCESS" for r in RESULTS["traces"] + RESULTS["logs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
