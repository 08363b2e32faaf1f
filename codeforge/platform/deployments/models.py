"""Deployments' platform state (docs/deployments.md): a deployment (its settings and which
release serves), and its releases, each immutable once made, with the instances it runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["Deployment", "Release"]


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    # deploying | live | failed | rolled-back | cancelled
    state: Mapped[str] = mapped_column(String(16), default="deploying")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the last DeployInput, less the source
    current_id: Mapped[str | None] = mapped_column(String(32))  # the release serving
    standby_id: Mapped[str | None] = mapped_column(String(32))  # blue-green: the release `switch` goes to
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    promote_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Release(Base):
    """What runs (source, tree, command, port) never changes; `state`, `traffic` and
    `instances` (what runs it now: [{id, region, address, runtime, handle, tree}]) do."""

    __tablename__ = "deployment_releases"
    __table_args__ = (UniqueConstraint("deployment_id", "number"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)  # workspace:<name> | image:<ref>
    tree: Mapped[str] = mapped_column(Text, default="")  # the file store's snapshot
    image: Mapped[str] = mapped_column(Text, default="")
    command: Mapped[list[str]] = mapped_column(JSON, default=list)
    port: Mapped[int | None] = mapped_column(Integer)
    runtime: Mapped[str] = mapped_column(String(16), default="local")
    env_sealed: Mapped[str] = mapped_column(Text, default="")  # the workspace's own variables, encrypted
    # starting | live | standby | retired | failed | cancelled | rolled-back
    state: Mapped[str] = mapped_column(String(16), default="starting")
    traffic: Mapped[float] = mapped_column(Float, default=0.0)
    instances: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
