"""What the platform keeps of alerting (docs/monitoring.md, Alerts): rules, the state of each
alert a rule produced (so a restart resumes pending and firing alerts), silences, channels
(a webhook's token encrypted) and the editor feed of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["AlertChannel", "AlertRule", "AlertSilence", "AlertState", "FeedNotification"]


class AlertRule(Base):
    """A metric rule (PromQL `expr`, optionally compared with `op` `value`) or a log rule
    (a log query counted over `window_s`, compared with `op` `value`). `next_eval_at` is the
    claim: a replica evaluates the rule only after moving it forward (one row update)."""

    __tablename__ = "monitoring_alert_rules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # metric | log
    expr: Mapped[str] = mapped_column(Text)  # PromQL, or the log query
    op: Mapped[str] = mapped_column(String(2), default="")  # "" (metric: every element alerts) | > >= < <= == !=
    value: Mapped[float | None] = mapped_column(Float)
    window_s: Mapped[float] = mapped_column(Float, default=0.0)  # log rules: the counted window
    for_s: Mapped[float] = mapped_column(Float, default=0.0)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    group_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_wait_s: Mapped[float] = mapped_column(Float, default=30.0)
    group_interval_s: Mapped[float] = mapped_column(Float, default=300.0)
    repeat_interval_s: Mapped[float] = mapped_column(Float, default=4 * 3600.0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_eval_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_eval_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertState(Base):
    """One alert of a rule: the element whose labels hash to `fingerprint`. `notified` is what
    the channels were last told (\"\", firing, resolved), which grouping compares against."""

    __tablename__ = "monitoring_alert_states"
    __table_args__ = (UniqueConstraint("rule_id", "fingerprint"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    rule_id: Mapped[str] = mapped_column(ForeignKey("monitoring_alert_rules.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(8))  # pending | firing | resolved
    active_since: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_value: Mapped[float | None] = mapped_column(Float)
    notified: Mapped[str] = mapped_column(String(8), default="")
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertSilence(Base):
    """Alerts whose labels match every matcher ({name, op, value}) between `starts_at` and
    `ends_at` notify nobody."""

    __tablename__ = "monitoring_silences"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertChannel(Base):
    """Where a project's notifications go besides the editor feed: a webhook ({url,
    timeout_s}; `secret` its bearer token, Fernet-encrypted) or email ({to: [...]})."""

    __tablename__ = "monitoring_channels"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(8))  # webhook | email | editor
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedNotification(Base):
    """The editor feed: `id` is the cursor `monitoring.notifications` long-polls after; only
    the newest rows of each project are kept."""

    __tablename__ = "monitoring_notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    pane: Mapped[str] = mapped_column(String(32), default="")
    item: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
