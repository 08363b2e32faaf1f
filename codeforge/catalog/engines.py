"""Engines: the PostgreSQL and MySQL servers of an organization that databases live on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationInfo, field_validator

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
    "check_host_path",
]

ENGINE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"


class EngineKind(StrEnum):
    LOCAL = "postgresql-local"  # a cluster CodeForge runs itself, in its data dir
    POSTGRESQL = "postgresql"  # any PostgreSQL server, given an admin URL
    MYSQL = "mysql"  # any MySQL or MariaDB server, given an admin URL


# Linux refuses a path component longer than this (ENAMETOOLONG).
_NAME_MAX = 255
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+pymysql")


def check_host_path(value: str) -> str:
    """A path on the platform host, refused before anything touches the filesystem: no NUL
    byte, no component longer than the kernel takes. Messages never repeat the value."""
    if "\x00" in value:
        raise ValueError("contains a NUL byte; give a plain folder path")
    if any(len(part.encode()) > _NAME_MAX for part in value.split("/")):
        raise ValueError(f"has a path component longer than {_NAME_MAX} bytes; shorten it")
    return value


def _check_admin_url(url: str, kind: EngineKind) -> None:
    """The URL's form, checked here so a bad one is a 4xx naming `admin_url` before any job
    exists. Messages name the part that is wrong and never contain the URL (it holds a password)."""
    if "\x00" in url:
        raise ValueError("contains a NUL byte")
    schemes = _MYSQL_SCHEMES if kind is EngineKind.MYSQL else _POSTGRES_SCHEMES
    example = (
        "mysql://USER:PASSWORD@HOST:PORT"
        if kind is EngineKind.MYSQL
        else "postgresql://USER:PASSWORD@HOST:PORT/postgres"
    )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535
        host = parts.hostname
    except ValueError as exc:
        what = "a malformed IPv6 host" if "IPv6" in str(exc) else "a port that is not a number from 1 to 65535"
        raise ValueError(f"has {what}; use {example}") from None
    if parts.scheme not in schemes:
        raise ValueError(f"must start with {schemes[0]}:// for kind {kind.value}; use {example}")
    if not host:
        raise ValueError(f"names no host; use {example}")
    if port == 0:
        raise ValueError(f"has port 0; use {example}")
    if any(c.isspace() for c in parts.netloc) or "/" in (parts.path or "/")[1:]:
        raise ValueError(f"is not of the form {example}")


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

    @field_validator("admin_url")
    @classmethod
    def _admin_url(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong: that error is reported
            return value
        if kind is EngineKind.LOCAL:
            if value:
                raise ValueError("a local cluster takes no admin URL; leave it empty, or use kind postgresql")
            return value
        if not value:
            raise ValueError("an external engine needs its admin URL (postgresql://… or mysql://…)")
        _check_admin_url(value, kind)
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: str, info: ValidationInfo) -> str:
        if value and info.data.get("kind", EngineKind.LOCAL) is not EngineKind.LOCAL:
            raise ValueError("only a local cluster (kind postgresql-local) takes a data_dir; leave it empty")
        if value and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return check_host_path(value)


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
    advice: str | None = Field(
        default=None, description="Where branches are full copies: why, and how to get copy-on-write ones."
    )
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
