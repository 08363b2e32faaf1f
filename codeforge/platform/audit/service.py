"""Writing and reading the audit log. Records never hold inputs, so never secret values."""

from __future__ import annotations

from sqlalchemy import insert, select

from codeforge import catalog
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.context import Context
from codeforge.platform.db import Database, utcnow
from codeforge.platform.registry import implements

__all__ = ["record"]


_INSERT = insert(AuditEntry)


def record(
    db: Database, *, org_id: str | None, actor: str, operation: str, target: str, outcome: str, source: str
) -> None:
    """Write one record in its own transaction, so a failed operation's rollback keeps it.
    A plain INSERT on a connection: every request writes one, and an ORM unit of work for a
    row nobody reads back cost as much as the operation it records."""
    row = {
        "org_id": org_id,
        "time": utcnow(),
        "actor": actor[:100],
        "operation": operation[:100],
        "target": target[:300],
        "outcome": outcome[:300],
        "source": source[:100],
    }
    with db.engine.begin() as conn:
        conn.execute(_INSERT, row)


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
