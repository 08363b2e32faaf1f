"""The `databases:` section of codeforge.yaml: what a project declares, planned against what exists.

The language server turns `plan_databases` into code actions and `migration_notes` into
diagnostics; the model's `DatabaseEntry` is the section's schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from codeforge.catalog.backups import ScheduleInfo, ScheduleInput
from codeforge.catalog.databases import DatabaseCreateInput, DatabaseInfo, PoolInput
from codeforge.catalog.env import ENV_NAME_PATTERN
from codeforge.catalog.migrations import MigrationStatusInfo

__all__ = ["BackupPolicy", "DatabaseEntry", "DatabasePlan", "branch_name_for", "migration_notes", "plan_databases"]


class BackupPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Backup schedule")

    cron: str = Field(min_length=9, max_length=100, description="When, as a cron expression in UTC, e.g. '0 3 * * *'.")
    keep_last: int = Field(default=7, ge=1, le=1000, description="Keep this many newest backups.")
    max_age_days: int = Field(default=30, ge=1, le=3650, description="Delete backups older than this.")


class DatabaseEntry(BaseModel):
    """One database a project wants (codeforge.yaml `databases: {name: …}`)."""

    model_config = ConfigDict(extra="forbid", title="Database")

    engine: str = Field(
        default="",
        description="Engine name (`codeforge engines list`); empty: the default.",
        json_schema_extra={"x-codeforge-values": "engines.list#name"},
    )
    env: str = Field(
        default="DATABASE_URL",
        pattern=ENV_NAME_PATTERN,
        description="Project variable that receives the connection URL.",
    )
    pooled: bool = Field(default=False, description="Route connections through PgBouncer (PostgreSQL).")
    migrations: str = Field(
        default="", description="Folder of *.sql migrations or an Alembic project, relative to the project root."
    )
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


def plan_databases(
    project: str,
    declared: dict[str, DatabaseEntry],
    current: list[DatabaseInfo],
    schedules: list[ScheduleInfo] | None = None,
) -> DatabasePlan:
    have = {d.name: d for d in current}
    scheduled = {s.database: s for s in schedules or []}
    plan = DatabasePlan()
    for name, entry in declared.items():
        db = have.get(name)
        changed = False
        if db is None:
            plan.to_create.append(
                DatabaseCreateInput(project=project, name=name, engine=entry.engine, env_var=entry.env)
            )
            changed = True
        elif entry.engine and db.engine != entry.engine:
            plan.conflicts.append(name)
            continue
        if entry.pooled and (db is None or not db.pooled):
            plan.to_pool.append(PoolInput(project=project, name=name))
            changed = True
        want = entry.backups
        got = scheduled.get(name)
        if want is not None and (
            got is None or (got.cron, got.keep_last, got.max_age_days) != (want.cron, want.keep_last, want.max_age_days)
        ):
            plan.to_schedule.append(
                ScheduleInput(
                    project=project, name=name, cron=want.cron, keep_last=want.keep_last, max_age_days=want.max_age_days
                )
            )
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
        notes[name] = (
            "information",
            f"pending: not applied to database `{status.database}` yet (code action: Apply migrations)",
        )
    for name in status.drifted:
        notes[name] = (
            "warning",
            f"changed since it was applied to `{status.database}`: restore it and put the change in a new migration",
        )
    return notes
