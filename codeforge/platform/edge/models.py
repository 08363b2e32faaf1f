"""The edge's platform state: the routes projects published, the edge nodes with the config
version each last took, and the config version every node should be at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["EdgeConfig", "EdgeNodeRow", "EdgeRoute"]


class EdgeRoute(Base):
    __tablename__ = "edge_routes"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # Route as JSON (hosts, backends, policy …)
    version: Mapped[int] = mapped_column(Integer, default=0)  # the config version that last changed it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EdgeNodeRow(Base):
    """A node as its supervisor last started it: its addresses, and the config it holds."""

    __tablename__ = "edge_nodes"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    region: Mapped[str] = mapped_column(String(63))
    admin_url: Mapped[str] = mapped_column(String(200))
    http_address: Mapped[str] = mapped_column(String(200))
    https_address: Mapped[str] = mapped_column(String(200))
    lb_address: Mapped[str] = mapped_column(String(200))
    cache_address: Mapped[str] = mapped_column(String(200), default="")
    access_log: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0)  # config version it holds
    state: Mapped[str] = mapped_column(String(16), default="starting")  # up | down | starting
    error: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EdgeConfig(Base):
    """One row (id 1): the config version every node should hold, bumped by each change."""

    __tablename__ = "edge_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
