"""Backups of a project's databases: on demand and on a schedule, verified by restoring."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare, optional_pattern
from codeforge.catalog.databases import DB_NAME_PATTERN, DB_VALUES, DatabaseInfo, DatabaseListInput, DatabaseNameInput

__all__ = [
    "CREATE",
    "DELETE",
    "LIST",
    "RESTORE",
    "SCHEDULE",
    "SCHEDULES",
    "UNSCHEDULE",
    "VERIFY",
    "BackupInfo",
    "ScheduleInfo",
    "ScheduleInput",
]


class BackupCreateInput(DatabaseNameInput):
    pass


class BackupListInput(ProjectInput):
    name: str = Field(
        default="",
        pattern=optional_pattern(DB_NAME_PATTERN),
        description="Only this database's.",
        json_schema_extra=DB_VALUES,
    )


class BackupIdInput(ProjectInput):
    id: str = Field(pattern=r"^[0-9a-f]{12}$", description="Backup id.")


class BackupRestoreInput(BackupIdInput):
    target: str = Field(
        default="",
        pattern=optional_pattern(DB_NAME_PATTERN),
        description="New database to restore into (default: <database>-restored-<id>).",
    )
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


CREATE = declare(
    Operation(
        name="backups.create",
        title="Back up a database",
        input=BackupCreateInput,
        output=BackupInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{name}",
    )
)
LIST = declare(
    Operation(
        name="backups.list",
        title="List backups",
        input=BackupListInput,
        output=BackupList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
RESTORE = declare(
    Operation(
        name="backups.restore",
        title="Restore a backup",
        input=BackupRestoreInput,
        output=DatabaseInfo,
        permission=Permission.EDIT,
        long_running=True,
        destructive=True,
        target="{project}/{id}",
    )
)
VERIFY = declare(
    Operation(
        name="backups.verify",
        title="Verify a backup by restoring it",
        input=BackupIdInput,
        output=BackupVerifyResult,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{id}",
    )
)
DELETE = declare(
    Operation(
        name="backups.delete",
        title="Delete a backup",
        input=BackupIdInput,
        output=BackupDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{id}",
    )
)
SCHEDULE = declare(
    Operation(
        name="backups.schedule",
        title="Schedule backups",
        input=ScheduleInput,
        output=ScheduleInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
SCHEDULES = declare(
    Operation(
        name="backups.schedules",
        title="List backup schedules",
        input=DatabaseListInput,
        output=ScheduleList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
UNSCHEDULE = declare(
    Operation(
        name="backups.unschedule",
        title="Stop scheduled backups",
        input=DatabaseNameInput,
        output=ScheduleRemoved,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
