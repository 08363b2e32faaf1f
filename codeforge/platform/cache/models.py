"""The cache's platform state: the rules of each route, and the purges a node still owes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["CacheRuleRow", "PendingPurge"]


class CacheRuleRow(Base):
    __tablename__ = "cache_rules"
    __table_args__ = (UniqueConstraint("project_id", "route", "match", "path", name="uq_cache_rules_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    route: Mapped[str] = mapped_column(String(63))
    path: Mapped[str] = mapped_column(String(2000))
    match: Mapped[str] = mapped_column(String(8))  # prefix | exact
    ttl_s: Mapped[int] = mapped_column(Integer)
    grace_s: Mapped[int] = mapped_column(Integer, default=0)
    vary_headers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    query_string: Mapped[bool] = mapped_column(Boolean, default=True)
    bypass_cookie: Mapped[bool] = mapped_column(Boolean, default=True)
    bypass_authorization: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PendingPurge(Base):
    """A ban a node did not take when it was asked (down, paused, unreachable): applied, in
    order, when the node answers again, so it cannot keep serving a purged object."""

    __tablename__ = "cache_pending_purges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(63), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    expression: Mapped[list[Any]] = mapped_column(JSON)  # the ban's words
    what: Mapped[str] = mapped_column(Text, default="")  # "url /a", for people
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
