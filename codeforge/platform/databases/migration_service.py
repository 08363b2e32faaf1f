"""Migration tracking operations: which migrations a database has, and applying the rest."""

from __future__ import annotations

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, FieldProblem, PermissionDenied
from codeforge.platform.context import Context
from codeforge.platform.databases import migrations
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.paths import confine, migration_roots
from codeforge.platform.registry import implements

__all__: list[str] = []


def _target(ctx: Context, data: catalog.migrations.MigrationsInput) -> tuple[Connection, migrations.MigrationSet]:
    if bool(data.path) == bool(data.files):
        raise BadInput(
            "give the migrations either as `path` or as `files`",
            errors=[
                FieldProblem(
                    "path",
                    "exactly one of path and files is needed",
                    "send the files (editors do), or a folder path on the platform host",
                )
            ],
        )
    if data.path and not ctx.actor.can(Permission.MANAGE):
        # A folder on the platform host is read there, and an Alembic project's env.py runs
        # there: that is the platform operator's business, not any developer's.
        raise PermissionDenied(
            "reading a migration folder on the platform host needs the admin role",
            fix="send the migration files instead (`files`), as editors do",
        )
    folder = (
        confine(data.path, migration_roots(ctx.settings), field="path", base=ctx.settings.projects_root)
        if data.path
        else None
    )
    mset = (
        migrations.load_folder(folder)
        if folder is not None
        else migrations.load_files([(f.name, f.content) for f in data.files])
    )
    db = rt.get_database(ctx, data.name)
    handle = rt.database_engine(ctx, db)
    rt.instance_cluster(handle, db)  # a branch instance stopped by a reboot comes back up
    return rt.connection(ctx, handle, db), mset


@implements(catalog.migrations.STATUS)
def migrations_status(ctx: Context, data: catalog.migrations.MigrationsInput) -> catalog.migrations.MigrationStatusInfo:
    conn, mset = _target(ctx, data)
    st = migrations.status(conn, mset)
    return catalog.migrations.MigrationStatusInfo(
        database=data.name,
        kind=st.kind,
        pending=st.pending,
        drifted=st.drifted,
        missing=st.missing,
        applied=[
            catalog.migrations.AppliedMigration(name=a.name, checksum=a.checksum, applied_at=a.applied_at)
            for a in st.applied
        ],
    )


@implements(catalog.migrations.APPLY)
def migrations_apply(ctx: Context, data: catalog.migrations.MigrationsInput) -> catalog.migrations.MigrationsApplied:
    conn, mset = _target(ctx, data)

    def progress(fraction: float, message: str) -> None:
        if ctx.job:
            ctx.job.check_cancelled()  # between migrations: each one is whole or not at all
            ctx.job.progress(fraction, message)

    applied = migrations.apply(conn, mset, progress)
    return catalog.migrations.MigrationsApplied(
        database=data.name, applied=applied, pending=migrations.status(conn, mset).pending
    )
