"""What the platform keeps of agents: the model settings per organization or project (the key
encrypted), and each run with its transcript and change set (the base text of every changed
file, so a hunk can be applied, reversed and shown long after the sandbox is gone)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["ORG_SCOPE", "AgentRun", "AgentRunFile", "AgentSettingsRow"]

# `scope_key` of an organization's settings; a project's settings use the project's id.
ORG_SCOPE = "org"


class AgentSettingsRow(Base):
    """One scope's settings: only the fields that scope sets are in `values` (a project's
    override the organization's field by field). The key is Fernet-encrypted, never in `values`."""

    __tablename__ = "agent_settings"
    # A unique key on a non-NULL column: (org, NULL project) would not be unique on either backend.
    __table_args__ = (UniqueConstraint("org_id", "scope_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    scope_key: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    api_key: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(63))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgentRun(Base):
    """A run: `running` while its job works (on `instance_id`), then done, failed or cancelled.
    The transcript is a list of {kind, agent, message}, streamed text coalesced."""

    __tablename__ = "agent_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    agent: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    task: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    workspace: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    steps: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AgentRunFile(Base):
    """One file of a run's change set: its hunks (each with its review state) and the text they
    apply to (None for an added file)."""

    __tablename__ = "agent_run_files"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    old_sha256: Mapped[str] = mapped_column(String(64), default="")
    base_text: Mapped[str | None] = mapped_column(Text)
    hunks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
