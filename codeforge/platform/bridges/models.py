"""What the platform knows of bridges: each bridge's last report, and close requests waiting
for the bridge to pick them up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["BridgeCloseRequest", "BridgeReport"]


class BridgeReport(Base):
    """One bridge of a project, as its last `bridges.report` described it. The sessions are one
    JSON snapshot, replaced whole by each report (every 2 s): one row written, not one per
    session and resource."""

    __tablename__ = "bridge_reports"
    __table_args__ = (UniqueConstraint("project_id", "bridge"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    bridge: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(2000), default="")
    workspace: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[str] = mapped_column(String(63))
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sessions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class BridgeCloseRequest(Base):
    """A session, terminal or forward someone asked to close; deleted when its bridge's next
    report takes it."""

    __tablename__ = "bridge_close_requests"
    __table_args__ = (UniqueConstraint("project_id", "bridge", "kind", "target_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    bridge: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(128))
    requested_by: Mapped[str] = mapped_column(String(63))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
