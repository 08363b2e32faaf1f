"""The one reading of durations and times every monitoring input uses (docs/monitoring.md):
durations as Prometheus writes them (`30s`, `5m`, `1h30m`, `500ms`), times as RFC 3339, a
duration ago (`15m`, `2h ago`), `now`, or Unix seconds. Inputs check their fields with
`parse_duration`/`parse_time` (a ValueError becomes pydantic's field error); services that
read a field again use the `*_field` forms, whose BadInput names the field and the fix."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime

from codeforge.catalog.errors import BadInput, FieldProblem

__all__ = [
    "DURATION_FORM",
    "TIME_FORM",
    "format_duration",
    "parse_duration",
    "parse_duration_field",
    "parse_time",
    "parse_time_field",
    "parse_time_ns_field",
]

DURATION_FORM = "a duration as Prometheus writes it, e.g. 30s, 5m, 1h30m, 500ms"
TIME_FORM = "RFC 3339 (2026-01-31T12:00:00Z), a duration ago (15m, 2h, 7d), `now`, or Unix seconds"

# Prometheus's duration grammar: units largest first, each at most once, at least one;
# ASCII digits only (`\d` would take any script's digits).
_DURATION = re.compile(
    r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$"
)
_LOOSE = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")  # the units, in any order
_UNITS = (("y", 365 * 86400.0), ("w", 7 * 86400.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
_UNIT_SECONDS = (*(size for _, size in _UNITS), 0.001)
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_AGO = re.compile(r"\s+ago$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration (`1h30m` is 5400.0); ValueError naming the form."""
    text = text.strip()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        if _LOOSE.fullmatch(text):
            raise ValueError(f"{text!r} is not a duration: units go from largest to smallest, each once, e.g. 1h30m")
        raise ValueError(f"{text!r} is not a duration: write {DURATION_FORM}")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if n)


def format_duration(seconds: float) -> str:
    """`seconds` as Prometheus writes it: 90 -> 1m30s, 0 -> 0s, 0.5 -> 500ms."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (*_UNITS, ("ms", 0.001)):
        step = round(size * 1000)
        if ms >= step:
            parts.append(f"{ms // step}{unit}")
            ms %= step
    return "".join(parts)


def _seconds_ago(text: str) -> float | None:
    """How long ago `now` or a duration ago (`15m`, `15m ago`) is; None for other forms."""
    if text.lower() == "now":
        return 0.0
    ago = _AGO.sub("", text)
    return parse_duration(ago) if ago and _DURATION.match(ago) else None


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds of a time input: RFC 3339, a duration ago (`15m`, `15m ago`), `now`, or
    Unix seconds; ValueError naming the forms."""
    text = text.strip()
    ago = _seconds_ago(text)
    if ago is not None:
        return (time.time() if now is None else now) - ago
    if _NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write {TIME_FORM}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: end it with Z or an offset such as +02:00")
    return parsed.timestamp()


def parse_duration_field(field: str, text: str) -> float:
    """`parse_duration`, its error a BadInput that names `field`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadInput.of_fields([FieldProblem(field, str(exc), "write a duration such as 30s, 5m or 1h30m")]) from None


def parse_time_field(field: str, text: str, now: float | None = None) -> float:
    """`parse_time`, its error a BadInput that names `field`."""
    try:
        return parse_time(text, now)
    except ValueError as exc:
        message, _, fix = str(exc).partition(": ")
        raise BadInput.of_fields([FieldProblem(field, message, fix or f"write {TIME_FORM}")]) from None


def parse_time_ns_field(field: str, text: str, now_ns: int | None = None) -> int:
    """`parse_time_field` in Unix nanoseconds, exact for `now` and durations ago (the log
    and error stores keep nanoseconds)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    try:
        ago = _seconds_ago(text.strip())
    except ValueError:
        ago = None
    if ago is not None:
        return now_ns - round(ago * 1e9)
    return round(parse_time_field(field, text) * 1e9)
