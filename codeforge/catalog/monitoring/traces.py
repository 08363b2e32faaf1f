"""Traces: search a project's traces (OTLP/HTTP ingested) by service, operation, duration,
error and time; show one trace as its span tree with timings (docs/monitoring.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare
from codeforge.catalog.monitoring.times import DURATION_FORM, TIME_FORM, parse_duration, parse_time

__all__ = [
    "TRACE",
    "TRACES",
    "TRACE_ID_PATTERN",
    "SpanEventView",
    "SpanNode",
    "Trace",
    "TraceInput",
    "TraceList",
    "TraceSummary",
    "TracesInput",
]

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
SpanKind = Literal["internal", "server", "client", "producer", "consumer"]
SpanStatus = Literal["unset", "ok", "error"]


class TracesInput(ProjectInput):
    service: str | None = Field(
        default=None, min_length=1, max_length=200, description="Only traces with a span of this service."
    )
    operation: str | None = Field(
        default=None, min_length=1, max_length=500, description="Only traces with a span of this name (operation)."
    )
    min_duration: str | None = Field(
        default=None, max_length=40, description=f"Only traces lasting at least this long: {DURATION_FORM}."
    )
    max_duration: str | None = Field(
        default=None, max_length=40, description=f"Only traces lasting at most this long: {DURATION_FORM}."
    )
    error: bool | None = Field(
        default=None, description="true: only traces with an error span; false: only traces without one."
    )
    since: str | None = Field(default=None, max_length=64, description=f"Traces started at or after: {TIME_FORM}.")
    until: str | None = Field(default=None, max_length=64, description=f"Traces started before: {TIME_FORM}.")
    limit: int = Field(default=20, ge=1, le=1000, description="At most this many traces, newest first (1-1000).")

    @field_validator("min_duration", "max_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("since", "until")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value


class TraceSummary(BaseModel):
    trace_id: str
    service: str = Field(description="The root span's service; empty while the root has not arrived.")
    operation: str = Field(description="The root span's name.")
    start: datetime
    duration_ms: float
    spans: int
    errors: int = Field(description="Spans with status error.")
    complete: bool = Field(description="Whether the root span has arrived.")


class TraceList(BaseModel):
    items: list[TraceSummary]


class TraceInput(ProjectInput):
    trace_id: str = Field(
        pattern=TRACE_ID_PATTERN,
        description="Trace id: 32 hex digits, as `monitoring.traces` and the logs' trace_id show it.",
        json_schema_extra={"x-codeforge-values": "monitoring.traces#trace_id"},
    )


class SpanEventView(BaseModel):
    time: datetime
    offset_ms: float = Field(description="Milliseconds after the trace's start.")
    name: str
    attributes: dict[str, Any]


class SpanNode(BaseModel):
    span_id: str
    parent_span_id: str = Field(description="Empty for a root span.")
    depth: int = Field(description="0 for a root (or a span whose parent never arrived), its parent's + 1 otherwise.")
    children: list[str] = Field(description="Ids of the spans it parents, by start time.")
    service: str
    name: str
    kind: SpanKind
    start: datetime
    offset_ms: float = Field(description="Milliseconds after the trace's start.")
    duration_ms: float
    status: SpanStatus
    status_message: str
    error: bool
    orphan: bool = Field(description="It names a parent the trace does not hold (not arrived, or lost).")
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[SpanEventView]


class Trace(BaseModel):
    trace_id: str
    service: str
    operation: str
    start: datetime
    duration_ms: float
    span_count: int
    error_count: int
    spans: list[SpanNode] = Field(description="Depth first: each span followed by its children, by start time.")


TRACES = declare(
    Operation(
        name="monitoring.traces",
        title="Search traces",
        input=TracesInput,
        output=TraceList,
        permission=Permission.VIEW,
        target="{project}",
    )
)

TRACE = declare(
    Operation(
        name="monitoring.trace",
        title="Show a trace as its span tree",
        input=TraceInput,
        output=Trace,
        permission=Permission.VIEW,
        target="{project}/{trace_id}",
    )
)
