"""A workspace's databases (docs/workspaces.md, "Snapshots and clone"): which of the project's
databases its environment points at, and branches of them made and removed through the
databases capability's own operations (#3's copy-on-write branches), each in a unit of work
of its own, committed at once, so the journal can undo what a killed process left."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog import Role
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases import runtime as db_runtime
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.settings import Settings

__all__ = ["branch_name", "drop_branch", "make_branch", "used_databases"]

_MAX = 40  # databases' names: ^[a-z][a-z0-9_-]{0,39}$


@contextmanager
def _unit(ctx: Context) -> Iterator[Context]:
    """A context like the operation's, on a session of its own committed when the block ends."""
    session = Session(bind=ctx.session.get_bind(), expire_on_commit=False)
    try:
        with session.begin():
            project = session.get(Project, ctx.require_project().id)
            yield Context(session=session, actor=ctx.actor, settings=ctx.settings, cipher=ctx.cipher, project=project)
    finally:
        session.close()


def _url(session: Session, cipher: Cipher, row: DatabaseRow) -> str:
    engine = session.get(EngineRow, row.engine_id)
    kind = "mysql" if engine is not None and engine.kind == "mysql" else "postgresql"
    return Connection(kind, row.host, row.port, row.physical, row.role, cipher.decrypt(row.password_encrypted)).url


def used_databases(ctx: Context, env: dict[str, str]) -> dict[str, str]:
    """{variable: database} for each variable of `env` holding a ready database's URL."""
    rows = ctx.session.scalars(
        select(DatabaseRow).where(DatabaseRow.project_id == ctx.require_project().id, DatabaseRow.state == "ready")
    )
    by_url = {_url(ctx.session, ctx.cipher, r): r.name for r in rows}
    return {var: by_url[value] for var, value in sorted(env.items()) if value in by_url}


def branch_name(prefix: str, database: str, taken: set[str]) -> str:
    """`<prefix>-<database>` within the databases' name limit, unique in `taken`."""
    name = f"{prefix}-{database}"
    if len(name) > _MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{prefix[:20]}-{database[: _MAX - 28]}-{digest}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base[: _MAX - 4]}-{n}", n + 1
    return name


def taken_names(ctx: Context) -> set[str]:
    return set(ctx.session.scalars(select(DatabaseRow.name).where(DatabaseRow.project_id == ctx.require_project().id)))


def make_branch(ctx: Context, source: str, name: str) -> str:
    """Branch database `source` as `name` (copy-on-write where the volume allows); its URL."""
    from codeforge.platform.databases.service import branch_database

    with _unit(ctx) as sub:
        project = sub.require_project()
        branch_database(sub, catalog.databases.BranchInput(project=project.slug, source=source, name=name))
        return _url(sub.session, sub.cipher, db_runtime.get_database(sub, name))


def drop_branch(
    bind: Engine | SAConnection, settings: Settings, cipher: Cipher, actor: Actor | None, project_id: str, name: str
) -> None:
    """Delete branch `name` (and any branch of it); gone already is fine. Without an actor
    (the crash cleanup) the platform acts as itself."""
    from codeforge.platform.databases.service import delete_database

    session = Session(bind=bind, expire_on_commit=False)
    try:
        with session.begin():
            project = session.get(Project, project_id)
            if project is None:
                return  # the project went, and its databases with it
            exists = session.scalar(
                select(DatabaseRow.id).where(DatabaseRow.project_id == project_id, DatabaseRow.name == name)
            )
            if exists is None:
                return
            who = actor or Actor("", db_runtime.SYSTEM_ACTOR, project.org_id, "", Role.ADMIN, source="workspaces")
            sub = Context(session=session, actor=who, settings=settings, cipher=cipher, project=project)
            delete_database(sub, catalog.databases.DatabaseDeleteInput(project=project.slug, name=name, cascade=True))
    finally:
        session.close()
