"""Engines: the PostgreSQL and MySQL servers of an organization that databases live on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, declare

__all__ = [
    "ENGINE_NAME_PATTERN",
    "LIST",
    "REGISTER",
    "REMOVE",
    "EngineInfo",
    "EngineKind",
    "EngineList",
    "EngineRegisterInput",
]

ENGINE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"


class EngineKind(StrEnum):
    LOCAL = "postgresql-local"  # a cluster CodeForge runs itself, in its data dir
    POSTGRESQL = "postgresql"  # any PostgreSQL server, given an admin URL
    MYSQL = "mysql"  # any MySQL or MariaDB server, given an admin URL


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


REGISTER = declare(
    Operation(
        name="engines.register",
        title="Register a database engine",
        input=EngineRegisterInput,
        output=EngineInfo,
        permission=Permission.MANAGE,
        long_running=True,
        target="{name}",
    )
)
LIST = declare(
    Operation(
        name="engines.list",
        title="List database engines",
        input=EngineListInput,
        output=EngineList,
        permission=Permission.VIEW,
    )
)
REMOVE = declare(
    Operation(
        name="engines.remove",
        title="Remove a database engine",
        input=EngineNameInput,
        output=EngineRemoved,
        permission=Permission.MANAGE,
        destructive=True,
        target="{name}",
    )
)
