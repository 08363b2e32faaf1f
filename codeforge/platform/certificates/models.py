"""Certificates' platform state (docs/certificates.md): the ACME account per directory, the
certificates with their sealed private keys, and the challenges of orders under way (what the
HTTP-01 endpoint answers, and the DNS-01 TXT records the crash cleanup removes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["AcmeAccount", "AcmeChallenge", "Certificate"]


class AcmeAccount(Base):
    """The platform's account at one ACME directory; its key sealed with the platform's cipher."""

    __tablename__ = "acme_accounts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    directory_url: Mapped[str] = mapped_column(String(500), unique=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    key_sealed: Mapped[str] = mapped_column(Text)  # the account's JWK (JSON), encrypted
    uri: Mapped[str] = mapped_column(Text)  # the account's URL at the CA (the JWS "kid")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))  # its first host name
    names: Mapped[list[str]] = mapped_column(JSON, default=list)
    challenge: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(500), default="")
    serial: Mapped[str] = mapped_column(String(80), default="")
    fingerprint: Mapped[str] = mapped_column(String(100), default="")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    chain_pem: Mapped[str] = mapped_column(Text)
    key_sealed: Mapped[str] = mapped_column(Text)  # the private key (PEM), encrypted
    # Renewal: why the last one failed, how many failed in a row, when the next may try, who
    # renews it now (a replica's claim, until a time), and when people were last told.
    renewal_error: Mapped[str] = mapped_column(Text, default="")
    renewal_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str] = mapped_column(String(200), default="")
    claim_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AcmeChallenge(Base):
    """A challenge of an order under way: HTTP-01's answer (served by api.py), or a DNS-01 TXT
    record put on the DNS server. Removed when the order ends; one left past `expires_at` was
    left by a process that died, and the crash cleanup removes it (and its TXT record)."""

    __tablename__ = "acme_challenges"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), index=True)  # no foreign key: cleaned up after a project
    kind: Mapped[str] = mapped_column(String(16))  # http-01 | dns-01
    hostname: Mapped[str] = mapped_column(String(300))
    token: Mapped[str] = mapped_column(String(200), unique=True)
    validation: Mapped[str] = mapped_column(Text)  # the key authorization (http-01) or the TXT value (dns-01)
    fqdn: Mapped[str] = mapped_column(String(320), default="")  # dns-01: _acme-challenge.<name>
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
