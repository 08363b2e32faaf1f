"""Between the service functions and the engines: opening an engine from its row, the
server-side names of a project's databases, the connection of a database row, the
platform's PgBouncer, and sweeping what a killed process left half-made."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.catalog.errors import NotFound
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
    "Handle",
    "bouncer",
    "connection",
    "databases_root",
    "get_database",
    "instance_cluster",
    "instance_engine",
    "open_engine",
    "physical_names",
    "side_session",
    "sweep",
]

PROCESS_STARTED = utcnow()  # rows still `creating` from before this are a killed process's
_SWEPT: set[str] = set()

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
        if start and not cluster.status().running:
            cluster.start()  # after a reboot: the platform brings its own clusters back
        return Handle(row, cluster.engine(), cluster)
    if row.kind == "mysql":
        return Handle(row, MySQLEngine(secret), None)
    return Handle(row, PostgresEngine(secret), None)


def instance_cluster(handle: Handle, db: DatabaseRow, *, start: bool = True) -> LocalCluster | None:
    """The cluster a database lives in: its copy-on-write branch instance, or the engine's."""
    if not db.instance_dir:
        return handle.cluster
    assert handle.cluster is not None
    cluster = LocalCluster(Path(db.instance_dir), port=db.port, password=handle.cluster.password,
                           bin_dir=handle.cluster.bin_dir, settings=BRANCH_SETTINGS)
    if start and not cluster.status().running:
        cluster.start()
    return cluster


def instance_engine(handle: Handle, db: DatabaseRow) -> Engine:
    cluster = instance_cluster(handle, db)
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
    role = base if len(base) <= limit else f"{base[:limit - 9]}_{digest}"
    return db, role


def get_database(ctx: Context, name: str) -> DatabaseRow:
    project = ctx.require_project()
    row = ctx.session.scalar(select(DatabaseRow).where(DatabaseRow.project_id == project.id,
                                                       DatabaseRow.name == name, DatabaseRow.state == "ready"))
    if row is None:
        raise NotFound(f"project {project.slug!r} has no database {name!r}",
                       fix="list them with `codeforge databases list`, or create it with `databases create`")
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


def _undo(ctx: Context, handle: Handle, row: DatabaseRow) -> None:
    with suppress(Exception):
        if row.instance_dir:
            LocalCluster(Path(row.instance_dir), port=row.port, password="").destroy()
        elif not row.parent_id:
            handle.admin.drop_database(row.physical, row.role, missing_ok=True)
        else:
            handle.admin.drop_database(row.physical, missing_ok=True)


def sweep(ctx: Context) -> list[str]:
    """Undo what operations killed half-way left: rows still `creating` from before this
    process started, copy-on-write instances nobody knows, and partial copies."""
    org = ctx.actor.org_id
    undone: list[str] = []
    with side_session(ctx) as s:
        stale = s.scalars(select(DatabaseRow).join(EngineRow, EngineRow.id == DatabaseRow.engine_id).where(
            EngineRow.org_id == org, DatabaseRow.state == "creating", DatabaseRow.created_at < PROCESS_STARTED)).all()
        for row in stale:
            engine_row = s.get(EngineRow, row.engine_id)
            if engine_row is not None:
                with suppress(Exception):
                    _undo(ctx, open_engine(ctx, engine_row), row)
            undone.append(row.name)
            s.delete(row)
        if org not in _SWEPT:
            _SWEPT.add(org)
            for engine_row in s.scalars(select(EngineRow).where(EngineRow.org_id == org)).all():
                known = set(s.scalars(select(DatabaseRow.id).where(DatabaseRow.engine_id == engine_row.id)).all())
                with suppress(Exception):
                    handle = open_engine(ctx, engine_row)
                    if handle.cluster is not None:
                        undone += branching.sweep(handle.branches_dir, known)
                    handle.admin.sweep_partials()
    return undone


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
