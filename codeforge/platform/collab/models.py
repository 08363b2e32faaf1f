"""What the platform keeps of collaboration: sessions, their participants and invitations,
comment threads with their comments, and reviews. The documents themselves live in the bridge
(codeforge/collab/), never here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "CollabCall",
    "CollabCallMute",
    "CollabComment",
    "CollabInvitation",
    "CollabParticipant",
    "CollabReview",
    "CollabSession",
    "CollabThread",
]


class CollabSession(Base):
    __tablename__ = "collab_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    host: Mapped[str] = mapped_column(String(63))
    mode: Mapped[str] = mapped_column(String(8))
    driver: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(8), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CollabParticipant(Base):
    """One member's place in a session. Leaving or being removed keeps the row (with when), so
    a removed member cannot walk back in with an invitation made before the removal."""

    __tablename__ = "collab_participants"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("collab_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(63))
    color: Mapped[str] = mapped_column(String(7))
    role: Mapped[str] = mapped_column(String(16))
    host: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CollabInvitation(Base):
    """An invitation: the token is shown once and kept only as its SHA-256."""

    __tablename__ = "collab_invitations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("collab_sessions.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CollabReview(Base):
    """A review of a change set: the files and hunks as one JSON value, written once."""

    __tablename__ = "collab_reviews"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    base_ref: Mapped[str] = mapped_column(String(256))
    author: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(8), default="open")
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CollabThread(Base):
    __tablename__ = "collab_threads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # A thread outlives its session (the review comments stay); a review's go with it.
    session_id: Mapped[str | None] = mapped_column(ForeignKey("collab_sessions.id", ondelete="SET NULL"), index=True)
    review_id: Mapped[str | None] = mapped_column(ForeignKey("collab_reviews.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    anchor: Mapped[str] = mapped_column(String(1024), default="")
    quote: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CollabComment(Base):
    __tablename__ = "collab_comments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    thread_id: Mapped[str] = mapped_column(ForeignKey("collab_threads.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(63))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CollabCall(Base):
    """A session's call: at most one active at a time, ended ones kept for `call_show`.
    `participants` is the bridge's last report as it sent it: the platform adds names, colours
    and roles when it answers, so a role change shows at once."""

    __tablename__ = "collab_calls"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("collab_sessions.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(8), default="active")
    # The session's id while the call is active, NULL once it ended: unique, so two people
    # starting a call at once get the same one (INSERT … ON CONFLICT DO NOTHING) on SQLite
    # and PostgreSQL alike.
    active_session: Mapped[str | None] = mapped_column(String(32), unique=True)
    started_by: Mapped[str] = mapped_column(String(63))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(63))
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bridge: Mapped[str | None] = mapped_column(String(128))


class CollabCallMute(Base):
    """A mute someone asked for, waiting for the bridge's next report (which takes it and
    deletes it). A row per person and call, so a later request replaces an earlier one and a
    mute asked while a report runs is never lost to it (deleted by id)."""

    __tablename__ = "collab_call_mutes"
    __table_args__ = (UniqueConstraint("call_id", "username"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("collab_calls.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(63))
    muted: Mapped[bool] = mapped_column(Boolean)
    requested_by: Mapped[str] = mapped_column(String(63))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
