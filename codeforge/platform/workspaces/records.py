"""The records every part of workspaces shares (docs/workspaces.md): what a workspace is made
from (`WorkspaceSpec`), how a runtime finds it again (`RuntimeHandle`), its ports
(`PortMap`) and what a snapshot holds (`SnapshotContents`). Plain data, no I/O: the files,
runtimes, devcontainer parser, network, snapshots and pool all speak these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ExecResult",
    "Limits",
    "PortMap",
    "RuntimeHandle",
    "ServiceSpec",
    "SnapshotContents",
    "WorkspaceSpec",
]


@dataclass(frozen=True)
class Limits:
    """What one workspace may use; None: no limit of that kind."""

    cpus: float | None = None
    memory_mb: int | None = None
    disk_mb: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """A long-running process of the workspace (an HTTP server, a worker). `port` is where it
    listens inside the workspace; `cwd` is relative to the workspace's tree."""

    name: str
    command: tuple[str, ...]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "."


@dataclass(frozen=True)
class WorkspaceSpec:
    """What a template or a devcontainer.json says a workspace is. `unresolved` lists what
    was asked for and could not be had here (a devcontainer feature needing the internet),
    each with its reason, so the result can say so."""

    image: str | None = None
    dockerfile: str | None = None  # relative to the workspace's tree
    build_context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)  # the Dockerfile's ARGs
    post_create: tuple[tuple[str, ...], ...] = ()  # once, when made
    post_start: tuple[tuple[str, ...], ...] = ()  # at every start
    forward_ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    services: tuple[ServiceSpec, ...] = ()
    limits: Limits = Limits()
    features: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimeHandle:
    """How a runtime finds a workspace again after the platform restarts: a container id, a
    pod name, a process group; stored as JSON on the workspace's row."""

    runtime: str  # local | docker | kubernetes
    ref: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "ref": self.ref, "data": dict(self.data)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RuntimeHandle:
        return cls(str(value["runtime"]), str(value["ref"]), dict(value.get("data") or {}))


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str  # stdout and stderr together, as a terminal shows them


@dataclass(frozen=True)
class PortMap:
    """A service's port inside the workspace and the host port it is reached on."""

    service: str
    inside: int
    host: int


@dataclass(frozen=True)
class SnapshotContents:
    """What a snapshot captured. `processes` is "checkpointed" or why not; `missing` names
    each thing that could not be captured and why (shown in the snapshot's result)."""

    files: bool
    env: bool
    databases: tuple[str, ...] = ()
    network: tuple[PortMap, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    processes: str = "not checkpointed"
    missing: tuple[str, ...] = ()
