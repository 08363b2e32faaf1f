"""Workspaces' platform state (docs/workspaces.md): the workspaces, their snapshots, the host
ports they hold, and the intents of operations under way (journal.py), so a process killed
half-way leaves a record of what it had made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["STATES", "Workspace", "WorkspaceIntent", "WorkspacePool", "WorkspacePort", "WorkspaceSnapshot"]

# creating → running ⇄ stopped → deleting; pooled: made by the warm pool, not yet handed out;
# failed: a start that did not come up (its error kept).
STATES = ("creating", "pooled", "running", "stopped", "failed", "deleting")


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), default="creating")
    runtime: Mapped[str] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(63))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the WorkspaceSpec
    handle: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # RuntimeHandle.as_json()
    tree: Mapped[str] = mapped_column(Text, default="")  # the FileStore's path
    env_sealed: Mapped[str] = mapped_column(Text, default="")  # its own variables, encrypted
    # The database branches made for it, by the variable pointing at each: deleted with it.
    databases: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    bridge_token_id: Mapped[str | None] = mapped_column(String(32))  # its bridge's token, revoked with it
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WorkspaceSnapshot(Base):
    """A snapshot outlives its workspace (a clone may start from it later)."""

    __tablename__ = "workspace_snapshots"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str | None] = mapped_column(ForeignKey("workspaces.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    tree: Mapped[str] = mapped_column(Text)
    contents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # SnapshotContents
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkspacePort(Base):
    """A host port held by a workspace's service: the primary key makes two workspaces
    holding one port impossible, on every replica."""

    __tablename__ = "workspace_ports"
    host_port: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(63))
    inside: Mapped[int] = mapped_column(Integer)


class WorkspaceIntent(Base):
    """An operation under way and what it has made so far, newest last (journal.py)."""

    __tablename__ = "workspace_intents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    operation: Mapped[str] = mapped_column(String(63))
    project_id: Mapped[str] = mapped_column(String(32), index=True)  # no foreign key: it outlives a deleted project
    owner: Mapped[str] = mapped_column(String(200))  # instance and boot of the process doing it
    made: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [kind, ref] pairs
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkspacePool(Base):
    """How many ready workspaces of a template a project keeps (pool.py)."""

    __tablename__ = "workspace_pools"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    template: Mapped[str] = mapped_column(String(63), primary_key=True)
    runtime: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(63))
