"""Exceptions out of telemetry: a Python traceback, a Node.js or a Java stack in a log record's
line or attributes, or the `exception` events OpenTelemetry puts on spans.

Log ingestion is hot (100,000 lines a second and more), so `from_log` rejects a record that
cannot hold a stack with a few substring tests before any parsing: a stack needs either an
exception attribute or a line break followed by a traceback's or a stack's marker."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from codeforge.platform.monitoring.records import ExceptionEvent, LogRecord, Span, StackFrame

__all__ = ["from_log", "from_span", "in_app", "parse_stack"]

# Attributes that carry a formatted stack (logging libraries and OpenTelemetry name them so).
_STACK_KEYS = ("exception.stacktrace", "exc_info", "exception", "stack_trace", "stacktrace", "stack", "error.stack")
_TYPE_KEY = "exception.type"
_MESSAGE_KEY = "exception.message"
_PY_MARKER = "Traceback (most recent call last)"
_AT_MARKERS = ("\n    at ", "\n\tat ", "\n  at ")
_EXCEPTION_KEYS = frozenset((*_STACK_KEYS, _TYPE_KEY))

# ---- in app ----------------------------------------------------------------------------

_NOT_APP_PATH = re.compile(
    r"site-packages|dist-packages|node_modules|/lib(?:64)?/python\d[\d.]*/|\\Lib\\|^<|^node:|^internal/|^native$"
    r"|/usr/lib/jvm/"
)
_NOT_APP_CLASS = re.compile(r"^(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala)\.")


def in_app(path: str, module: str = "") -> bool:
    """Whether a frame is the application's own code: not the standard library, not an
    installed package, not the runtime's internals (`<frozen …>`, `node:internal`, `java.*`)."""
    if module and _NOT_APP_CLASS.match(module):
        return False
    return not _NOT_APP_PATH.search(path)


# ---- Python ----------------------------------------------------------------------------

_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+)(?:, in (?P<function>.*))?$')
_CARETS = re.compile(r"^\s*[\^~]+\s*$")
_CHAIN = re.compile(
    r"^(?:During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$",
    re.MULTILINE,
)
_GROUP_MARKER = "Exception Group Traceback (most recent call last):"
_GROUP_PREFIX = re.compile(r"^\s*\| ?", re.MULTILINE)
_PY_TYPE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")


def _ungroup(text: str) -> str:
    """An ExceptionGroup's own traceback (Python 3.11+), its "| " margin taken off; the
    sub-exceptions below the first "+-" rule are its contents, not its stack."""
    head = text[text.rfind(_GROUP_MARKER) + len(_GROUP_MARKER) :]
    own = re.split(r"^\s*\+-", head, maxsplit=1, flags=re.MULTILINE)[0]
    return _PY_MARKER + ":\n" + _GROUP_PREFIX.sub("", own)


def _python(text: str) -> tuple[str, str, list[StackFrame]] | None:
    """The last exception of a (possibly chained) traceback: the one that propagated."""
    start = text.rfind(_PY_MARKER)
    if start < 0:
        return None
    lines = text[start:].splitlines()[1:]
    frames: list[StackFrame] = []
    i = 0
    while i < len(lines):
        match = _PY_FRAME.match(lines[i])
        if match is None:
            if lines[i].startswith((" ", "\t")):  # "[Previous line repeated 996 more times]", carets
                i += 1
                continue
            break
        code = ""
        if i + 1 < len(lines) and lines[i + 1].startswith("    ") and not _PY_FRAME.match(lines[i + 1]):
            if not _CARETS.match(lines[i + 1]):
                code = lines[i + 1].strip()
            i += 1
            while i + 1 < len(lines) and _CARETS.match(lines[i + 1]):
                i += 1
        path = match["path"]
        frames.append(StackFrame(path, int(match["line"]), (match["function"] or "").strip(), in_app(path), code))
        i += 1
    rest = "\n".join(lines[i:]).strip()
    head = _PY_TYPE.match(rest.split("\n", 1)[0]) if rest else None
    if head is None:
        return None
    message = (head["message"] or "") + (rest[len(rest.split("\n", 1)[0]) :] if "\n" in rest else "")
    return head["type"], message.strip(), frames


# ---- Node.js and Java ------------------------------------------------------------------

# "at com.x.Y.m(Y.java:42)", with a class loader's and a module's names before it when the JVM
# prints them ("app//com.x…", "java.base/java.lang…").
_JAVA_FRAME = re.compile(r"^\s*at (?:[\w$.@-]*/){0,2}(?P<where>[\w$.<>]+)\((?P<loc>[^()]*)\)\s*$")
_NODE_FRAME = re.compile(r"^\s*at (?:async )?(?:new )?(?:(?P<function>.+?) \((?P<loc>.+)\)|(?P<bare>\S+))\s*$")
_LOC = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::\d+)?$")
_HEADER = re.compile(
    r"^\s*(?:Uncaught |Exception in thread \"[^\"]*\" |Caused by: )?"
    r"(?P<type>[A-Za-z_$][\w$.]*)(?: \[[^\]]*\])?(?::\s?(?P<message>.*))?$"
)
_ERRORISH = re.compile(r"(?:Error|Exception|Throwable|Rejection|Fault)\w*$")


def _java_frame(match: re.Match[str]) -> StackFrame:
    where, loc = match["where"], match["loc"]
    cls, _, method = where.rpartition(".")
    package, _, simple = cls.rpartition(".")
    file_name, _, line = loc.partition(":")
    if not file_name.endswith((".java", ".kt", ".scala", ".groovy", ".clj")):
        file_name = simple.split("$", 1)[0] + ".java"  # "Native Method", "Unknown Source"
    path = "/".join([*package.split("."), file_name]) if package else file_name
    return StackFrame(path, int(line) if line.isdigit() else 0, f"{simple}.{method}", in_app("", cls))


def _node_frame(match: re.Match[str]) -> StackFrame:
    loc = match["loc"] or match["bare"] or ""
    if " (" in loc:  # eval frames: "eval at f (/app/x.js:1:2), <anonymous>:1:1"
        loc = loc.rsplit("(", 1)[-1].split(")", 1)[0]
    located = _LOC.match(loc.removeprefix("file://"))
    if located is None:  # "native", "index 0": no place in a file
        return StackFrame(loc, 0, (match["function"] or "<anonymous>").strip(), False)
    path = located["path"]
    return StackFrame(path, int(located["line"]), (match["function"] or "<anonymous>").strip(), in_app(path))


def _header(lines: list[str]) -> tuple[str, str] | None:
    """The "Type: message" line above a stack's first frame (the nearest that names an error)."""
    fallback: tuple[str, str] | None = None
    for index in range(len(lines) - 1, -1, -1):
        match = _HEADER.match(lines[index])
        if match is None:
            continue
        # A message of several lines: everything from the type's line down to the first frame.
        message = "\n".join([match["message"] or "", *lines[index + 1 :]]).strip()
        if _ERRORISH.search(match["type"]):
            return match["type"], message
        fallback = fallback or (match["type"], message)
    return fallback


def _at_stack(text: str) -> tuple[str, str, list[StackFrame]] | None:
    """A stack printed as "Type: message" then "at …" lines, innermost first (Node.js, the
    JVM). The JVM's "Caused by:" sections are the causes; the first exception is the one that
    propagated, as Python's last."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("at ")), None)
    if first is None:
        return None
    head = _header(lines[:first])
    if head is None:
        return None
    frames: list[StackFrame] = []
    java = _JAVA_FRAME.match(lines[first]) is not None
    for line in lines[first:]:
        stripped = line.lstrip()
        if not stripped.startswith("at "):
            if stripped.startswith(("...", "[")) or not stripped:
                continue
            break  # "Caused by: …", a suppressed exception, or the log line goes on
        match = (_JAVA_FRAME if java else _NODE_FRAME).match(line)
        if match is not None:
            frames.append(_java_frame(match) if java else _node_frame(match))
    frames.reverse()  # outermost call first, like Python's tracebacks
    return head[0], head[1], frames


def parse_stack(text: str) -> tuple[str, str, list[StackFrame]] | None:
    """(type, message, frames outermost first) of the stack in `text`, or None."""
    if _PY_MARKER in text:
        last = _CHAIN.split(text)[-1]
        if _GROUP_MARKER in last:
            return _python(_ungroup(last))
        return _python(last if _PY_MARKER in last else text)
    if any(marker in text for marker in _AT_MARKERS) or text.lstrip().startswith("at "):
        return _at_stack(text)
    return None


# ---- records ---------------------------------------------------------------------------


def _event(record: LogRecord, parsed: tuple[str, str, list[StackFrame]], stacktrace: str) -> ExceptionEvent:
    labels = record.labels
    return ExceptionEvent(
        time_ns=record.time_ns,
        type=parsed[0],
        message=parsed[1],
        frames=parsed[2],
        service=labels.get("service", "") or str(record.attributes.get("service.name", "") or ""),
        labels=dict(labels),
        trace_id=record.trace_id,
        span_id=record.span_id,
        source="log",
        stacktrace=stacktrace,
    )


def _from_attributes(attrs: Mapping[str, Any]) -> tuple[tuple[str, str, list[StackFrame]], str] | None:
    for key in _STACK_KEYS:
        value = attrs.get(key)
        if isinstance(value, Mapping):  # {"exception": {"type": …, "message": …, "stacktrace": …}}
            found = _from_attributes({f"exception.{k}": v for k, v in value.items()})
            if found is not None:
                return found
            continue
        if isinstance(value, str) and value:
            parsed = parse_stack(value)
            if parsed is not None:
                kind, message = str(attrs.get(_TYPE_KEY) or parsed[0]), str(attrs.get(_MESSAGE_KEY) or parsed[1])
                return (kind, message, parsed[2]), value
    named = attrs.get(_TYPE_KEY)
    if isinstance(named, str) and named:  # OpenTelemetry's attributes without a stack
        return (named, str(attrs.get(_MESSAGE_KEY) or ""), []), ""
    return None


def from_log(record: LogRecord) -> ExceptionEvent | None:
    """The exception a log record carries, or None (fast for the many that carry none)."""
    attrs = record.attributes
    if attrs and not _EXCEPTION_KEYS.isdisjoint(attrs.keys()):
        found = _from_attributes(attrs)
        if found is not None:
            return _event(record, found[0], found[1])
    line = record.line
    if "\n" not in line:
        return None
    if _PY_MARKER not in line and "at " not in line:
        return None
    parsed = parse_stack(line)
    return _event(record, parsed, line) if parsed is not None else None


def from_span(span: Span) -> list[ExceptionEvent]:
    """The exceptions a span recorded (OpenTelemetry's span events named `exception`)."""
    found: list[ExceptionEvent] = []
    for event in span.events:
        if event.name != "exception":
            continue
        attrs = event.attributes
        stacktrace = str(attrs.get("exception.stacktrace") or "")
        parsed = parse_stack(stacktrace) if stacktrace else None
        kind = str(attrs.get(_TYPE_KEY) or (parsed[0] if parsed else "") or "Exception")
        message = str(attrs.get(_MESSAGE_KEY) or (parsed[1] if parsed else ""))
        found.append(
            ExceptionEvent(
                time_ns=event.time_ns or span.end_ns,
                type=kind,
                message=message,
                frames=parsed[2] if parsed else [],
                service=span.service,
                labels={"service": span.service, "operation": span.name} if span.service else {"operation": span.name},
                trace_id=span.trace_id,
                span_id=span.span_id,
                source="trace",
                stacktrace=stacktrace,
            )
        )
    return found
