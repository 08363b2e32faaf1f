"""The domains capability's operations (docs/domains.md): add a domain, prove it is the
project's (TXT or HTTP), and manage its records on the platform's DNS server.

The DNS server changes first and the database row follows in the operation's unit of work:
a refused or failed update raises before any row is written, and a row that cannot be written
(a concurrent writer) puts the previous records back, so neither is left half-made."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import idna
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from codeforge import catalog
from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.domains import verify
from codeforge.platform.domains.access import covering_names
from codeforge.platform.domains.dns import DnsNotConfigured, DnsProvider, managed_zone, provider_for
from codeforge.platform.domains.models import DomainRecordRow, DomainRow
from codeforge.platform.domains.settings import dns_settings
from codeforge.platform.registry import implements

__all__ = ["ZoneView", "domain_info", "fqdn_of", "get_domain", "record_info", "zone_view"]

D = catalog.domains


# -- finding and describing ------------------------------------------------------------------------


def get_domain(ctx: Context, name: str) -> DomainRow:
    project = ctx.require_project()
    row = ctx.session.scalar(select(DomainRow).where(DomainRow.project_id == project.id, DomainRow.name == name))
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no domain {name!r}",
            fix="list them with `codeforge domains list`, or add it with `codeforge domains add`",
        )
    return row


def fqdn_of(domain: str, name: str) -> str:
    return domain if name == "@" else f"{name}.{domain}"


def _unicode(name: str) -> str:
    try:
        return idna.decode(name)
    except idna.IDNAError:
        return name


@dataclass
class ZoneView:
    """What this platform's DNS server says about names, asked at most once per failure: after
    the server fails once, the rest of a listing is described without asking it again."""

    provider: DnsProvider | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    def zone(self, fqdn: str) -> str | None:
        if self.provider is None:
            return None
        try:
            return managed_zone(self.provider, fqdn)
        except CodeForgeError as exc:
            self._failed(exc)
            return None

    def served(self, fqdn: str, rtype: str) -> list[str] | None:
        if self.provider is None:
            return None
        try:
            return self.provider.query(fqdn, rtype)
        except CodeForgeError as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: CodeForgeError) -> None:
        self.provider = None
        self.problem = exc.detail
        self.notes.append(f"{exc.detail} ({exc.fix})" if exc.fix else exc.detail)


def zone_view(ctx: Context) -> ZoneView:
    try:
        return ZoneView(provider_for(ctx.settings))
    except DnsNotConfigured as exc:
        return ZoneView(None, exc.detail, [f"{exc.detail}: records cannot be managed here ({exc.fix})"])
    except CodeForgeError as exc:  # a setting of the wrong form
        return ZoneView(None, exc.detail, [f"{exc.detail} ({exc.fix})"])


def _challenges(row: DomainRow) -> list[catalog.domains.Challenge]:
    port = dns_settings().verify_http_port
    txt = verify.challenge_name(row.name)
    url = verify.challenge_url(row.name, row.token, port)
    return [
        D.Challenge(
            method="txt",
            name=txt,
            value=row.token,
            instructions=f"At the DNS provider of {row.name}, add a TXT record {txt} with the value {row.token}; "
            f"then run `codeforge domains verify {row.name}`.",
        ),
        D.Challenge(
            method="http",
            name=url,
            value=row.token,
            instructions=f"Make {url} answer the token {row.token} (plain HTTP, status 200); then run "
            f"`codeforge domains verify {row.name} --method http`.",
        ),
    ]


def domain_info(ctx: Context, row: DomainRow, view: ZoneView, *, notes: list[str] | None = None) -> D.DomainInfo:
    zone = view.zone(row.name)
    count = len(ctx.session.scalars(select(DomainRecordRow.id).where(DomainRecordRow.domain_id == row.id)).all())
    told = list(notes or [])
    if zone is not None:
        told.append(
            f"its zone {zone} is served by this platform's DNS server: "
            + (
                "records are managed here (`codeforge domains set-record`)"
                if row.verified
                else "once verified, its records are managed here"
            )
        )
        if not row.verified:
            told.append(
                "the TXT proof goes on that server, which only its operator changes before verification: "
                f"ask them to add {verify.challenge_name(row.name)}, or verify over HTTP"
            )
    elif view.provider is not None:
        told.append("its zone is not served by this platform's DNS server: manage its records at its DNS provider")
    return D.DomainInfo(
        domain=row.name,
        unicode=_unicode(row.name),
        project=ctx.require_project().slug,
        verified=row.verified,
        verified_at=row.verified_at,
        method=row.method,
        token=row.token,
        challenges=[] if row.verified else _challenges(row),
        managed=zone is not None,
        zone=zone,
        records=count,
        notes=told + view.notes,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def record_info(domain: DomainRow, rec: DomainRecordRow, served: list[str] | None) -> D.RecordInfo:
    return D.RecordInfo(
        domain=domain.name,
        name=rec.name,
        fqdn=fqdn_of(domain.name, rec.name),
        type=rec.type,
        values=list(rec.values),
        ttl=rec.ttl,
        served=served,
        updated_at=rec.updated_at,
        updated_by=rec.updated_by,
    )


# -- who may have a name ---------------------------------------------------------------------------


def _check_free(ctx: Context, name: str) -> None:
    """Conflict when another project owns (has verified) the name, a parent of it or a name under
    it, naming no project; or when this project has it, or a parent or child of it, already."""
    project = ctx.require_project()
    related = or_(DomainRow.name.in_(covering_names(name)), DomainRow.name.like(f"%.{name}"))
    rows = ctx.session.scalars(select(DomainRow).where(related)).all()
    for row in rows:
        if row.project_id == project.id:
            if row.name == name:
                raise Conflict(
                    f"project {project.slug!r} has the domain {name} already",
                    fix=f"see it with `codeforge domains show {name}`",
                )
            if name.endswith("." + row.name):
                raise Conflict(
                    f"{name} is under this project's domain {row.name}",
                    fix=f"manage it as a record of {row.name} (`codeforge domains set-record {row.name} TYPE VALUE "
                    f"--name {name.removesuffix('.' + row.name)}`)",
                )
            raise Conflict(
                f"this project's domain {row.name} is under {name}",
                fix=f"remove {row.name} first (`domains remove`), then add {name}: its records cover {row.name}",
            )
    for row in rows:
        if row.verified:  # another project's proven claim; unverified claims do not block
            raise Conflict(
                f"{name} belongs to another project: it, a domain above it or one under it has been verified there",
                fix="ask that project's owners to remove it, or use a name of your own",
            )


# -- operations ------------------------------------------------------------------------------------


@implements(D.ADD)
def add(ctx: Context, data: D.AddInput) -> D.DomainInfo:
    _check_free(ctx, data.domain)
    row = DomainRow(
        project_id=ctx.require_project().id,
        name=data.domain,
        token=f"cf-{secrets.token_hex(20)}",
        created_by=ctx.actor.username,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return domain_info(ctx, row, zone_view(ctx))


@implements(D.LIST)
def list_domains(ctx: Context, data: D.ListInput) -> D.DomainList:
    rows = ctx.session.scalars(
        select(DomainRow).where(DomainRow.project_id == ctx.require_project().id).order_by(DomainRow.name)
    ).all()
    view = zone_view(ctx)
    items = [domain_info(ctx, r, view) for r in rows]
    seen: set[str] = set()
    for item in items:  # a server failure noted once, not on every domain after it
        item.notes = [n for n in item.notes if n not in seen or n not in view.notes]
        seen.update(item.notes)
    return D.DomainList(items=items)


@implements(D.SHOW)
def show(ctx: Context, data: D.DomainInput) -> D.DomainInfo:
    return domain_info(ctx, get_domain(ctx, data.domain), zone_view(ctx))


@implements(D.VERIFY)
def verify_domain(ctx: Context, data: D.VerifyInput) -> D.DomainInfo:
    row = get_domain(ctx, data.domain)
    if row.verified:
        return domain_info(ctx, row, zone_view(ctx), notes=[f"verified already ({row.method})"])
    others = ctx.session.scalars(
        select(DomainRow.id).where(
            DomainRow.project_id != row.project_id,
            DomainRow.verified_at.is_not(None),
            or_(DomainRow.name.in_(covering_names(row.name)), DomainRow.name.like(f"%.{row.name}")),
        )
    ).first()
    if others is not None:
        raise Conflict(
            f"{row.name} belongs to another project: it, a domain above it or one under it has been verified there",
            fix="ask that project's owners to remove it, or use a name of your own",
        )
    config = dns_settings()
    if data.method is D.VerifyMethod.TXT:
        verify.check_txt(config, row.name, row.token)
    else:
        verify.check_http(config, row.name, row.token)
    row.verified_at = utcnow()
    row.method = data.method.value
    row.owner_name = row.name
    try:
        ctx.session.flush()
    except IntegrityError:
        raise Conflict(
            f"{row.name} belongs to another project: it was verified there at the same time",
            fix="ask that project's owners to remove it, or use a name of your own",
        ) from None
    return domain_info(ctx, row, zone_view(ctx))


def _records(ctx: Context, row: DomainRow) -> list[DomainRecordRow]:
    return list(
        ctx.session.scalars(
            select(DomainRecordRow)
            .where(DomainRecordRow.domain_id == row.id)
            .order_by(DomainRecordRow.name, DomainRecordRow.type)
        )
    )


@implements(D.REMOVE)
def remove(ctx: Context, data: D.RemoveInput) -> D.DomainRemoved:
    row = get_domain(ctx, data.domain)
    records = _records(ctx, row)
    notes: list[str] = []
    deleted: list[DomainRecordRow] = []
    if records:
        try:
            provider = provider_for(ctx.settings)
            for rec in records:
                provider.delete(fqdn_of(row.name, rec.name), rec.type)
                deleted.append(rec)
        except CodeForgeError as exc:
            if not data.force:
                _put_back(ctx, row, deleted)
                raise type(exc)(
                    f"{row.name} was not removed: its records could not be deleted from the DNS server: {exc.detail}",
                    fix=f"{exc.fix}; or remove it with `--force`, leaving its records on the server",
                ) from None
            left = [f"{fqdn_of(row.name, r.name)} {r.type}" for r in records if r not in deleted]
            notes.append(f"left on the DNS server ({exc.detail}): {', '.join(left)}")
    name = row.name
    ctx.session.delete(row)
    ctx.session.flush()
    return D.DomainRemoved(domain=name, records_deleted=len(deleted), notes=notes)


def _put_back(ctx: Context, row: DomainRow, records: list[DomainRecordRow]) -> None:
    """Undo deletions already made on the server, best effort: the unit of work rolls back."""
    if not records:
        return
    try:
        provider = provider_for(ctx.settings)
        for rec in records:
            provider.replace(fqdn_of(row.name, rec.name), rec.type, rec.values, rec.ttl)
    except CodeForgeError:
        pass  # the server is gone: what it lost is in the rows still, and the next set_record puts it back


@implements(D.RECORDS)
def records(ctx: Context, data: D.DomainInput) -> D.RecordList:
    row = get_domain(ctx, data.domain)
    rows = _records(ctx, row)
    notes: list[str] = []
    view = zone_view(ctx) if rows else ZoneView()
    items = [record_info(row, r, view.served(fqdn_of(row.name, r.name), r.type)) for r in rows]
    notes += view.notes
    if not row.verified:
        notes.append(f"{row.name} is not verified yet: records can be set once it is (`codeforge domains verify`)")
    for item in items:
        if item.served is not None and sorted(item.served) != sorted(item.values):
            notes.append(
                f"{item.fqdn} {item.type}: the DNS server answers {item.served or 'nothing'}, not what was set "
                "(changed outside the platform?): set it again to put it back"
            )
    return D.RecordList(domain=row.name, items=items, notes=notes)


def _require_verified(row: DomainRow) -> None:
    if not row.verified:
        raise Conflict(
            f"{row.name} is not verified: records can only be managed for a domain the project has proven it owns",
            fix=f"verify it first: `codeforge domains verify {row.name}` (`domains show` says how)",
        )


def _managed_zone(provider: DnsProvider, row: DomainRow, fqdn: str) -> str:
    zone = managed_zone(provider, fqdn)
    if zone is None:
        raise NotFound(
            f"the records of {row.name} are not managed here: this platform's DNS server does not serve its zone",
            fix=f"manage them at the DNS provider of {row.name}, or serve its zone on the platform's DNS server "
            "(CODEFORGE_DNS_SERVER, CODEFORGE_DNS_ZONES)",
        )
    return zone


def _check_record(
    ctx: Context, provider: DnsProvider, row: DomainRow, data: D.SetRecordInput, fqdn: str, zone: str
) -> None:
    if len(fqdn) > 253:
        raise BadInput.of_fields(
            [FieldProblem("name", f"{fqdn} is longer than 253 characters", "use a shorter record name")]
        )
    rtype = data.type.value
    if rtype == "CNAME" and fqdn == zone:
        raise BadInput.of_fields(
            [
                FieldProblem(
                    "type",
                    f"{fqdn} is the apex of its zone, which holds SOA and NS records: it cannot be a CNAME",
                    "use A/AAAA records for the apex, or a CNAME on a name under it (e.g. www)",
                )
            ]
        )
    others = ctx.session.scalars(
        select(DomainRecordRow.type).where(DomainRecordRow.domain_id == row.id, DomainRecordRow.name == data.name)
    ).all()
    clash = [t for t in others if t != rtype and "CNAME" in (t, rtype)]
    if clash:
        raise Conflict(
            f"{fqdn} has a {clash[0]} record: a CNAME cannot share its name with any other record",
            fix=f"delete the {clash[0]} record first (`domains delete-record`), or use another name",
        )
    if rtype == "MX":
        for value in data.values:
            host = value.split()[1]
            in_zone = host == zone or host.endswith("." + zone)
            if in_zone and not provider.query(host, "A") and not provider.query(host, "AAAA"):
                raise BadInput.of_fields(
                    [
                        FieldProblem(
                            "values",
                            f"the mail host {host} has no A or AAAA record (DNS servers refuse an MX like that)",
                            f"set an A or AAAA record for {host} first",
                        )
                    ]
                )


@implements(D.SET_RECORD)
def set_record(ctx: Context, data: D.SetRecordInput) -> D.RecordInfo:
    row = get_domain(ctx, data.domain)
    _require_verified(row)
    provider = provider_for(ctx.settings)
    fqdn = fqdn_of(row.name, data.name)
    zone = _managed_zone(provider, row, fqdn)
    _check_record(ctx, provider, row, data, fqdn, zone)
    rtype = data.type.value
    rec = ctx.session.scalar(
        select(DomainRecordRow).where(
            DomainRecordRow.domain_id == row.id, DomainRecordRow.name == data.name, DomainRecordRow.type == rtype
        )
    )
    before = provider.query(fqdn, rtype)  # what to put back if a later step fails
    provider.replace(fqdn, rtype, data.values, data.ttl)
    try:
        served = provider.query(fqdn, rtype)
        if sorted(served) != sorted(data.values):
            raise ExternalFailure(
                f"the DNS server took the update of {fqdn} {rtype} but answers {served or 'nothing'}: "
                "another record at that name may stand in the way (a CNAME shares its name with nothing)",
                fix=f"look at what the server holds for {fqdn} (`dig @SERVER {fqdn} ANY`) and remove what conflicts",
            )
        if rec is None:
            rec = DomainRecordRow(domain_id=row.id, name=data.name, type=rtype)
            ctx.session.add(rec)
        rec.values = list(data.values)
        rec.ttl = data.ttl
        rec.updated_by = ctx.actor.username
        rec.updated_at = utcnow()
        ctx.session.flush()
    except BaseException as exc:
        _restore(provider, fqdn, rtype, before, data.ttl)
        if isinstance(exc, IntegrityError):
            raise Conflict(
                f"{fqdn} {rtype} was set by another request at the same time", fix="list the records and try again"
            ) from None
        raise
    return record_info(row, rec, served)


def _restore(provider: DnsProvider, fqdn: str, rtype: str, values: list[str], ttl: int) -> None:
    try:
        if values:
            provider.replace(fqdn, rtype, values, ttl)
        else:
            provider.delete(fqdn, rtype)
    except CodeForgeError:
        pass  # the error being raised says what failed first


@implements(D.DELETE_RECORD)
def delete_record(ctx: Context, data: D.DeleteRecordInput) -> D.RecordDeleted:
    row = get_domain(ctx, data.domain)
    _require_verified(row)
    rtype = data.type.value
    rec = ctx.session.scalar(
        select(DomainRecordRow).where(
            DomainRecordRow.domain_id == row.id, DomainRecordRow.name == data.name, DomainRecordRow.type == rtype
        )
    )
    fqdn = fqdn_of(row.name, data.name)
    provider = provider_for(ctx.settings)
    # A record set with no row (one a killed operation left, or set at the server by hand) is
    # deleted too: the name is under the project's verified domain.
    if rec is None and not provider.query(fqdn, rtype):
        raise NotFound(
            f"there is no {rtype} record {fqdn}",
            fix=f"list them with `codeforge domains records {row.name}`",
        )
    provider.delete(fqdn, rtype)
    if rec is not None:
        ctx.session.delete(rec)
        ctx.session.flush()
    return D.RecordDeleted(domain=row.name, name=data.name, type=rtype)
