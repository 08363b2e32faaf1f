"""Domains' platform state (docs/domains.md): each project's domains with their verification
token and proof, and the DNS record sets the platform keeps for them.

`owner_name` holds the name once the domain is verified (NULL before): its unique constraint
makes two projects owning one name impossible, on every replica, whoever verifies first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["DomainRecordRow", "DomainRow"]


class DomainRow(Base):
    __tablename__ = "domains"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), index=True)  # lower case, punycode, no final dot
    token: Mapped[str] = mapped_column(String(64))  # published by the owner: not a secret
    method: Mapped[str | None] = mapped_column(String(8))  # txt | http, once verified
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner_name: Mapped[str | None] = mapped_column(String(253), unique=True)  # = name once verified
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class DomainRecordRow(Base):
    """A record set (name, type) the platform has put on its DNS server for a domain."""

    __tablename__ = "domain_records"
    __table_args__ = (UniqueConstraint("domain_id", "name", "type"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253))  # relative to the domain, '@' for the apex
    type: Mapped[str] = mapped_column(String(8))
    values: Mapped[list[str]] = mapped_column(JSON, default=list)
    ttl: Mapped[int] = mapped_column(Integer, default=300)
    updated_by: Mapped[str] = mapped_column(String(63))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
