"""Migration tracking of a project's databases: SQL folders and Alembic projects."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from codeforge.catalog.base import Operation, Permission, declare
from codeforge.catalog.databases import DatabaseNameInput
from codeforge.catalog.engines import check_host_path

__all__ = ["APPLY", "STATUS", "MigrationFileInput", "MigrationStatusInfo", "MigrationsApplied", "MigrationsInput"]


class MigrationFileInput(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,200}\.sql$", description="File name, e.g. 001_users.sql.")
    content: str = Field(max_length=16 * 1024 * 1024)


class MigrationsInput(DatabaseNameInput):
    path: str = Field(
        default="",
        max_length=1000,
        description="Folder on the platform host, inside the project's folder or the platform's data dir "
        "(relative: to the project's folder): *.sql files or an Alembic project.",
    )
    files: list[MigrationFileInput] = Field(
        default_factory=list, description="The SQL files themselves (editors send these)."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_host_path(value)


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


STATUS = declare(
    Operation(
        name="migrations.status",
        title="Show pending migrations and drift",
        input=MigrationsInput,
        output=MigrationStatusInfo,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
APPLY = declare(
    Operation(
        name="migrations.apply",
        title="Apply pending migrations",
        input=MigrationsInput,
        output=MigrationsApplied,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{name}",
    )
)
