"""Tables of the databases capability: engines, databases (branches are databases with a
parent), backups and backup schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["BackupRow", "BackupScheduleRow", "DatabaseRow", "EngineRow"]


class EngineRow(Base):
    __tablename__ = "db_engines"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    # The admin URL (external) or the admin password (local cluster): a secret, encrypted.
    admin_secret_encrypted: Mapped[str] = mapped_column(Text)
    root: Mapped[str] = mapped_column(String(1000), default="")  # local cluster's directory
    version: Mapped[str] = mapped_column(String(100), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DatabaseRow(Base):
    __tablename__ = "db_databases"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    engine_id: Mapped[str] = mapped_column(ForeignKey("db_engines.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("db_databases.id", ondelete="SET NULL"), index=True)
    physical: Mapped[str] = mapped_column(String(64))  # database name on the server
    role: Mapped[str] = mapped_column(String(64))
    password_encrypted: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    instance_dir: Mapped[str] = mapped_column(String(1000), default="")  # copy-on-write branch instance
    method: Mapped[str | None] = mapped_column(String(20))
    seconds: Mapped[float | None] = mapped_column(Float)
    # creating / ready: a row left in `creating` by a killed process is undone by the sweep.
    state: Mapped[str] = mapped_column(String(16), default="creating")
    env_var: Mapped[str | None] = mapped_column(String(128))
    pooled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(63))


class BackupRow(Base):
    __tablename__ = "db_backups"
    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    database_id: Mapped[str | None] = mapped_column(ForeignKey("db_databases.id", ondelete="SET NULL"), index=True)
    database_name: Mapped[str] = mapped_column(String(40))
    engine_kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(300))
    file: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    tables: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_ok: Mapped[bool | None] = mapped_column(Boolean)


class BackupScheduleRow(Base):
    __tablename__ = "db_backup_schedules"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    database_id: Mapped[str] = mapped_column(ForeignKey("db_databases.id", ondelete="CASCADE"), unique=True)
    cron: Mapped[str] = mapped_column(String(100))
    keep_last: Mapped[int] = mapped_column(Integer)
    max_age_days: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(63))
