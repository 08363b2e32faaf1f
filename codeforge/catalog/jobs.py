"""Jobs: the long-running operations' progress, logs, results and cancellation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, declare

__all__ = ["CANCEL", "GET", "LIST", "TERMINAL", "Job", "JobEvent", "JobIdInput", "JobList", "JobState"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class JobIdInput(Input):
    id: str = Field(min_length=1, description="Job id.")


class JobListInput(Input):
    project: str | None = Field(default=None, description="Only this project's jobs.")
    state: JobState | None = None
    limit: int = Field(default=50, ge=1, le=500)


class Job(BaseModel):
    id: str
    operation: str
    project: str | None
    state: JobState
    progress: float | None = Field(description="0..1 when known.")
    message: str
    error: str | None
    result: dict[str, Any] | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[Job]


class JobEvent(BaseModel):
    """One event of a job's stream: kind `state`, `progress` or `log`."""

    seq: int
    kind: str
    time: datetime
    state: JobState | None = None
    progress: float | None = None
    message: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None


GET = declare(Operation("jobs.get", "Show a job", JobIdInput, Job, Permission.VIEW, target="{id}"))
LIST = declare(Operation("jobs.list", "List jobs", JobListInput, JobList, Permission.VIEW))
CANCEL = declare(
    Operation("jobs.cancel", "Cancel a job", JobIdInput, Job, Permission.EDIT, destructive=True, target="{id}")
)
