"""The certificates capability's operations (docs/certificates.md, "Operations"): issue and
renew run as jobs (an ACME order takes seconds to minutes), list, show and delete answer at
once. Writes of issue and renew go through side sessions (store.Side): the challenges must be
readable by the HTTP-01 endpoint while the order runs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from codeforge import catalog
from codeforge.catalog.errors import CodeForgeError, Conflict, NotFound
from codeforge.platform.certificates.access import certificate_info, get_certificate
from codeforge.platform.certificates.issuance import BOOT, Progress, check_names, obtain, store_renewal
from codeforge.platform.certificates.models import Certificate
from codeforge.platform.certificates.settings import acme_settings
from codeforge.platform.certificates.store import Side, parse_chain
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.registry import implements

__all__: list[str] = []

C = catalog.certificates
CLAIM_S = 900.0  # as renewal.CLAIM_S: a renewal that outlives it is surely dead


def _progress(ctx: Context) -> Progress:
    job = ctx.job
    if job is None:
        return Progress()
    return Progress(report=job.progress, check_cancelled=job.check_cancelled)


@implements(C.ISSUE)
def issue(ctx: Context, data: catalog.certificates.IssueInput) -> catalog.certificates.CertificateInfo:
    project = ctx.require_project()
    names = C.normalize_names(data.domain)
    progress = _progress(ctx)
    progress.report(0.02, "checking the names")
    if ctx.session.scalar(
        select(Certificate.id).where(Certificate.project_id == project.id, Certificate.name == names[0])
    ):
        raise Conflict(
            f"project {project.slug!r} has a certificate for {names[0]} already",
            fix="renew it (`codeforge certificates renew`), or delete it first",
        )
    check_names(ctx.session, project.id, project.slug, names, data.challenge.value)
    if data.challenge is C.ChallengeType.DNS_01:
        from codeforge.platform.domains.dns import provider_for

        provider_for(ctx.settings)  # says what to set when no DNS server is configured, before any order
    side = Side(ctx.session.get_bind())  # type: ignore[arg-type]
    chain, key_pem = obtain(
        side,
        ctx.cipher,
        ctx.settings,
        acme_settings(),
        project_id=project.id,
        names=names,
        challenge=data.challenge.value,
        progress=progress,
    )
    issued = parse_chain(chain)
    row = Certificate(
        project_id=project.id,
        name=names[0],
        names=names,
        challenge=data.challenge.value,
        issuer=issued.issuer,
        serial=issued.serial,
        fingerprint=issued.fingerprint,
        not_before=issued.not_before,
        not_after=issued.not_after,
        chain_pem=chain,
        key_sealed=ctx.cipher.encrypt(key_pem),
        created_by=ctx.actor.username,
    )
    with side.session() as session:
        session.add(row)
    progress.report(1.0, f"certificate for {', '.join(names)} issued by {issued.issuer}")
    return certificate_info(row, project.slug)


@implements(C.LIST)
def list_certificates(ctx: Context, data: catalog.certificates.ListInput) -> catalog.certificates.CertificateList:
    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(Certificate).where(Certificate.project_id == project.id).order_by(Certificate.name)
    )
    return C.CertificateList(items=[certificate_info(r, project.slug) for r in rows])


@implements(C.SHOW)
def show(ctx: Context, data: catalog.certificates.NameInput) -> catalog.certificates.CertificateInfo:
    project = ctx.require_project()
    return certificate_info(get_certificate(ctx.session, project, data.domain), project.slug, chain=True)


def _claim(side: Side, cert_id: str, owner: str) -> bool:
    """Hold the certificate's renewal claim (the background renewal takes the same one)."""
    now = utcnow()
    with side.session() as session:
        done = session.execute(
            update(Certificate)
            .where(Certificate.id == cert_id, or_(Certificate.claim_until.is_(None), Certificate.claim_until < now))
            .values(claimed_by=owner, claim_until=now + timedelta(seconds=CLAIM_S))
        )
        return bool(getattr(done, "rowcount", 0) == 1)


@implements(C.RENEW)
def renew(ctx: Context, data: catalog.certificates.NameInput) -> catalog.certificates.CertificateInfo:
    project = ctx.require_project()
    row = get_certificate(ctx.session, project, data.domain)
    cert_id, names, challenge = row.id, list(row.names), row.challenge
    check_names(ctx.session, project.id, project.slug, names, challenge)
    side = Side(ctx.session.get_bind())  # type: ignore[arg-type]
    if not _claim(side, cert_id, f"{ctx.settings.resolved_instance_id}/{BOOT}/{ctx.actor.username}"):
        raise Conflict(
            f"the certificate for {row.name} is being renewed right now",
            fix="wait for that renewal to end (`codeforge certificates show`), then try again if it failed",
        )
    progress = _progress(ctx)
    try:
        chain, key_pem = obtain(
            side,
            ctx.cipher,
            ctx.settings,
            acme_settings(),
            project_id=project.id,
            names=names,
            challenge=challenge,
            progress=progress,
        )
    except BaseException as exc:
        with side.session() as session:
            found = session.get(Certificate, cert_id)
            if found is not None:
                found.claimed_by, found.claim_until = "", None
                if isinstance(exc, CodeForgeError):  # not a cancellation: the renewal failed
                    found.renewal_error = exc.message[:2000]
                    found.renewal_failures += 1
        raise
    with side.session() as session:
        found = session.get(Certificate, cert_id)
        if found is None:
            raise NotFound(f"the certificate for {data.domain} was deleted meanwhile", fix="issue it again")
        store_renewal(session, found, ctx.cipher, chain, key_pem)
        found.claimed_by, found.claim_until = "", None
    progress.report(1.0, f"certificate for {', '.join(found.names)} renewed")
    return certificate_info(found, project.slug)


@implements(C.DELETE)
def delete(ctx: Context, data: catalog.certificates.NameInput) -> catalog.certificates.CertificateDeleted:
    project = ctx.require_project()
    row = get_certificate(ctx.session, project, data.domain)
    out = C.CertificateDeleted(name=row.name, names=list(row.names))
    ctx.session.delete(row)
    return out
