"""Writing and reading the audit log. Records never hold inputs, so never secret values."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.context import Context
from codeforge.platform.db import Database
from codeforge.platform.registry import implements

__all__ = ["record"]


def record(
    db: Database, *, org_id: str | None, actor: str, operation: str, target: str, outcome: str, source: str
) -> None:
    """Write one record in its own transaction, so a failed operation's rollback keeps it."""
    with db.session() as session:
        session.add(
            AuditEntry(
                org_id=org_id,
                actor=actor[:100],
                operation=operation[:100],
                target=target[:300],
                outcome=outcome[:300],
                source=source[:100],
            )
        )


@implements(catalog.audit.LIST)
def list_audit(ctx: Context, data: catalog.audit.AuditListInput) -> catalog.audit.AuditList:
    query = select(AuditEntry).where(AuditEntry.org_id == ctx.actor.org_id)
    if data.operation:
        query = query.where(AuditEntry.operation == data.operation)
    if data.actor:
        query = query.where(AuditEntry.actor == data.actor)
    rows = ctx.session.scalars(query.order_by(AuditEntry.id.desc()).limit(data.limit))
    return catalog.audit.AuditList(
        items=[
            catalog.audit.AuditRecord(
                time=r.time, actor=r.actor, operation=r.operation, target=r.target, outcome=r.outcome, source=r.source
            )
            for r in rows
        ]
    )
