"""Finding and describing a project's certificates (what operations and the pane show: never
the private key)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.platform.auth.models import Project
from codeforge.platform.certificates.models import Certificate
from codeforge.platform.certificates.settings import acme_settings
from codeforge.platform.db import utcnow

__all__ = ["certificate_info", "days_left", "get_certificate", "renew_after", "state_of"]


def get_certificate(session: Session, project: Project, name: str) -> Certificate:
    row = session.scalar(select(Certificate).where(Certificate.project_id == project.id, Certificate.name == name))
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no certificate for {name}",
            fix="list them with `codeforge certificates list` (a certificate is named by its first host name)",
        )
    return row


def days_left(row: Certificate, now: datetime | None = None) -> int:
    seconds = (row.not_after - (now or utcnow())).total_seconds()
    return math.floor(seconds / 86400)


def renew_after(row: Certificate, renew_days: float | None = None) -> datetime:
    days = acme_settings().renew_days if renew_days is None else renew_days
    return row.not_after - timedelta(days=days)


def state_of(row: Certificate, now: datetime | None = None) -> str:
    at = now or utcnow()
    if row.not_after <= at:
        return "expired"
    if row.claim_until is not None and row.claim_until > at:
        return "renewing"
    if row.renewal_failures:
        return "failed"
    if renew_after(row) <= at:
        return "expiring"
    return "valid"


def certificate_info(row: Certificate, project: str, *, chain: bool = False) -> catalog.certificates.CertificateInfo:
    return catalog.certificates.CertificateInfo(
        name=row.name,
        names=list(row.names),
        project=project,
        challenge=row.challenge,
        state=state_of(row),
        issuer=row.issuer,
        serial=row.serial,
        fingerprint_sha256=row.fingerprint,
        not_before=row.not_before,
        not_after=row.not_after,
        days_left=days_left(row),
        renew_after=renew_after(row),
        renewal_error=row.renewal_error,
        renewal_failures=row.renewal_failures,
        chain_pem=row.chain_pem if chain else "",
        created_at=row.created_at,
        created_by=row.created_by,
        renewed_at=row.renewed_at,
    )
