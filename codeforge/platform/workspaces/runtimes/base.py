"""What every workspace runtime is (docs/workspaces.md, "Runtimes"): the `WorkspaceRuntime`
protocol the service drives, the labels each runtime puts on everything it makes (so the crash
cleanup finds what no workspace row owns), and the error a runtime raises when it cannot place
a workspace here."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from codeforge.catalog.errors import PlatformUnavailable
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec

__all__ = ["LABEL_INSTANCE", "LABEL_WORKSPACE", "Unavailable", "WorkspaceRuntime"]

# On every container, network, volume, pod, claim and service a runtime makes: the workspace's
# id, and the platform instance that made it (two platforms sharing an engine or a cluster each
# clean up only their own).
LABEL_WORKSPACE = "dev.codeforge.workspace"
LABEL_INSTANCE = "dev.codeforge.instance"


class Unavailable(PlatformUnavailable):
    """The runtime cannot place a workspace here (no Docker engine, no cluster, a cgroup that
    cannot be made); the detail names what is missing and the fix says what to do."""


class WorkspaceRuntime(Protocol):
    name: str  # local | docker | kubernetes

    def available(self) -> str | None: ...  # None, or why not and what to do
    def create(self, ws_id: str, spec: WorkspaceSpec, tree: Path, env: dict[str, str]) -> RuntimeHandle: ...
    def start(self, handle: RuntimeHandle, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap]) -> None: ...
    def stop(self, handle: RuntimeHandle) -> None: ...
    def delete(self, handle: RuntimeHandle) -> None: ...  # idempotent: gone is fine
    def exec(self, handle: RuntimeHandle, argv: list[str], *, timeout_s: float) -> ExecResult: ...
    def logs(self, handle: RuntimeHandle, *, tail: int, service: str | None) -> list[str]: ...
    def listening(self, handle: RuntimeHandle) -> list[int]: ...  # ports listened on inside
    def checkpoint(self, handle: RuntimeHandle, into: Path) -> str: ...  # "checkpointed" or why not
    def owned(self) -> list[RuntimeHandle]: ...  # everything it made (labels), for cleanup
