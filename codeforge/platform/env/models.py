from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["EnvVariableRow"]


class EnvVariableRow(Base):
    """One value of a variable: the shared one (`environment` = "all") or one deployment
    environment's override (production, preview, development)."""

    __tablename__ = "env_variables"
    __table_args__ = (
        UniqueConstraint("project_id", "name", "environment", name="uq_env_variables_project_id_name_environment"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    # "all" or an environment of catalog.env.ENVIRONMENTS; rows from before environments are "all".
    environment: Mapped[str] = mapped_column(String(16), default="all", server_default="all")
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every value is encrypted, not only secrets: a copy of the database reveals nothing.
    value_encrypted: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(63))
