"""The database pane: a project's databases, their branch tree and sizes, backups and
connection pools, on one page the editor opens (`panes.open` with pane `databases`)."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.context import Context
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.models import BackupRow, BackupScheduleRow, DatabaseRow
from codeforge.platform.panes.content import Bars, PaneContent, Table, Tree
from codeforge.platform.panes.registry import pane

__all__ = ["databases_pane"]


def _mb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1e6:.1f} MB"


@pane("databases", "Databases")
def databases_pane(ctx: Context) -> PaneContent:
    from codeforge.platform.databases import pool_service, service  # the operations' own views

    project = ctx.require_project()
    listing = service.list_databases(ctx, catalog.databases.DatabaseListInput(project=project.slug)).items
    by_name = {d.name: d for d in listing}
    nodes: list[tuple[int, str, str]] = []

    def walk(name: str, depth: int) -> None:
        d = by_name[name]
        how = d.method or "provisioned"
        nodes.append(
            (depth, name, f"{_mb(d.size_bytes)} · {how} · port {d.port}" + (f" · ${d.env_var}" if d.env_var else ""))
        )
        for child in sorted(c.name for c in listing if c.parent == name):
            walk(child, depth + 1)

    for d in listing:
        if d.parent is None or d.parent not in by_name:
            walk(d.name, 0)
    backups = ctx.session.scalars(
        select(BackupRow).where(BackupRow.project_id == project.id).order_by(BackupRow.created_at.desc()).limit(50)
    ).all()
    schedules = ctx.session.execute(
        select(DatabaseRow.name, BackupScheduleRow)
        .join(BackupScheduleRow, BackupScheduleRow.database_id == DatabaseRow.id)
        .where(DatabaseRow.project_id == project.id)
    ).all()
    pools = pool_service.pool_stats(ctx, catalog.databases.DatabaseListInput(project=project.slug))
    # What the platform did by itself (restarts, repairs, sweeps): the supervisor's audit records.
    events = ctx.session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.org_id == ctx.actor.org_id,
            AuditEntry.actor == rt.SYSTEM_ACTOR,
            AuditEntry.operation.startswith("databases."),
        )
        .order_by(AuditEntry.id.desc())
        .limit(20)
    ).all()
    return PaneContent(
        title=f"Databases of {project.slug}",
        subtitle=f"{len(listing)} database(s) and branch(es) · {len(backups)} backup(s)",
        sections=[
            Tree("Branch tree", nodes, empty="no databases yet: CodeForge: Provision a database"),
            Table(
                "Databases",
                ["name", "engine", "kind", "size", "variable", "pooled", "created"],
                [
                    [
                        d.name,
                        d.engine,
                        d.kind,
                        _mb(d.size_bytes),
                        d.env_var or "",
                        "yes" if d.pooled else "no",
                        f"{d.created_at:%Y-%m-%d %H:%M} by {d.created_by}",
                    ]
                    for d in listing
                ],
                empty="no databases yet",
            ),
            Bars(
                "Size",
                [(d.name, float(d.size_bytes or 0), _mb(d.size_bytes)) for d in listing],
                empty="no databases yet",
            ),
            Table(
                "Backups",
                ["database", "id", "taken", "size", "tables", "verified"],
                [
                    [
                        b.database_name,
                        b.id,
                        f"{b.created_at:%Y-%m-%d %H:%M}",
                        _mb(b.size_bytes),
                        str(b.tables),
                        "never" if b.verified_ok is None else ("ok" if b.verified_ok else "FAILED"),
                    ]
                    for b in backups
                ],
                empty="no backups yet: CodeForge: Back up a database",
            ),
            Table(
                "Backup schedules",
                ["database", "cron", "keep", "next run", "last error"],
                [
                    [
                        name,
                        s.cron,
                        f"{s.keep_last} / {s.max_age_days} d",
                        f"{s.next_run_at:%Y-%m-%d %H:%M}",
                        s.last_error or "",
                    ]
                    for name, s in schedules
                ],
                empty="no schedules: CodeForge: Schedule backups",
            ),
            Table(
                "Connection pools (PgBouncer)",
                ["database", "clients active", "waiting", "servers active", "idle", "queries", "avg query"],
                [
                    [
                        p.database,
                        str(p.clients_active),
                        str(p.clients_waiting),
                        str(p.servers_active),
                        str(p.servers_idle),
                        str(p.total_queries),
                        f"{p.avg_query_us} µs",
                    ]
                    for p in pools.items
                ],
                empty=pools.message,
            ),
            Table(
                "Server events",
                ["time", "what", "target", "outcome"],
                [
                    [f"{e.time:%Y-%m-%d %H:%M:%S}", e.operation.removeprefix("databases."), e.target, e.outcome]
                    for e in events
                ],
                empty="no restarts, repairs or clean-ups",
            ),
        ],
    )
