"""Error tracking: exceptions from a project's logs and traces grouped as Sentry groups them
(type plus in-app frames), with counts, first and last seen, and a triage state
(docs/monitoring.md, Errors)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = [
    "ERROR",
    "ERRORS",
    "ERROR_ID_PATTERN",
    "TRIAGE",
    "ErrorDetail",
    "ErrorEvent",
    "ErrorFrame",
    "ErrorGroup",
    "ErrorInput",
    "ErrorList",
    "ErrorState",
    "ErrorsInput",
    "TriageInput",
    "TriageState",
]

ERROR_ID_PATTERN = r"^[0-9a-f]{32}$"
# unresolved: new or reopened; resolved: someone says it is fixed; regressed: seen again after
# the resolve; ignored: still counted, never announced.
ErrorState = Literal["unresolved", "resolved", "ignored", "regressed"]
TriageState = Literal["unresolved", "resolved", "ignored"]


class ErrorsInput(ProjectInput):
    state: ErrorState | None = Field(
        default=None, description="Only groups in this state: unresolved, resolved, ignored or regressed."
    )
    service: str | None = Field(
        default=None, min_length=1, max_length=200, description="Only groups seen from this service (its exact name)."
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only groups whose exception type or message contains this text (any case).",
    )
    since: str | None = Field(
        default=None,
        max_length=64,
        description="Only groups seen since then: RFC 3339 (2024-05-01T12:00:00Z), relative (15m, 2h, 7d ago) or now.",
    )
    limit: int = Field(
        default=50, ge=1, le=500, description="Most groups to list (1-500), the most recently seen first."
    )


class ErrorInput(ProjectInput):
    error: str = Field(
        pattern=ERROR_ID_PATTERN,
        description="Id of the error group: 32 lowercase hex digits, as `monitoring errors` shows it.",
        json_schema_extra={"x-codeforge-values": "monitoring.errors#id"},
    )


class TriageInput(ErrorInput):
    state: TriageState = Field(
        description="resolved: fixed (an event after this reopens it as regressed); ignored: counted, never "
        "announced; unresolved: open again."
    )


class ErrorFrame(BaseModel):
    path: str = Field(description="The file as the running program saw it (/app/shop/cart.py).")
    line: int
    function: str
    in_app: bool = Field(description="The application's own code (not the standard library or a package).")
    code: str = Field(default="", description="The source line, when the stack carried it.")


class ErrorGroup(BaseModel):
    id: str
    type: str
    message: str = Field(description="The latest event's message.")
    culprit: str = Field(description="Where it raised: the innermost in-app frame, `path in function`.")
    count: int
    first_seen: datetime
    last_seen: datetime
    state: ErrorState
    services: list[str]
    resolved_at: datetime | None
    resolved_by: str | None
    frames: list[ErrorFrame] = Field(description="The latest event's stack, outermost call first.")


class ErrorList(BaseModel):
    items: list[ErrorGroup]


class ErrorEvent(BaseModel):
    time: datetime
    type: str
    message: str
    service: str
    trace_id: str
    span_id: str
    source: str = Field(description="log or trace: where it was seen.")
    labels: dict[str, str]
    frames: list[ErrorFrame]
    stacktrace: str = Field(
        description="The text the stack was read from (empty for an OpenTelemetry event without one)."
    )


class ErrorDetail(ErrorGroup):
    events: list[ErrorEvent] = Field(description="Its newest events (up to 20), newest first.")


ERRORS = declare(
    Operation(
        name="monitoring.errors",
        title="List production errors",
        input=ErrorsInput,
        output=ErrorList,
        permission=Permission.VIEW,
    )
)
ERROR = declare(
    Operation(
        name="monitoring.error",
        title="Show an error with its stack and recent events",
        input=ErrorInput,
        output=ErrorDetail,
        permission=Permission.VIEW,
        target="{project}/{error}",
    )
)
TRIAGE = declare(
    Operation(
        name="monitoring.triage",
        title="Resolve, ignore or reopen an error",
        input=TriageInput,
        output=ErrorDetail,
        permission=Permission.EDIT,
        target="{project}/{error}",
    )
)
