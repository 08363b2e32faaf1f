"""The organization's audit log: who did what, on what, with what outcome."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, declare

__all__ = ["LIST", "AuditList", "AuditListInput", "AuditRecord"]


class AuditListInput(Input):
    limit: int = Field(default=100, ge=1, le=1000)
    operation: str | None = Field(default=None, description="Only this operation, e.g. env.reveal.")
    actor: str | None = Field(default=None, description="Only this member.")


class AuditRecord(BaseModel):
    time: datetime
    actor: str
    operation: str
    target: str
    outcome: str
    source: str


class AuditList(BaseModel):
    items: list[AuditRecord]


LIST = declare(
    Operation(
        name="audit.list",
        title="Read the audit log",
        input=AuditListInput,
        output=AuditList,
        permission=Permission.AUDIT,
    )
)
