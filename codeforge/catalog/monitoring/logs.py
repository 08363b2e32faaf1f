"""Log search and live tail (docs/monitoring.md, Logs): `monitoring.logs` finds lines with the
log query language in a time range; `monitoring.tail` returns the lines stored after a cursor,
waiting up to `wait_s` for new ones (a long poll editors call in a loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = ["LOGS", "TAIL", "LogEntry", "LogPage", "LogsInput", "TailInput", "TailPage"]

_QUERY_HELP = (
    'Log query: an optional label selector {service="api", level=~"error|critical"}, then words that must '
    'all occur, "quoted phrases", -word to exclude, OR between groups. Empty: every line.'
)


class LogsInput(ProjectInput):
    query: str = Field(default="", max_length=4000, description=_QUERY_HELP)
    since: str = Field(
        default="1h",
        max_length=64,
        description="Start of the range: RFC 3339 (2026-05-01T12:00:00Z), `now`, or a time ago (15m, 2h, 7d).",
    )
    until: str = Field(default="now", max_length=64, description="End of the range, in the same forms as `since`.")
    limit: int = Field(default=100, ge=1, le=5000, description="Most lines to return (1-5000).")
    newest_first: bool = Field(default=True, description="Newest lines first (false: oldest first).")


class TailInput(ProjectInput):
    query: str = Field(default="", max_length=4000, description=_QUERY_HELP)
    after: str = Field(
        default="",
        max_length=32,
        pattern=r"^[0-9]*$",
        description="The cursor a previous tail returned; empty: start with the latest lines.",
    )
    wait_s: float = Field(
        default=0.0, ge=0, le=25, description="Seconds to wait for new lines when none are there (0-25)."
    )
    limit: int = Field(default=200, ge=1, le=5000, description="Most lines to return (1-5000).")


class LogEntry(BaseModel):
    id: int = Field(description="The line's position in the store; tails continue after it.")
    time: datetime
    time_ns: int = Field(description="The line's time in Unix nanoseconds.")
    line: str
    level: str = Field(description="debug, info, warning, error, critical, or empty when unknown.")
    labels: dict[str, str]
    attributes: dict[str, Any] = Field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""


class LogPage(BaseModel):
    items: list[LogEntry]
    query: str
    start: datetime
    end: datetime


class TailPage(BaseModel):
    items: list[LogEntry] = Field(description="New lines, oldest first.")
    cursor: str = Field(description="Pass as `after` on the next call.")


LOGS = declare(
    Operation(
        name="monitoring.logs",
        title="Search logs",
        input=LogsInput,
        output=LogPage,
        permission=Permission.VIEW,
        target="{project}",
        audit_success=False,
    )
)
TAIL = declare(
    Operation(
        name="monitoring.tail",
        title="Follow logs (live tail)",
        input=TailInput,
        output=TailPage,
        permission=Permission.VIEW,
        target="{project}",
        audit_success=False,
    )
)
