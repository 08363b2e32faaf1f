"""Writing and reading the audit log. Records never hold inputs, so never secret values."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.context import Context
from codeforge.platform.db import Database, utcnow
from codeforge.platform.registry import implements

__all__ = ["record"]


_INSERT = insert(cast(Table, AuditEntry.__table__))  # Core: no ORM unit of work


def record(
    db: Database,
    *,
    org_id: str | None,
    actor: str,
    operation: str,
    target: str,
    outcome: str,
    source: str,
    session: Session | None = None,
) -> None:
    """Write one record: in `session`, the operation's own unit of work, for a success (one
    commit per request, and the record goes if the commit fails); else in a transaction of
    its own, so a failed operation's rollback keeps it. A plain INSERT: every request writes
    one, and an ORM unit of work for a row nobody reads back cost as much as the operation."""
    row = {
        "org_id": org_id,
        "time": utcnow(),
        "actor": actor[:100],
        "operation": operation[:100],
        "target": target[:300],
        "outcome": outcome[:300],
        "source": source[:100],
    }
    if session is not None:
        session.execute(_INSERT, row)
        return
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
