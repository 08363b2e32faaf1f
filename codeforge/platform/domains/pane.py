"""The `domains` pane (docs/domains.md, "Editors"): a project's domains with their verification
state (and, for those not verified yet, how to verify them), and the records the platform keeps
for each beside what the DNS server answers for them now. The renderer escapes all of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from codeforge.platform.context import Context
from codeforge.platform.domains import service
from codeforge.platform.domains.models import DomainRecordRow, DomainRow
from codeforge.platform.panes.content import Log, PaneContent, Table
from codeforge.platform.panes.registry import pane

__all__ = ["domains_pane"]


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}" if at else ""


@pane("domains", "Domains")
def domains_pane(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    rows = list(
        ctx.session.scalars(select(DomainRow).where(DomainRow.project_id == project.id).order_by(DomainRow.name))
    )
    view = service.zone_view(ctx)
    infos = [service.domain_info(ctx, r, view) for r in rows]
    records: list[list[str]] = []
    for row in rows:
        for rec in ctx.session.scalars(
            select(DomainRecordRow)
            .where(DomainRecordRow.domain_id == row.id)
            .order_by(DomainRecordRow.name, DomainRecordRow.type)
        ):
            fqdn = service.fqdn_of(row.name, rec.name)
            served = view.served(fqdn, rec.type)
            if served is None:
                state = "unknown: the DNS server could not be asked"
            elif sorted(served) == sorted(rec.values):
                state = "served"
            else:
                state = "differs: the server answers " + (", ".join(served) or "nothing")
            records.append(
                [
                    fqdn,
                    rec.type,
                    ", ".join(rec.values),
                    str(rec.ttl),
                    state,
                    f"{_when(rec.updated_at)} by {rec.updated_by}",
                ]
            )
    pending: list[tuple[str, str]] = [(i.domain, c.instructions) for i in infos if not i.verified for c in i.challenges]
    verified = sum(1 for i in infos if i.verified)
    return PaneContent(
        title=f"Domains of {project.slug}",
        subtitle=f"{len(infos)} domain(s), {verified} verified · {len(records)} record set(s) · times in UTC",
        sections=[
            Table(
                "Domains",
                ["domain", "as read", "verification", "records", "added"],
                [
                    [
                        i.domain,
                        i.unicode,
                        f"verified ({i.method}) {_when(i.verified_at)}" if i.verified else "not verified yet",
                        f"managed here (zone {i.zone})" if i.managed else "at its own DNS provider",
                        f"{_when(i.created_at)} by {i.created_by}",
                    ]
                    for i in infos
                ],
                empty="no domains yet: CodeForge: Add a domain",
            ),
            Table(
                "Records",
                ["name", "type", "values", "TTL (s)", "on the DNS server", "set"],
                records,
                empty="no records yet: CodeForge: Set a DNS record (on a verified domain)",
            ),
            Log("How to verify", pending, empty="nothing to verify"),
            Log("Notes", [("dns", n) for n in dict.fromkeys(view.notes)], empty="nothing to note"),
        ],
    )
