"""Databases: engine servers, provisioned databases and their branches, backups, pooling
and migration tracking.

Capabilities: `engines` (the PostgreSQL/MySQL servers of an organization), `databases`
(a project's databases and branches), `backups`, `migrations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Input, Operation, Permission, ProjectInput, declare
from codeforge.catalog.env import ENV_NAME_PATTERN

__all__ = [
    "BACKUP_CREATE",
    "BACKUP_DELETE",
    "BACKUP_LIST",
    "BACKUP_RESTORE",
    "BACKUP_SCHEDULE",
    "BACKUP_SCHEDULES",
    "BACKUP_UNSCHEDULE",
    "BACKUP_VERIFY",
    "BRANCH",
    "CREATE",
    "DB_NAME_PATTERN",
    "DELETE",
    "ENGINE_LIST",
    "ENGINE_NAME_PATTERN",
    "ENGINE_REGISTER",
    "ENGINE_REMOVE",
    "LIST",
    "MIGRATIONS_APPLY",
    "MIGRATIONS_STATUS",
    "POOL",
    "POOL_STATS",
    "RESET",
    "REVEAL",
    "TREE",
    "USE",
    "BackupInfo",
    "BackupPolicy",
    "BranchInput",
    "BranchMethodChoice",
    "DatabaseCreateInput",
    "DatabaseEntry",
    "DatabaseInfo",
    "DatabaseNameInput",
    "DatabasePlan",
    "EngineInfo",
    "EngineKind",
    "EngineRegisterInput",
    "MigrationFileInput",
    "MigrationStatusInfo",
    "ResetInput",
    "UseInput",
    "branch_name_for",
    "migration_notes",
    "plan_databases",
]

DB_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
ENGINE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"

def _optional(pattern: str) -> str:
    """The same pattern, or empty."""
    return "^(?:" + pattern[1:-1] + ")?$"


_DB_NAME = Field(pattern=DB_NAME_PATTERN, description="Database name in the project: a-z, 0-9, _ and -.")
# An existing database: editors offer the names `databases.list` returns, and the operation
# on each database in their resource views.
_DB_VALUES: JsonDict = {"x-codeforge-values": "databases.list#name"}
_DB_REF = Field(pattern=DB_NAME_PATTERN, description="A database (or branch) of the project.",
                json_schema_extra=_DB_VALUES)
_ENV = Field(pattern=ENV_NAME_PATTERN, description="Environment variable that holds the connection URL.")


class EngineKind(StrEnum):
    LOCAL = "postgresql-local"  # a cluster CodeForge runs itself, in its data dir
    POSTGRESQL = "postgresql"  # any PostgreSQL server, given an admin URL
    MYSQL = "mysql"  # any MySQL or MariaDB server, given an admin URL


class BranchMethodChoice(StrEnum):
    AUTO = "auto"  # copy-on-write where the filesystem allows, else the engine's copy
    COPY_ON_WRITE = "copy-on-write"
    TEMPLATE = "template"
    DUMP = "dump"


# -- engines --------------------------------------------------------------------------------------


class EngineRegisterInput(Input):
    name: str = Field(pattern=ENGINE_NAME_PATTERN, description="Name of the engine in the organization.")
    kind: EngineKind = Field(default=EngineKind.LOCAL, description="Which kind of server.")
    admin_url: str = Field(
        default="",
        max_length=2000,
        description="Admin URL (postgresql://… or mysql://…) for an external server; empty for a local cluster.",
        json_schema_extra={"format": "password"},
    )
    data_dir: str = Field(
        default="",
        max_length=1000,
        description="Local cluster only: where its data lives (a btrfs or XFS path gives copy-on-write branches); "
        "default: the platform's data dir.",
    )
    default: bool = Field(default=False, description="Use it when `databases create` names no engine.")


class EngineNameInput(Input):
    name: str = Field(pattern=ENGINE_NAME_PATTERN, description="Engine name.")


class EngineListInput(Input):
    pass


class EngineInfo(BaseModel):
    name: str
    kind: EngineKind
    host: str
    port: int
    version: str
    default: bool
    running: bool
    copy_on_write: str | None = Field(description="How branches are copied cheaply here, if at all.")
    databases: int
    created_at: datetime


class EngineList(BaseModel):
    items: list[EngineInfo]


class EngineRemoved(BaseModel):
    name: str
    removed: bool


# -- databases ------------------------------------------------------------------------------------


class DatabaseCreateInput(ProjectInput):
    name: str = _DB_NAME
    engine: str = Field(default="", description="Engine name; empty: the default engine (a local cluster is "
                                                "made on first use).")
    env_var: str = Field(default="DATABASE_URL", pattern=ENV_NAME_PATTERN,
                         description="Project variable that receives the connection URL.")


class DatabaseNameInput(ProjectInput):
    name: str = _DB_REF


class DatabaseDeleteInput(DatabaseNameInput):
    cascade: bool = Field(default=False, description="Also delete its branches.")


class DatabaseListInput(ProjectInput):
    pass


class ResetInput(DatabaseNameInput):
    force: bool = Field(default=False, description="TEMPLATE copy only: disconnect sessions on the parent.")


class UseInput(DatabaseNameInput):
    env_var: str = Field(default="DATABASE_URL", pattern=ENV_NAME_PATTERN,
                         description="Project variable to point at the database (another database gives it up).")


class BranchInput(ProjectInput):
    source: str = Field(pattern=DB_NAME_PATTERN, description="Database (or branch) to branch from.",
                        json_schema_extra=_DB_VALUES)
    name: str = Field(pattern=DB_NAME_PATTERN, description="Name of the new branch, e.g. the git branch.")
    method: BranchMethodChoice = Field(default=BranchMethodChoice.AUTO, description="How to copy.")
    force: bool = Field(default=False, description="TEMPLATE copy only: disconnect sessions on the source.")
    env_var: str = Field(default="", pattern=_optional(ENV_NAME_PATTERN),
                         description="Point this project variable at the branch (e.g. DATABASE_URL).")


class DatabaseInfo(BaseModel):
    name: str
    project: str
    engine: str
    kind: str = Field(description="postgresql or mysql.")
    parent: str | None
    method: str | None = Field(description="How the branch was copied: btrfs-snapshot, reflink-copy, "
                                           "template-copy, dump-load.")
    state: str
    host: str
    port: int
    database: str
    user: str
    url: str = Field(description="Connection URL with the password hidden; `databases reveal` shows it.")
    env_var: str | None
    pooled: bool
    size_bytes: int | None
    seconds: float | None = Field(default=None, description="How long the copy took (branch, reset).")
    created_at: datetime
    created_by: str


class DatabaseList(BaseModel):
    items: list[DatabaseInfo]


class DatabaseDeleted(BaseModel):
    deleted: list[str]
    env_var: str | None = Field(description="The variable removed or pointed back at the parent.")


class TreeNode(BaseModel):
    name: str
    method: str | None
    port: int
    size_bytes: int | None
    children: list[TreeNode]


class DatabaseTree(BaseModel):
    roots: list[TreeNode]
    text: str = Field(description="The tree drawn as text, for terminal editors.")


class DatabaseUrls(BaseModel):
    name: str
    url: str
    pooled_url: str | None
    pooling: str = Field(description="Why there is no pooled URL, when there is none.")


class PoolInput(DatabaseNameInput):
    enabled: bool = Field(default=True, description="Route through PgBouncer (false: stop routing).")


class PoolStat(BaseModel):
    database: str
    user: str
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    pool_mode: str
    total_queries: int
    total_transactions: int
    avg_query_us: int


class PoolStats(BaseModel):
    available: bool
    running: bool
    message: str
    items: list[PoolStat]


# -- backups --------------------------------------------------------------------------------------


class BackupCreateInput(DatabaseNameInput):
    pass


class BackupListInput(ProjectInput):
    name: str = Field(default="", pattern=_optional(DB_NAME_PATTERN), description="Only this database's.",
                      json_schema_extra=_DB_VALUES)


class BackupIdInput(ProjectInput):
    id: str = Field(pattern=r"^[0-9a-f]{12}$", description="Backup id.")


class BackupRestoreInput(BackupIdInput):
    target: str = Field(default="", pattern=_optional(DB_NAME_PATTERN),
                        description="New database to restore into (default: <database>-restored-<id>).")
    in_place: bool = Field(default=False, description="Replace the backed-up database's contents.")
    confirm: str = Field(default="", description="For in_place: type the database's name to confirm.")


class BackupInfo(BaseModel):
    id: str
    database: str
    engine: str
    size_bytes: int
    sha256: str
    tables: int
    seconds: float
    created_at: datetime
    verified_at: datetime | None
    verified_ok: bool | None


class BackupList(BaseModel):
    items: list[BackupInfo]


class BackupVerifyResult(BaseModel):
    id: str
    ok: bool
    checksum_ok: bool
    tables_expected: int
    tables_restored: int
    seconds: float
    message: str


class BackupDeleted(BaseModel):
    id: str
    deleted: bool


class ScheduleInput(DatabaseNameInput):
    cron: str = Field(min_length=9, max_length=100, description="Cron expression, e.g. '0 3 * * *' (UTC).")
    keep_last: int = Field(default=7, ge=1, le=1000, description="Keep this many newest backups.")
    max_age_days: int = Field(default=30, ge=1, le=3650, description="Delete backups older than this.")


class ScheduleInfo(BaseModel):
    database: str
    cron: str
    keep_last: int
    max_age_days: int
    next_run_at: datetime
    last_run_at: datetime | None
    last_error: str | None


class ScheduleList(BaseModel):
    items: list[ScheduleInfo]


class ScheduleRemoved(BaseModel):
    database: str
    removed: bool


# -- migrations -----------------------------------------------------------------------------------


class MigrationFileInput(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,200}\.sql$", description="File name, e.g. 001_users.sql.")
    content: str = Field(max_length=16 * 1024 * 1024)


class MigrationsInput(DatabaseNameInput):
    path: str = Field(default="", max_length=1000,
                      description="Folder on the platform host: *.sql files or an Alembic project.")
    files: list[MigrationFileInput] = Field(default_factory=list,
                                            description="The SQL files themselves (editors send these).")


class AppliedMigration(BaseModel):
    name: str
    checksum: str
    applied_at: datetime


class MigrationStatusInfo(BaseModel):
    database: str
    kind: str
    applied: list[AppliedMigration]
    pending: list[str]
    drifted: list[str]
    missing: list[str]


class MigrationsApplied(BaseModel):
    database: str
    applied: list[str]
    pending: list[str]


def _op(name: str, title: str, i: type[BaseModel], o: type[BaseModel], perm: Permission, *,
        long: bool = False, destructive: bool = False, target: str = "") -> Operation[BaseModel, BaseModel]:
    return declare(Operation(name, title, i, o, perm, long_running=long, destructive=destructive, target=target))


ENGINE_REGISTER = _op("engines.register", "Register a database engine", EngineRegisterInput, EngineInfo,
                      Permission.MANAGE, long=True, target="{name}")
ENGINE_LIST = _op("engines.list", "List database engines", EngineListInput, EngineList, Permission.VIEW)
ENGINE_REMOVE = _op("engines.remove", "Remove a database engine", EngineNameInput, EngineRemoved,
                    Permission.MANAGE, destructive=True, target="{name}")

CREATE = _op("databases.create", "Provision a database", DatabaseCreateInput, DatabaseInfo, Permission.EDIT,
             target="{project}/{name}")
LIST = _op("databases.list", "List databases and branches", DatabaseListInput, DatabaseList, Permission.VIEW,
           target="{project}")
DELETE = _op("databases.delete", "Delete a database or branch", DatabaseDeleteInput, DatabaseDeleted,
             Permission.EDIT, destructive=True, target="{project}/{name}")
BRANCH = _op("databases.branch", "Branch a database", BranchInput, DatabaseInfo, Permission.EDIT, long=True,
             target="{project}/{source}->{name}")
USE = _op("databases.use", "Point a project variable at a database", UseInput, DatabaseInfo, Permission.EDIT,
          target="{project}/{name}")
RESET = _op("databases.reset", "Reset a branch to its parent", ResetInput, DatabaseInfo, Permission.EDIT,
            long=True, destructive=True, target="{project}/{name}")
TREE = _op("databases.tree", "Show the branch tree", DatabaseListInput, DatabaseTree, Permission.VIEW,
           target="{project}")
REVEAL = _op("databases.reveal", "Show a database's connection URLs", DatabaseNameInput, DatabaseUrls,
             Permission.REVEAL, target="{project}/{name}")
POOL = _op("databases.pool", "Pool a database's connections (PgBouncer)", PoolInput, DatabaseUrls,
           Permission.EDIT, target="{project}/{name}")
POOL_STATS = _op("databases.pool_stats", "Show connection pool statistics", DatabaseListInput, PoolStats,
                 Permission.VIEW, target="{project}")

BACKUP_CREATE = _op("backups.create", "Back up a database", BackupCreateInput, BackupInfo, Permission.EDIT,
                    long=True, target="{project}/{name}")
BACKUP_LIST = _op("backups.list", "List backups", BackupListInput, BackupList, Permission.VIEW, target="{project}")
BACKUP_RESTORE = _op("backups.restore", "Restore a backup", BackupRestoreInput, DatabaseInfo, Permission.EDIT,
                     long=True, destructive=True, target="{project}/{id}")
BACKUP_VERIFY = _op("backups.verify", "Verify a backup by restoring it", BackupIdInput, BackupVerifyResult,
                    Permission.EDIT, long=True, target="{project}/{id}")
BACKUP_DELETE = _op("backups.delete", "Delete a backup", BackupIdInput, BackupDeleted, Permission.EDIT,
                    destructive=True, target="{project}/{id}")
BACKUP_SCHEDULE = _op("backups.schedule", "Schedule backups", ScheduleInput, ScheduleInfo, Permission.EDIT,
                      target="{project}/{name}")
BACKUP_SCHEDULES = _op("backups.schedules", "List backup schedules", DatabaseListInput, ScheduleList,
                       Permission.VIEW, target="{project}")
BACKUP_UNSCHEDULE = _op("backups.unschedule", "Stop scheduled backups", DatabaseNameInput, ScheduleRemoved,
                        Permission.EDIT, destructive=True, target="{project}/{name}")

MIGRATIONS_STATUS = _op("migrations.status", "Show pending migrations and drift", MigrationsInput,
                        MigrationStatusInfo, Permission.VIEW, target="{project}/{name}")
MIGRATIONS_APPLY = _op("migrations.apply", "Apply pending migrations", MigrationsInput, MigrationsApplied,
                       Permission.EDIT, long=True, target="{project}/{name}")


# -- codeforge.yaml `databases:` section and editor helpers -------------------------------------
# The project file's `databases:` key maps database names to `DatabaseEntry`; the language
# server turns `plan_databases` into code actions and `migration_notes` into diagnostics.


class BackupPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Backup schedule")

    cron: str = Field(min_length=9, max_length=100, description="When, as a cron expression in UTC, e.g. '0 3 * * *'.")
    keep_last: int = Field(default=7, ge=1, le=1000, description="Keep this many newest backups.")
    max_age_days: int = Field(default=30, ge=1, le=3650, description="Delete backups older than this.")


class DatabaseEntry(BaseModel):
    """One database a project wants (codeforge.yaml `databases: {name: …}`)."""

    model_config = ConfigDict(extra="forbid", title="Database")

    engine: str = Field(default="", description="Engine name (`codeforge engines list`); empty: the default.",
                        json_schema_extra={"x-codeforge-values": "engines.list#name"})
    env: str = Field(default="DATABASE_URL", pattern=ENV_NAME_PATTERN,
                     description="Project variable that receives the connection URL.")
    pooled: bool = Field(default=False, description="Route connections through PgBouncer (PostgreSQL).")
    migrations: str = Field(default="", description="Folder of *.sql migrations or an Alembic project, "
                                                    "relative to the project root.")
    backups: BackupPolicy | None = Field(default=None, description="Scheduled backups and their retention.")


@dataclass
class DatabasePlan:
    """What carrying out the `databases:` section takes, against `databases.list`."""

    to_create: list[DatabaseCreateInput] = field(default_factory=list)
    to_pool: list[PoolInput] = field(default_factory=list)
    to_schedule: list[ScheduleInput] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Declared on another engine than the one it lives on: not moved silently.
    conflicts: list[str] = field(default_factory=list)


def plan_databases(project: str, declared: dict[str, DatabaseEntry], current: list[DatabaseInfo],
                   schedules: list[ScheduleInfo] | None = None) -> DatabasePlan:
    have = {d.name: d for d in current}
    scheduled = {s.database: s for s in schedules or []}
    plan = DatabasePlan()
    for name, entry in declared.items():
        db = have.get(name)
        changed = False
        if db is None:
            plan.to_create.append(DatabaseCreateInput(project=project, name=name, engine=entry.engine,
                                                      env_var=entry.env))
            changed = True
        elif entry.engine and db.engine != entry.engine:
            plan.conflicts.append(name)
            continue
        if entry.pooled and (db is None or not db.pooled):
            plan.to_pool.append(PoolInput(project=project, name=name))
            changed = True
        want = entry.backups
        got = scheduled.get(name)
        if want is not None and (got is None or (got.cron, got.keep_last, got.max_age_days)
                                 != (want.cron, want.keep_last, want.max_age_days)):
            plan.to_schedule.append(ScheduleInput(project=project, name=name, cron=want.cron,
                                                  keep_last=want.keep_last, max_age_days=want.max_age_days))
            changed = True
        if not changed:
            plan.unchanged.append(name)
    return plan


def branch_name_for(git_branch: str) -> str:
    """A database branch name for a git branch: `feature/Login-2` -> `feature-login-2`."""
    name = re.sub(r"[^a-z0-9_-]+", "-", git_branch.strip().lower()).strip("-_")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-_")
    return name or "branch"


def migration_notes(status: MigrationStatusInfo) -> dict[str, tuple[str, str]]:
    """Per migration file name: (severity, message) for the editor's diagnostics on it."""
    notes: dict[str, tuple[str, str]] = {}
    for name in status.pending:
        notes[name] = ("information", f"pending: not applied to database `{status.database}` yet "
                                      "(code action: Apply migrations)")
    for name in status.drifted:
        notes[name] = ("warning", f"changed since it was applied to `{status.database}`: restore it and "
                                  "put the change in a new migration")
    return notes
