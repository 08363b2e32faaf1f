"""Databases: a project's provisioned databases and their branches, connection URLs and pooling."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare, optional_pattern
from codeforge.catalog.env import ENV_NAME_PATTERN
from codeforge.catalog.secrets import SECRET

__all__ = [
    "BRANCH",
    "CREATE",
    "DB_NAME_PATTERN",
    "DB_VALUES",
    "DELETE",
    "LIST",
    "POOL",
    "POOL_STATS",
    "RESET",
    "REVEAL",
    "TREE",
    "USE",
    "BranchInput",
    "BranchMethodChoice",
    "DatabaseCreateInput",
    "DatabaseInfo",
    "DatabaseListInput",
    "DatabaseNameInput",
    "PoolInput",
    "ResetInput",
    "UseInput",
]

DB_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"

_DB_NAME = Field(pattern=DB_NAME_PATTERN, description="Database name in the project: a-z, 0-9, _ and -.")
# An existing database: editors offer the names `databases.list` returns, and the operation
# on each database in their resource views.
DB_VALUES: JsonDict = {"x-codeforge-values": "databases.list#name"}
_DB_REF = Field(
    pattern=DB_NAME_PATTERN, description="A database (or branch) of the project.", json_schema_extra=DB_VALUES
)


class BranchMethodChoice(StrEnum):
    AUTO = "auto"  # copy-on-write where the filesystem allows, else the engine's copy
    COPY_ON_WRITE = "copy-on-write"
    TEMPLATE = "template"
    DUMP = "dump"


# -- databases ------------------------------------------------------------------------------------


class DatabaseCreateInput(ProjectInput):
    name: str = _DB_NAME
    engine: str = Field(
        default="", description="Engine name; empty: the default engine (a local cluster is made on first use)."
    )
    env_var: str = Field(
        default="DATABASE_URL",
        pattern=ENV_NAME_PATTERN,
        description="Project variable that receives the connection URL.",
    )


class DatabaseNameInput(ProjectInput):
    name: str = _DB_REF


class DatabaseDeleteInput(DatabaseNameInput):
    cascade: bool = Field(default=False, description="Also delete its branches.")


class DatabaseListInput(ProjectInput):
    pass


class ResetInput(DatabaseNameInput):
    force: bool = Field(default=False, description="TEMPLATE copy only: disconnect sessions on the parent.")


class UseInput(DatabaseNameInput):
    env_var: str = Field(
        default="DATABASE_URL",
        pattern=ENV_NAME_PATTERN,
        description="Project variable to point at the database (another database gives it up).",
    )


class BranchInput(ProjectInput):
    source: str = Field(
        pattern=DB_NAME_PATTERN, description="Database (or branch) to branch from.", json_schema_extra=DB_VALUES
    )
    name: str = Field(pattern=DB_NAME_PATTERN, description="Name of the new branch, e.g. the git branch.")
    method: BranchMethodChoice = Field(default=BranchMethodChoice.AUTO, description="How to copy.")
    force: bool = Field(default=False, description="TEMPLATE copy only: disconnect sessions on the source.")
    env_var: str = Field(
        default="",
        pattern=optional_pattern(ENV_NAME_PATTERN),
        description="Point this project variable at the branch (e.g. DATABASE_URL).",
    )


class DatabaseInfo(BaseModel):
    name: str
    project: str
    engine: str
    kind: str = Field(description="postgresql or mysql.")
    parent: str | None
    method: str | None = Field(
        description="How the branch was copied: btrfs-snapshot, reflink-copy, template-copy, dump-load."
    )
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
    advice: str | None = Field(
        default=None, description="A branch made by full copy: how to get copy-on-write branches instead."
    )
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
    # Secret: `databases reveal` gives them with their password (`databases pool` masks it).
    url: str = Field(description="Direct connection URL.", json_schema_extra=SECRET)
    pooled_url: str | None = Field(description="Connection URL through PgBouncer.", json_schema_extra=SECRET)
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


CREATE = declare(
    Operation(
        name="databases.create",
        title="Provision a database",
        input=DatabaseCreateInput,
        output=DatabaseInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
LIST = declare(
    Operation(
        name="databases.list",
        title="List databases and branches",
        input=DatabaseListInput,
        output=DatabaseList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
DELETE = declare(
    Operation(
        name="databases.delete",
        title="Delete a database or branch",
        input=DatabaseDeleteInput,
        output=DatabaseDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
BRANCH = declare(
    Operation(
        name="databases.branch",
        title="Branch a database",
        input=BranchInput,
        output=DatabaseInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{source}->{name}",
    )
)
USE = declare(
    Operation(
        name="databases.use",
        title="Point a project variable at a database",
        input=UseInput,
        output=DatabaseInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
RESET = declare(
    Operation(
        name="databases.reset",
        title="Reset a branch to its parent",
        input=ResetInput,
        output=DatabaseInfo,
        permission=Permission.EDIT,
        long_running=True,
        destructive=True,
        target="{project}/{name}",
    )
)
TREE = declare(
    Operation(
        name="databases.tree",
        title="Show the branch tree",
        input=DatabaseListInput,
        output=DatabaseTree,
        permission=Permission.VIEW,
        target="{project}",
    )
)
REVEAL = declare(
    Operation(
        name="databases.reveal",
        title="Show a database's connection URLs",
        input=DatabaseNameInput,
        output=DatabaseUrls,
        permission=Permission.REVEAL,
        target="{project}/{name}",
    )
)
POOL = declare(
    Operation(
        name="databases.pool",
        title="Pool a database's connections (PgBouncer)",
        input=PoolInput,
        output=DatabaseUrls,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
POOL_STATS = declare(
    Operation(
        name="databases.pool_stats",
        title="Show connection pool statistics",
        input=DatabaseListInput,
        output=PoolStats,
        permission=Permission.VIEW,
        target="{project}",
    )
)
