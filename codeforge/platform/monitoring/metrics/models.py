"""What people configure for metrics: a project's scrape targets (platform state, beside the
projects they belong to; the samples themselves live in the metrics store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["ScrapeTarget"]


class ScrapeTarget(Base):
    """A /metrics endpoint scraped on its own interval (None: the platform's setting);
    `url` "platform" is the platform's own /metrics.

    Several replicas share the targets: the one that moves `next_scrape_at` past now scrapes
    that turn (the others skip it), and the outcome is kept on the row, so every replica
    answers `monitoring.targets` alike."""

    __tablename__ = "monitoring_targets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(Text)
    interval_s: Mapped[float | None] = mapped_column(Float)
    timeout_s: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_scrape_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_scrape_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_up: Mapped[bool | None] = mapped_column(Boolean)
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_samples: Mapped[int | None] = mapped_column(Integer)
