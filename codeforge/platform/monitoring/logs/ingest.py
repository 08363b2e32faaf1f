"""Request bodies to `LogRecord`s: JSON lines, plain text lines and Loki's push JSON.

Built for throughput (the ingest path sustains 100,000 lines/s on two cores, see
benchmarks/monitoring.py): orjson, one pass over the lines, and the labels dict of a record
shared by every record with the same labels, so the store looks a stream up once per label
set and not once per line."""

from __future__ import annotations

import re
import time
import zlib
from datetime import datetime
from typing import Any

import orjson

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.monitoring.records import LogRecord

__all__ = [
    "LEVELS",
    "decompress",
    "normalize_level",
    "parse_json_lines",
    "parse_loki_json",
    "parse_text_lines",
    "parse_time",
]

# Field names a JSON line's parts go by, in the order they are looked for.
_TIME_FIELDS = ("time", "ts", "timestamp", "@timestamp")
_LEVEL_FIELDS = ("level", "severity", "levelname", "lvl")
_LINE_FIELDS = ("message", "msg", "line", "log")
_TRACE_FIELDS = ("trace_id", "traceId", "traceID")
_SPAN_FIELDS = ("span_id", "spanId", "spanID")

LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_NAMES = {
    "trace": "debug",
    "debug": "debug",
    "dbg": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "panic": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
}
_LEVEL_NAMES.update({k.upper(): v for k, v in list(_LEVEL_NAMES.items())})
_LEVEL_NAMES.update({k.capitalize(): v for k, v in list(_LEVEL_NAMES.items())})
# A level word near the start of a plain-text line, as loggers write it (upper case).
_TEXT_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|PANIC)\b")
_FRACTION = re.compile(r"\.(\d+)")


def normalize_level(value: Any) -> str:
    """debug | info | warning | error | critical, or "" when it names none of them; OTLP
    severity numbers (1-24) and pino's/bunyan's (10 trace ... 60 fatal, past 24) too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = int(value)
        if n <= 0:
            return ""
        if n > 24:
            return (
                "debug" if n < 30 else "info" if n < 40 else "warning" if n < 50 else "error" if n < 60 else "critical"
            )
        return (
            "debug" if n <= 8 else "info" if n <= 12 else "warning" if n <= 16 else "error" if n <= 20 else "critical"
        )
    if isinstance(value, str):
        return _LEVEL_NAMES.get(value.strip().lower(), "")
    return ""


def _epoch_ns(number: float) -> int:
    """An epoch time in seconds, milliseconds, microseconds or nanoseconds, told by magnitude
    (integers multiplied exactly: a float would round nanoseconds away)."""
    magnitude = abs(number)
    scale = 10**9 if magnitude < 1e11 else 10**6 if magnitude < 1e14 else 10**3 if magnitude < 1e17 else 1
    return number * scale if isinstance(number, int) else int(number * scale)


def parse_time(value: Any) -> int | None:
    """Unix nanoseconds from RFC 3339 text or an epoch number (s, ms, µs or ns); None if
    it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch_ns(value)
    if not isinstance(value, str) or not value:
        return None
    if value[0].isdigit() and value.replace(".", "", 1).isdigit():
        return _epoch_ns(int(value) if value.isdigit() else float(value))
    extra_ns = 0
    text = value.replace(" ", "T", 1) if len(value) > 10 and value[10] == " " else value
    fraction = _FRACTION.search(text, 19)
    if fraction is not None and len(fraction.group(1)) > 6:  # nanoseconds: Python keeps 6 digits
        digits = fraction.group(1)
        extra_ns = int(digits[6:9].ljust(3, "0"))
        text = text[: fraction.start(1) + 6] + text[fraction.end(1) :]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # RFC 3339 names its offset; a local time would be a guess
    return (int(moment.timestamp()) * 1_000_000 + moment.microsecond) * 1000 + extra_ns


class _Labels:
    """One dict per distinct label set, shared by the records that have it."""

    def __init__(self, base: dict[str, str]) -> None:
        self.base = base
        self.cache: dict[tuple[str, str], dict[str, str]] = {}

    def get(self, service: str, level: str) -> dict[str, str]:
        key = (service, level)
        found = self.cache.get(key)
        if found is None:
            found = dict(self.base)
            if service:
                found["service"] = service
            if level:
                found["level"] = level
            found = self.cache[key] = found
        return found


def _text_level(line: str) -> str:
    found = _TEXT_LEVEL.search(line, 0, 80)
    return _LEVEL_NAMES[found.group(1).lower()] if found is not None else ""


def _text_record(line: str, now_ns: int, labels: _Labels) -> LogRecord:
    level = _text_level(line)
    return LogRecord(now_ns, line, labels.get("", level), {}, level)


def _json_record(obj: dict[str, Any], raw: bytes, now_ns: int, labels: _Labels) -> LogRecord:
    # The hot path of ingestion: plain dict lookups, the common forms first, no helper call
    # for an integer time or a level spelled as loggers spell it.
    time_ns = now_ns
    for name in _TIME_FIELDS:
        if name in obj:
            value = obj[name]
            parsed = _epoch_ns(value) if type(value) is int else parse_time(value)
            if parsed is not None:
                del obj[name]
                time_ns = parsed
            break
    level = ""
    for name in _LEVEL_FIELDS:
        if name in obj:
            value = obj.pop(name)
            level = _LEVEL_NAMES.get(value, "") if type(value) is str else ""
            if not level:
                level = normalize_level(value)
            break
    line: str | None = None
    for name in _LINE_FIELDS:
        value = obj.get(name)
        if type(value) is str:
            del obj[name]
            line = value
            break
    if line is None:
        line = raw.decode("utf-8", "replace").rstrip("\r")  # no message: the record is shown whole
    service = obj.pop("service", "")
    if type(service) is not str:
        service = str(service)
    trace_id = span_id = ""
    if obj:  # most lines have nothing left: no trace or span lookups
        for name in _TRACE_FIELDS:
            if name in obj:
                trace_id = str(obj.pop(name)).lower()
                break
        for name in _SPAN_FIELDS:
            if name in obj:
                span_id = str(obj.pop(name)).lower()
                break
    return LogRecord(time_ns, line, labels.get(service, level), obj, level, trace_id, span_id)


def parse_json_lines(body: bytes, labels: dict[str, str], now_ns: int | None = None) -> list[LogRecord]:
    """One record per non-empty line; a line that is not a JSON object is kept as text."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    shared = _Labels(labels)
    loads = orjson.loads
    out: list[LogRecord] = []
    append = out.append
    for raw in body.split(b"\n"):
        if raw[:1] == b"{":
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            if type(obj) is dict:
                append(_json_record(obj, raw, now_ns, shared))
                continue
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if text.strip():
            append(_text_record(text, now_ns, shared))
    return out


def parse_text_lines(body: bytes, labels: dict[str, str], now_ns: int | None = None) -> list[LogRecord]:
    now_ns = time.time_ns() if now_ns is None else now_ns
    shared = _Labels(labels)
    return [_text_record(line, now_ns, shared) for line in body.decode("utf-8", "replace").splitlines() if line.strip()]


def _bad(field: str, message: str) -> BadInput:
    return BadInput.of_fields(
        [
            FieldProblem(
                field,
                message,
                'send Loki\'s push JSON: {"streams": [{"stream": {"label": "value"}, '
                '"values": [["<unix ns as a string>", "<line>"]]}]}',
            )
        ]
    )


def parse_loki_json(body: bytes) -> list[LogRecord]:
    """Loki's push API in JSON (`POST /loki/api/v1/push`, Content-Type application/json)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad("(body)", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams"), list):
        raise _bad("streams", "the body needs a list `streams`")
    out: list[LogRecord] = []
    for i, stream in enumerate(doc["streams"]):
        where = f"streams[{i}]"
        if not isinstance(stream, dict):
            raise _bad(where, "each stream is an object with `stream` and `values`")
        labels = stream.get("stream", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise _bad(f"{where}.stream", "stream labels are an object of strings")
        values = stream.get("values")
        if not isinstance(values, list):
            raise _bad(f"{where}.values", "values are a list of [timestamp, line] pairs")
        level = normalize_level(labels.get("level") or labels.get("detected_level") or "")
        for j, value in enumerate(values):
            if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], str):
                raise _bad(f"{where}.values[{j}]", 'each value is ["<unix ns>", "<line>"] (and metadata)')
            time_ns = parse_time(value[0])
            if time_ns is None:
                raise _bad(f"{where}.values[{j}][0]", f"{value[0]!r} is not a Unix time in nanoseconds")
            metadata = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            line = value[1]
            out.append(
                LogRecord(
                    time_ns,
                    line,
                    labels,
                    dict(metadata),
                    level or _text_level(line),
                    str(metadata.get("trace_id", "")).lower(),
                    str(metadata.get("span_id", "")).lower(),
                )
            )
    return out


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """A gzip or deflate body, inflated to at most `limit` bytes (a bomb stops there)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadInput(f"Content-Encoding {encoding!r} is not supported", fix="send the body plain, gzip or deflate")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadInput(f"the {encoding} body does not inflate: {exc}", fix="send a complete body") from None
    if len(out) > limit:
        raise OverflowError(limit)
    return out
