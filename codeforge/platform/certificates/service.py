"""The certificates capability's operations (docs/certificates.md, "Operations"): issue and
renew run as jobs (an ACME order takes seconds to minutes), list, show and delete answer at
once. Writes of issue and renew go through side sessions (store.Side): the challenges must be
readable by the HTTP-01 endpoint while the order runs."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import Conflict, NotFound
from codeforge.platform.certificates.access import certificate_info, get_certificate
from codeforge.platform.certificates.issuance import Progress, check_names, obtain, store_renewal
from codeforge.platform.certificates.models import Certificate
from codeforge.platform.certificates.settings import acme_settings
from codeforge.platform.certificates.store import Side, parse_chain
from codeforge.platform.context import Context
from codeforge.platform.registry import implements

__all__: list[str] = []

C = catalog.certificates


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


@implements(C.RENEW)
def renew(ctx: Context, data: catalog.certificates.NameInput) -> catalog.certificates.CertificateInfo:
    project = ctx.require_project()
    row = get_certificate(ctx.session, project, data.domain)
    cert_id, names, challenge = row.id, list(row.names), row.challenge
    check_names(ctx.session, project.id, project.slug, names, challenge)
    side = Side(ctx.session.get_bind())  # type: ignore[arg-type]
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
    except Exception as exc:
        with side.session() as session:
            found = session.get(Certificate, cert_id)
            if found is not None:
                found.renewal_error = str(getattr(exc, "message", "") or type(exc).__name__)[:2000]
                found.renewal_failures += 1
        raise
    with side.session() as session:
        found = session.get(Certificate, cert_id)
        if found is None:
            raise NotFound(f"the certificate for {data.domain} was deleted meanwhile", fix="issue it again")
        store_renewal(session, found, ctx.cipher, chain, key_pem)
    progress.report(1.0, f"certificate for {', '.join(found.names)} renewed")
    return certificate_info(found, project.slug)


@implements(C.DELETE)
def delete(ctx: Context, data: catalog.certificates.NameInput) -> catalog.certificates.CertificateDeleted:
    project = ctx.require_project()
    row = get_certificate(ctx.session, project, data.domain)
    out = C.CertificateDeleted(name=row.name, names=list(row.names))
    ctx.session.delete(row)
    return out
