"""Workspaces: a project's running development environments, their snapshots and clones, and
the warm pool that makes creation an assignment (docs/workspaces.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare, optional_pattern

__all__ = [
    "CLONE",
    "CONNECT",
    "CREATE",
    "DELETE",
    "DELETE_SNAPSHOT",
    "LIST",
    "LOGS",
    "POOL",
    "RESTORE",
    "SHOW",
    "SNAPSHOT",
    "SNAPSHOTS",
    "START",
    "STOP",
    "TEMPLATES",
    "WORKSPACE_NAME_PATTERN",
    "RuntimeChoice",
]

# A workspace's name is also a host name (a container's, a pod's), a folder and the start of
# its database branches' names: lower-case letters, digits and '-', at most 30.
WORKSPACE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,29}$"
_NAME_HELP = "a-z, 0-9 and '-', starting with a letter, at most 30"
WS_VALUES: JsonDict = {"x-codeforge-values": "workspaces.list#name"}
SNAP_VALUES: JsonDict = {"x-codeforge-values": "workspaces.snapshots#name"}
TEMPLATE_VALUES: JsonDict = {"x-codeforge-values": "workspaces.templates#name"}


class RuntimeChoice(StrEnum):
    AUTO = "auto"  # the configured default (local unless CODEFORGE_WORKSPACES_RUNTIME says)
    LOCAL = "local"
    DOCKER = "docker"
    KUBERNETES = "kubernetes"


# -- inputs ---------------------------------------------------------------------------------------


class CreateInput(ProjectInput):
    """A workspace sees the project's variables (`env set`, secrets among them, kept and shown
    by the env capability's rules) and those of its devcontainer.json; it takes none here, so
    no secret travels in an operation's input, an editor's prompt or a log."""

    name: str = Field(pattern=WORKSPACE_NAME_PATTERN, description=f"Name of the new workspace: {_NAME_HELP}.")
    template: str = Field(
        default="",
        pattern=optional_pattern(r"^[a-z][a-z0-9-]{0,62}$"),
        description="Template to start from (`workspaces templates`); empty: the folder's devcontainer.json, "
        "else `empty`.",
        json_schema_extra=TEMPLATE_VALUES,
    )
    folder: str = Field(
        default="",
        max_length=4096,
        description="A folder on the platform's host (under its projects' folder) whose files the workspace "
        "starts with; its .devcontainer/devcontainer.json, when there is one, says how to run it.",
    )
    devcontainer: str = Field(
        default="",
        max_length=4096,
        description="Which devcontainer.json of the folder, relative to it, when it has several.",
    )
    runtime: RuntimeChoice = Field(default=RuntimeChoice.AUTO, description="local, docker or kubernetes.")
    cpus: float | None = Field(default=None, gt=0, le=1024, description="CPU limit (e.g. 1.5).")
    memory_mb: int | None = Field(default=None, ge=16, le=16_777_216, description="Memory limit in MiB.")
    disk_mb: int | None = Field(default=None, ge=1, le=1 << 40, description="Disk limit of its files in MiB.")


class NameInput(ProjectInput):
    name: str = Field(pattern=WORKSPACE_NAME_PATTERN, description="The workspace.", json_schema_extra=WS_VALUES)


class ListInput(ProjectInput):
    pass


class DeleteInput(NameInput):
    keep_databases: bool = Field(default=False, description="Keep the database branches made for it.")


class LogsInput(NameInput):
    service: str = Field(default="", max_length=63, description="One service's log (empty: all of them).")
    tail: int = Field(default=200, ge=1, le=10_000, description="How many lines, from the end.")


class SnapshotInput(NameInput):
    snapshot: str = Field(
        default="",
        pattern=optional_pattern(WORKSPACE_NAME_PATTERN),
        description="Name of the snapshot (empty: <workspace>-<n>).",
    )


class SnapshotsInput(ProjectInput):
    name: str = Field(
        default="",
        pattern=optional_pattern(WORKSPACE_NAME_PATTERN),
        description="Only this workspace's snapshots (empty: all of the project's).",
        json_schema_extra=WS_VALUES,
    )


class SnapshotNameInput(ProjectInput):
    snapshot: str = Field(pattern=WORKSPACE_NAME_PATTERN, description="The snapshot.", json_schema_extra=SNAP_VALUES)


class RestoreInput(SnapshotNameInput):
    name: str = Field(
        default="",
        pattern=optional_pattern(WORKSPACE_NAME_PATTERN),
        description="Workspace to restore into (empty: the one the snapshot was taken of).",
        json_schema_extra=WS_VALUES,
    )


class CloneInput(ProjectInput):
    source: str = Field(
        pattern=WORKSPACE_NAME_PATTERN,
        description="A workspace (cloned as it is now) or a snapshot.",
        json_schema_extra=WS_VALUES,
    )
    name: str = Field(pattern=WORKSPACE_NAME_PATTERN, description=f"Name of the clone: {_NAME_HELP}.")


class TemplatesInput(ProjectInput):
    pass


class PoolInput(ProjectInput):
    template: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}$", description="Template to keep ready.", json_schema_extra=TEMPLATE_VALUES
    )
    size: int = Field(ge=0, le=50, description="How many ready workspaces to keep (0: none).")
    runtime: RuntimeChoice = Field(default=RuntimeChoice.AUTO, description="Runtime of the pooled workspaces.")


# -- outputs --------------------------------------------------------------------------------------


class PortInfo(BaseModel):
    service: str
    inside: int = Field(description="The port the service listens on inside the workspace.")
    host: int = Field(description="The host port it is reached on.")
    url: str


class DatabaseLink(BaseModel):
    env_var: str = Field(description="The workspace's variable holding the URL.")
    database: str = Field(description="The database branch it points at.")


class LimitsInfo(BaseModel):
    cpus: float | None
    memory_mb: int | None
    disk_mb: int | None


class WorkspaceInfo(BaseModel):
    name: str
    project: str
    state: str = Field(description="creating, pooled, running, stopped, failed or deleting.")
    runtime: str
    template: str | None
    files: str = Field(description="How its files are stored: copy-on-write, or a full copy (slow).")
    isolation: str = Field(description="What fences its processes (bubblewrap, a container, a pod).")
    folder: str = Field(description="Its files' folder on the platform's host.")
    ports: list[PortInfo]
    databases: list[DatabaseLink]
    limits: LimitsInfo
    disk_bytes: int | None = Field(default=None, description="Size of its files (`show`).")
    bridge_url: str | None = Field(default=None, description="Where editors connect (`workspaces connect`).")
    from_pool: bool = Field(default=False, description="Handed out ready by the warm pool.")
    seconds: float | None = Field(default=None, description="How long the operation took.")
    notes: list[str] = Field(default_factory=list, description="What was asked for and could not be done here.")
    error: str = ""
    created_at: datetime
    created_by: str


class WorkspaceList(BaseModel):
    items: list[WorkspaceInfo]


class WorkspaceDeleted(BaseModel):
    name: str
    databases: list[str] = Field(description="Database branches deleted with it.")


class WorkspaceLogs(BaseModel):
    name: str
    lines: list[str]


class SnapshotInfo(BaseModel):
    name: str
    workspace: str | None = Field(description="The workspace it was taken of (None once that is deleted).")
    files: str
    env: bool
    databases: list[DatabaseLink]
    network: list[PortInfo]
    services: list[str]
    processes: str = Field(description='"checkpointed", or why the running processes were not.')
    missing: list[str] = Field(description="What could not be captured, each with its reason.")
    seconds: float | None = None
    created_at: datetime
    created_by: str


class SnapshotList(BaseModel):
    items: list[SnapshotInfo]


class SnapshotDeleted(BaseModel):
    name: str
    databases: list[str]


class TemplateInfo(BaseModel):
    name: str
    title: str
    services: list[str]
    usable: bool
    why_not: str = ""
    pool_size: int = 0
    pool_ready: int = 0


class TemplateList(BaseModel):
    items: list[TemplateInfo]


class Connection(BaseModel):
    name: str
    bridge_url: str = Field(description="The bridge's websocket URL: `codeforge connect URL` or the editor's switch.")
    bridge_id: str
    folder: str = Field(description="The workspace's folder as the bridge serves it.")


# -- operations -----------------------------------------------------------------------------------

CREATE = declare(
    Operation(
        name="workspaces.create",
        title="Create a workspace",
        input=CreateInput,
        output=WorkspaceInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{name}",
    )
)
LIST = declare(
    Operation(
        name="workspaces.list",
        title="List workspaces",
        input=ListInput,
        output=WorkspaceList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="workspaces.show",
        title="Show a workspace",
        input=NameInput,
        output=WorkspaceInfo,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
START = declare(
    Operation(
        name="workspaces.start",
        title="Start a workspace",
        input=NameInput,
        output=WorkspaceInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
STOP = declare(
    Operation(
        name="workspaces.stop",
        title="Stop a workspace",
        input=NameInput,
        output=WorkspaceInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
DELETE = declare(
    Operation(
        name="workspaces.delete",
        title="Delete a workspace",
        input=DeleteInput,
        output=WorkspaceDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
LOGS = declare(
    Operation(
        name="workspaces.logs",
        title="Show a workspace's logs",
        input=LogsInput,
        output=WorkspaceLogs,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
SNAPSHOT = declare(
    Operation(
        name="workspaces.snapshot",
        title="Snapshot a workspace",
        input=SnapshotInput,
        output=SnapshotInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{name}",
    )
)
SNAPSHOTS = declare(
    Operation(
        name="workspaces.snapshots",
        title="List snapshots",
        input=SnapshotsInput,
        output=SnapshotList,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
DELETE_SNAPSHOT = declare(
    Operation(
        name="workspaces.delete_snapshot",
        title="Delete a snapshot",
        input=SnapshotNameInput,
        output=SnapshotDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{snapshot}",
    )
)
RESTORE = declare(
    Operation(
        name="workspaces.restore",
        title="Restore a snapshot",
        input=RestoreInput,
        output=WorkspaceInfo,
        permission=Permission.EDIT,
        long_running=True,
        destructive=True,
        target="{project}/{snapshot}->{name}",
    )
)
CLONE = declare(
    Operation(
        name="workspaces.clone",
        title="Clone a workspace",
        input=CloneInput,
        output=WorkspaceInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{source}->{name}",
    )
)
TEMPLATES = declare(
    Operation(
        name="workspaces.templates",
        title="List workspace templates",
        input=TemplatesInput,
        output=TemplateList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
POOL = declare(
    Operation(
        name="workspaces.pool",
        title="Size a template's warm pool",
        input=PoolInput,
        output=TemplateInfo,
        permission=Permission.MANAGE,
        target="{project}/{template}",
    )
)
CONNECT = declare(
    Operation(
        name="workspaces.connect",
        title="Switch to a workspace",
        input=NameInput,
        output=Connection,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
