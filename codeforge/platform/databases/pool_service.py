"""Connection pooling operations: route a database through the platform's PgBouncer, and
its pool statistics; without PgBouncer, say so and hand out the direct URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import BadInput
from codeforge.platform.context import Context
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.databases.pooling import PoolEntry
from codeforge.platform.env.service import put_variable, remove_variable
from codeforge.platform.registry import implements

__all__ = ["configure_pool"]


def _alias(row: DatabaseRow) -> str:
    return f"{row.physical[:50]}_{row.id[:6]}"


def configure_pool(ctx: Context) -> None:
    """PgBouncer's configuration lists every pooled database of the platform."""
    pb = rt.bouncer(ctx.settings, ctx.cipher)
    if not pb.available():
        return
    entries = []
    for row in ctx.session.scalars(select(DatabaseRow).where(DatabaseRow.pooled, DatabaseRow.state == "ready")):
        engine_row = ctx.session.get(EngineRow, row.engine_id)
        if engine_row is None or engine_row.kind == "mysql":
            continue
        engine = rt.instance_engine(rt.open_engine(ctx, engine_row), row)
        assert isinstance(engine, PostgresEngine)
        verifier = engine.role_verifier(row.role)
        if verifier:
            entries.append(PoolEntry(_alias(row), row.host, row.port, row.physical, row.role, verifier))
    pb.configure(entries)
    if entries and not pb.running():
        pb.start()


def _urls(ctx: Context, row: DatabaseRow) -> catalog.databases.DatabaseUrls:
    conn = rt.connection(ctx, rt.database_engine(ctx, row, start=False), row)
    pb = rt.bouncer(ctx.settings, ctx.cipher)
    if not pb.available():
        return catalog.databases.DatabaseUrls(
            name=row.name, url=conn.url, pooled_url=None, pooling=pb.unavailable_reason()
        )
    if not row.pooled:
        return catalog.databases.DatabaseUrls(
            name=row.name,
            url=conn.url,
            pooled_url=None,
            pooling="not pooled: run `databases pool` to route it through PgBouncer",
        )
    return catalog.databases.DatabaseUrls(
        name=row.name, url=conn.url, pooled_url=pb.pooled_url(conn, _alias(row)), pooling="PgBouncer"
    )


@implements(catalog.databases.REVEAL)
def reveal_urls(ctx: Context, data: catalog.databases.DatabaseNameInput) -> catalog.databases.DatabaseUrls:
    return _urls(ctx, rt.get_database(ctx, data.name))


def _masked(urls: catalog.databases.DatabaseUrls) -> catalog.databases.DatabaseUrls:
    """The URLs with their password as `***`: changing the pooling reveals nothing
    (`databases reveal` and the project variable hold the real ones)."""

    def mask(url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    return urls.model_copy(update={"url": mask(urls.url), "pooled_url": mask(urls.pooled_url)})


@implements(catalog.databases.POOL)
def pool_database(ctx: Context, data: catalog.databases.PoolInput) -> catalog.databases.DatabaseUrls:
    row = rt.get_database(ctx, data.name)
    engine_row = ctx.session.get(EngineRow, row.engine_id)
    assert engine_row is not None
    if engine_row.kind == "mysql":
        raise BadInput("PgBouncer pools PostgreSQL only", fix="connect to MySQL with the direct URL")
    pb = rt.bouncer(ctx.settings, ctx.cipher)
    if not pb.available():
        return _masked(_urls(ctx, row))  # says plainly that there is no pooler
    row.pooled = data.enabled
    ctx.session.flush()
    configure_pool(ctx)
    if row.env_var:
        sync_pooled_variable(ctx, row, row.env_var)
    return _masked(_urls(ctx, row))


def sync_pooled_variable(ctx: Context, row: DatabaseRow | None, var: str) -> None:
    """`<var>_POOLED` follows `<var>`: the pooled URL of the database that holds `var` when
    that one is pooled, otherwise no such variable (an app must not reach one database
    directly and another through the pool)."""
    project = ctx.require_project()
    urls = _urls(ctx, row) if row is not None and row.pooled else None
    if urls is not None and urls.pooled_url:
        put_variable(ctx, project, f"{var}_POOLED", urls.pooled_url, secret=True)
    else:
        remove_variable(ctx, project, f"{var}_POOLED")


@implements(catalog.databases.POOL_STATS)
def pool_stats(ctx: Context, data: catalog.databases.DatabaseListInput) -> catalog.databases.PoolStats:
    pb = rt.bouncer(ctx.settings, ctx.cipher)
    if not pb.available():
        return catalog.databases.PoolStats(available=False, running=False, message=pb.unavailable_reason(), items=[])
    rows = ctx.session.scalars(
        select(DatabaseRow).where(DatabaseRow.project_id == ctx.require_project().id, DatabaseRow.pooled)
    )
    names = {_alias(r): r.name for r in rows}
    items = [
        catalog.databases.PoolStat(
            database=names[s.alias],
            user=s.user,
            clients_active=s.clients_active,
            clients_waiting=s.clients_waiting,
            servers_active=s.servers_active,
            servers_idle=s.servers_idle,
            pool_mode=s.pool_mode,
            total_queries=s.total_queries,
            total_transactions=s.total_transactions,
            avg_query_us=s.avg_query_us,
        )
        for s in pb.stats()
        if s.alias in names
    ]
    running = pb.running()
    return catalog.databases.PoolStats(
        available=True,
        running=running,
        items=items,
        message=f"PgBouncer on port {pb.port}"
        if running
        else "PgBouncer is not running: no database is pooled yet (`databases pool`)",
    )
