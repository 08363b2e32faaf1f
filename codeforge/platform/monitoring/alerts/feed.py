"""The editor feed: one row per notification, ids growing, the newest `FEED_KEEP` of each
project kept. Language-server sessions long-poll it (`monitoring.notifications`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from codeforge.platform.monitoring.alerts.models import FeedNotification

__all__ = ["FEED_KEEP", "add_to_feed", "read_feed"]

FEED_KEEP = 500


def add_to_feed(session: Session, project_id: str, notification: Any) -> FeedNotification:
    row = FeedNotification(
        project_id=project_id,
        kind=notification.kind,
        title=notification.title,
        message=getattr(notification, "message", ""),
        pane=getattr(notification, "pane", ""),
        item=getattr(notification, "item", ""),
        labels=dict(getattr(notification, "labels", {}) or {}),
    )
    session.add(row)
    session.flush()
    oldest_kept = session.scalar(
        select(FeedNotification.id)
        .where(FeedNotification.project_id == project_id)
        .order_by(FeedNotification.id.desc())
        .offset(FEED_KEEP - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(
            delete(FeedNotification).where(FeedNotification.project_id == project_id, FeedNotification.id < oldest_kept)
        )
    return row


def read_feed(session: Session, project_id: str, after: int | None, limit: int) -> list[FeedNotification]:
    """Rows after the cursor, oldest first; without a cursor the newest `limit`."""
    query = select(FeedNotification).where(FeedNotification.project_id == project_id)
    if after is None:
        rows = list(session.scalars(query.order_by(FeedNotification.id.desc()).limit(limit)))
        return rows[::-1]
    return list(session.scalars(query.where(FeedNotification.id > after).order_by(FeedNotification.id).limit(limit)))
