"""The databases capability: engines, databases and their branches, backups and their
schedules, migrations, connection pools, the databases pane and `databases:` in codeforge.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeforge.platform.manifest import (
    Background,
    BackgroundService,
    Capability,
    CrashCleanup,
    ProjectSection,
    Runtime,
)

if TYPE_CHECKING:
    from codeforge.platform.settings import Settings

__all__ = ["CAPABILITY"]


def _backup_scheduler(rt: Runtime) -> BackgroundService:
    # Scheduled backups run in every replica; a claim in the database lets one take each.
    from codeforge.platform.databases.backup_service import BackupScheduler

    return BackupScheduler(rt.db, rt.settings, rt.cipher)


def _supervisor(rt: Runtime) -> BackgroundService:
    # Keeps the platform's PostgreSQL servers and PgBouncer running, adopts those a previous
    # platform process started, and sweeps what killed operations left (see supervisor.py).
    from codeforge.platform.databases.supervisor import DatabaseSupervisor

    return DatabaseSupervisor(rt.db, rt.settings, rt.cipher)


def _backup_leftovers(rt: Runtime) -> list[str]:
    # Files of backups whose writer died (a killed platform, or a job killed on another
    # replica): a minute late costs nothing, and a pass walks the whole backup root.
    from codeforge.platform.databases.backups import BackupStore
    from codeforge.platform.databases.runtime import databases_root

    return [p.name for p in BackupStore(databases_root(rt.settings) / "backups").sweep()]


def _copy_on_write_advice(settings: Settings) -> str | None:
    # On ext4 branches are full copies: say how to get copy-on-write ones where a person looks.
    from codeforge.platform.databases.volume import copy_on_write_advice

    return copy_on_write_advice(settings.data_dir)


def _section() -> ProjectSection:
    # ProjectFile declares `databases:` itself (model: codeforge.projectfile.databases).
    from codeforge.projectfile.model import DatabaseField, DatabaseName

    return ProjectSection(
        "databases",
        dict[DatabaseName, DatabaseField],
        "Databases the project uses, by name: `main: {engine, env, pooled, migrations, backups}`.",
    )


CAPABILITY = Capability(
    name="databases",
    title="Databases",
    catalog=(
        "codeforge.catalog.databases",
        "codeforge.catalog.engines",
        "codeforge.catalog.backups",
        "codeforge.catalog.migrations",
    ),
    models=("models",),
    services=("service", "pool_service", "backup_service", "migration_service"),
    panes=("pane",),
    background=(Background("backup scheduler", _backup_scheduler), Background("supervisor", _supervisor)),
    cleanup=(CrashCleanup("backup leftovers", _backup_leftovers, every=60.0),),
    project_section=_section(),
    editor=("codeforge.lsp.capabilities.databases",),
    notices=(_copy_on_write_advice,),
)
