"""Between the service functions and the engines: opening an engine from its row, the
server-side names of a project's databases, the connection of a database row, the
platform's PgBouncer, sweeping what a killed process left half-made, and keeping the
server processes the platform runs running (see `supervisor.py`)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.catalog.errors import NotFound
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases.engines import branching
from codeforge.platform.databases.engines.cluster import BRANCH_SETTINGS, LocalCluster, free_port
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.databases.pooling import PgBouncer
from codeforge.platform.db import utcnow
from codeforge.platform.settings import Settings

__all__ = [
    "PROCESS_STARTED",
    "Event",
    "Handle",
    "bouncer",
    "connection",
    "database_engine",
    "databases_root",
    "get_database",
    "instance_cluster",
    "instance_engine",
    "instance_lock",
    "open_engine",
    "physical_names",
    "record_events",
    "side_session",
    "supervise",
    "sweep",
]

PROCESS_STARTED = utcnow()  # rows still `creating` from before this are a killed process's
SYSTEM_ACTOR = "codeforge"  # who the audit log names for what the platform did by itself

log = logging.getLogger("codeforge.databases")
instance_lock = branching.instance_lock

Engine = PostgresEngine | MySQLEngine


def databases_root(settings: Settings) -> Path:
    return settings.data_dir / "databases"


@dataclass
class Handle:
    row: EngineRow
    admin: Engine  # the server's own admin connection
    cluster: LocalCluster | None  # a CodeForge-run cluster

    @property
    def kind(self) -> str:
        return self.admin.kind

    @property
    def branches_dir(self) -> Path:
        return Path(self.row.root) / "branches"


def open_engine(ctx: Context, row: EngineRow, *, start: bool = True) -> Handle:
    secret = ctx.cipher.decrypt(row.admin_secret_encrypted)
    if row.kind == "postgresql-local":
        cluster = LocalCluster(Path(row.root), port=row.port, password=secret)
        if start and cluster.initialized and not cluster.running:
            with instance_lock(cluster.root):  # not while it is being removed or restarted
                if cluster.initialized and not cluster.running:
                    cluster.start()  # after a reboot: the platform brings its own clusters back
        return Handle(row, cluster.engine(), cluster)
    if row.kind == "mysql":
        return Handle(row, MySQLEngine(secret), None)
    return Handle(row, PostgresEngine(secret), None)


def database_engine(ctx: Context, db: DatabaseRow, *, start: bool = True) -> Handle:
    """The engine a database row lives on, opened (a row's engine cannot be removed while
    it holds databases)."""
    row = ctx.session.get(EngineRow, db.engine_id)
    assert row is not None
    return open_engine(ctx, row, start=start)


def instance_cluster(handle: Handle, db: DatabaseRow, *, start: bool = True) -> LocalCluster | None:
    """The cluster a database lives in: its copy-on-write branch instance, or the engine's."""
    if not db.instance_dir:
        return handle.cluster
    assert handle.cluster is not None
    cluster = LocalCluster(
        Path(db.instance_dir),
        port=db.port,
        password=handle.cluster.password,
        bin_dir=handle.cluster.bin_dir,
        settings=BRANCH_SETTINGS,
    )
    if start and not cluster.running:
        with instance_lock(cluster.root):  # not while the supervisor or a reset has it
            if not cluster.running:
                cluster.start()
    return cluster


def instance_engine(handle: Handle, db: DatabaseRow, *, start: bool = True) -> Engine:
    cluster = instance_cluster(handle, db, start=start)
    return cluster.engine() if db.instance_dir and cluster else handle.admin


def connection(ctx: Context, handle: Handle, db: DatabaseRow) -> Connection:
    return Connection(handle.kind, db.host, db.port, db.physical, db.role, ctx.cipher.decrypt(db.password_encrypted))


def physical_names(project_slug: str, name: str, kind: str) -> tuple[str, str]:
    """(database, role) on the server for a project's database: readable, unique per
    organization, within the engines' length limits (MySQL user names: 32)."""
    base = f"{project_slug}_{name}".replace("-", "_")
    if not base[0].isalpha():
        base = "p" + base
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    db = base if len(base) <= 63 else f"{base[:54]}_{digest}"
    limit = 32 if kind == "mysql" else 63
    role = base if len(base) <= limit else f"{base[: limit - 9]}_{digest}"
    return db, role


def get_database(ctx: Context, name: str) -> DatabaseRow:
    project = ctx.require_project()
    row = ctx.session.scalar(
        select(DatabaseRow).where(
            DatabaseRow.project_id == project.id, DatabaseRow.name == name, DatabaseRow.state == "ready"
        )
    )
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no database {name!r}",
            fix="list them with `codeforge databases list`, or create it with `databases create`",
        )
    return row


@contextmanager
def side_session(ctx: Context) -> Iterator[Session]:
    """A unit of work committed at once, beside the operation's own: a row saying a database
    is being made must be durable before the server is touched, so that a process killed
    half-way leaves a record for the sweep instead of an unknown database."""
    session = Session(bind=ctx.session.get_bind(), expire_on_commit=False)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


@dataclass(frozen=True)
class Event:
    """Something the platform did by itself to a database server: recorded in the audit
    log (`codeforge audit list --actor codeforge`), the platform log and the databases pane."""

    operation: str  # databases.sweep, databases.repair, databases.restart
    target: str
    outcome: str


def record_events(ctx: Context, events: list[Event]) -> None:
    if not events:
        return
    with side_session(ctx) as s:
        for e in events:
            s.add(
                AuditEntry(
                    org_id=ctx.actor.org_id,
                    actor=SYSTEM_ACTOR,
                    operation=e.operation,
                    target=e.target[:300],
                    outcome=e.outcome[:300],
                    source="supervisor",
                )
            )
    for e in events:
        log.warning(
            "%s %s: %s",
            e.operation,
            e.target,
            e.outcome,
            extra={"operation": e.operation, "target": e.target, "outcome": e.outcome},
        )


def _undo(ctx: Context, handle: Handle, row: DatabaseRow) -> None:
    with suppress(Exception):
        if row.instance_dir:
            branching.remove_instance(Path(row.instance_dir))
        elif not row.parent_id:
            handle.admin.drop_database(row.physical, row.role, missing_ok=True)
        else:
            handle.admin.drop_database(row.physical, missing_ok=True)


def _engines(ctx: Context) -> list[EngineRow]:
    return list(
        ctx.session.scalars(
            select(EngineRow).where(EngineRow.org_id == ctx.actor.org_id).order_by(EngineRow.created_at)
        )
    )


def _engine_rows(ctx: Context, engine_row: EngineRow) -> list[DatabaseRow]:
    return list(ctx.session.scalars(select(DatabaseRow).where(DatabaseRow.engine_id == engine_row.id)))


def sweep(ctx: Context, *, servers: bool = True) -> list[Event]:
    """Undo what operations killed half-way left, wherever it is found: rows still
    `creating` from before this process started, copy-on-write instances nobody knows or
    that a killed branch left incomplete, and partial copies whose maker is gone (a killed
    CREATE DATABASE can commit after the platform restarted). A ready branch whose reset was
    killed half-way is made a fresh copy of its parent again, never deleted. Runs in the
    supervisor (every few seconds) and before operations that make databases; what it does
    is recorded as events. Each step leaves alone what an operation in progress holds.
    `servers=False` (before an operation) undoes the stale rows only, so that their names
    are free; the servers' leftovers are the supervisor's."""
    org = ctx.actor.org_id
    events: list[Event] = []
    with side_session(ctx) as s:
        stale = s.scalars(
            select(DatabaseRow)
            .join(EngineRow, EngineRow.id == DatabaseRow.engine_id)
            .where(EngineRow.org_id == org, DatabaseRow.state == "creating", DatabaseRow.created_at < PROCESS_STARTED)
        ).all()
        for row in stale:
            engine_row = s.get(EngineRow, row.engine_id)
            if engine_row is not None:
                with suppress(Exception):
                    _undo(ctx, open_engine(ctx, engine_row), row)
            events.append(Event("databases.sweep", row.name, "undone: an interrupted operation left it half-made"))
            s.delete(row)
    for engine_row in _engines(ctx) if servers else []:
        try:
            handle = open_engine(ctx, engine_row)
            if handle.cluster is not None:
                events += _sweep_branches(ctx, handle)
            events += [
                Event(
                    "databases.sweep",
                    f"{engine_row.name}/{name}",
                    "dropped: a copy left incomplete by an interrupted operation",
                )
                for name in handle.admin.sweep_partials()
            ]
        except Exception as exc:  # one engine down must not stop the others' sweep
            log.warning("databases sweep of engine %s failed: %s", engine_row.name, exc)
    record_events(ctx, events)
    return events


def _sweep_branches(ctx: Context, handle: Handle) -> list[Event]:
    assert handle.cluster is not None
    events: list[Event] = []
    if not handle.cluster.initialized:
        return events  # removed meanwhile
    try:
        # Holding the engine's lock: not while `engines.remove` deletes its folder (or it starts).
        with instance_lock(handle.cluster.root, wait=False):
            rows = {r.id: r for r in _engine_rows(ctx, handle.row)}
            ready = {i for i, r in rows.items() if r.state == "ready" and r.instance_dir}
            swept = branching.sweep(handle.branches_dir, set(rows), ready)
            events += [
                Event(
                    "databases.sweep",
                    f"branch instance {name}",
                    "deleted: unknown to the platform, or left incomplete by an interrupted branch",
                )
                for name in swept.removed
            ]
            for row_id in swept.to_repair:
                events += _repair(ctx, handle, rows[row_id], rows)
    except branching.Busy:
        pass
    return events


def _repair(ctx: Context, handle: Handle, row: DatabaseRow, rows: dict[str, DatabaseRow]) -> list[Event]:
    parent = rows.get(row.parent_id or "")
    if parent is None:
        return []
    try:
        with instance_lock(Path(row.instance_dir), wait=False):
            if not (Path(row.instance_dir) / branching.INCOMPLETE).exists():
                return []  # repaired meanwhile
            source = instance_cluster(handle, parent)
            branch = instance_cluster(handle, row, start=False)
            assert source is not None and branch is not None
            branching.repair_instance(source, branch, database=parent.physical, role=parent.role)
    except branching.Busy:
        return []
    except Exception as exc:
        return [Event("databases.repair", row.name, f"failed, retried later: {exc}")]
    return [
        Event(
            "databases.repair",
            row.name,
            f"restored as a fresh copy of {parent.name}: an interrupted reset had left it incomplete",
        )
    ]


def supervise(ctx: Context) -> list[Event]:
    """Start the organization's servers that should run and do not (a crash, an OOM kill,
    a reboot): its local clusters, then its branch instances. Recorded as events."""
    events: list[Event] = []
    for engine_row in _engines(ctx):
        if engine_row.kind != "postgresql-local":
            continue
        try:
            secret = ctx.cipher.decrypt(engine_row.admin_secret_encrypted)
            cluster = LocalCluster(Path(engine_row.root), port=engine_row.port, password=secret)
            if _revive(cluster):
                events.append(
                    Event(
                        "databases.restart",
                        f"engine {engine_row.name}",
                        f"restarted: its PostgreSQL on port {engine_row.port} had stopped",
                    )
                )
            for row in _engine_rows(ctx, engine_row):
                if row.state != "ready" or not row.instance_dir:
                    continue
                branch = LocalCluster(
                    Path(row.instance_dir),
                    port=row.port,
                    password=secret,
                    bin_dir=cluster.bin_dir,
                    settings=BRANCH_SETTINGS,
                )
                if _revive(branch):
                    events.append(
                        Event(
                            "databases.restart",
                            row.name,
                            f"restarted: its branch instance on port {row.port} had stopped",
                        )
                    )
        except Exception as exc:
            events.append(Event("databases.restart", f"engine {engine_row.name}", f"failed, retried later: {exc}"))
    record_events(ctx, events)
    return events


def _revive(cluster: LocalCluster) -> bool:
    """Start a server that should run and does not; False when it runs, is busy (being made,
    reset or deleted), incomplete (the sweep's business) or gone."""
    if not cluster.initialized or cluster.running:
        return False  # gone (deleted meanwhile: no lock file is made for it again), or fine
    try:
        with instance_lock(cluster.root, wait=False):
            if not cluster.initialized or (cluster.root / branching.INCOMPLETE).exists() or cluster.running:
                return False
            cluster.start()
            return True
    except branching.Busy:
        return False


# -- the platform's PgBouncer ----------------------------------------------------------------------


def bouncer(settings: Settings, cipher: Cipher) -> PgBouncer:
    """One PgBouncer per platform data dir; its port and admin password are kept beside it."""
    root = databases_root(settings) / "pgbouncer"
    state_file = root / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
    else:
        root.mkdir(parents=True, exist_ok=True)
        state = {"port": free_port(), "admin_password": cipher.encrypt(secrets.token_urlsafe(18))}
        state_file.write_text(json.dumps(state))
        state_file.chmod(0o600)
    return PgBouncer(root, port=int(state["port"]), admin_password=cipher.decrypt(state["admin_password"]))
