"""What the telemetry stores hold, as plain data passed between ingestion, stores, alerts and
error tracking. Times are Unix nanoseconds (OTLP's unit) unless a name says otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["ExceptionEvent", "LogRecord", "Matcher", "SeriesData", "Span", "SpanEvent", "StackFrame", "matches"]


@dataclass(slots=True)
class LogRecord:
    time_ns: int
    line: str  # the text searched and shown
    # Stream labels, few and low-cardinality (service, level, source, job, ...): filters and groups.
    labels: dict[str, str] = field(default_factory=dict)
    # Everything else the record carried (structured fields, OTLP attributes): shown, not indexed.
    attributes: dict[str, Any] = field(default_factory=dict)
    level: str = ""  # debug | info | warning | error | critical | "" (unknown)
    trace_id: str = ""  # 32 hex digits, or ""
    span_id: str = ""  # 16 hex digits, or ""


@dataclass(slots=True)
class StackFrame:
    path: str  # as the running program saw it: /app/src/shop/cart.py
    line: int
    function: str
    in_app: bool  # False for the standard library and installed packages
    code: str = ""  # the source line, when the stack trace carried it


@dataclass(slots=True)
class ExceptionEvent:
    time_ns: int
    type: str  # "ValueError", "builtins.KeyError", "TypeError" (JS), ...
    message: str
    frames: list[StackFrame]  # outermost call first, the raising frame last (Python's order)
    service: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""
    source: str = "log"  # log | trace
    stacktrace: str = ""  # the text it was parsed from


@dataclass(slots=True)
class SpanEvent:
    time_ns: int
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Span:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    service: str
    name: str  # the operation
    start_ns: int
    end_ns: int
    kind: str = "internal"  # internal | server | client | producer | consumer
    status: str = "unset"  # unset | ok | error
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@lru_cache(maxsize=1024)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL)


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher of a selector (series, log streams, silences): `job="api"` is
    Matcher("job", "=", "api"); the metric name is the label `__name__`."""

    name: str
    op: str  # = | != | =~ | !~ (regexes fully anchored, as Prometheus's)
    value: str

    def accepts(self, labels: Mapping[str, str]) -> bool:
        """Whether labels pass this matcher; a missing label reads as "", as in Prometheus."""
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        if self.op not in ("=~", "!~"):
            raise ValueError(f"unknown matcher operator {self.op!r}: use =, !=, =~ or !~")
        found = _pattern(self.value).fullmatch(value) is not None
        return found if self.op == "=~" else not found


def matches(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether labels pass every matcher."""
    return all(m.accepts(labels) for m in matchers)


@dataclass(slots=True)
class SeriesData:
    """One series' samples in a time range, oldest first; times in Unix milliseconds."""

    labels: dict[str, str]
    times_ms: list[int]
    values: list[float]
