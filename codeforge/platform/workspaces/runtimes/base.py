"""What every workspace runtime is (docs/workspaces.md, "Runtimes"): the `WorkspaceRuntime`
protocol the service drives, the labels each runtime puts on everything it makes (so the crash
cleanup finds what no workspace row owns), and the error a runtime raises when it cannot place
a workspace here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from codeforge.catalog.errors import ExternalFailure, PlatformUnavailable
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec

__all__ = ["LABEL_INSTANCE", "LABEL_WORKSPACE", "STATES", "Unavailable", "WorkspaceRuntime", "wait_ready"]

# On every container, network, volume, pod, claim and service a runtime makes: the workspace's
# id, and the platform instance that made it (two platforms sharing an engine or a cluster each
# clean up only their own).
LABEL_WORKSPACE = "dev.codeforge.workspace"
LABEL_INSTANCE = "dev.codeforge.instance"
# What `WorkspaceRuntime.state` answers.
STATES = ("running", "stopped", "gone", "unknown")


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
    # What the runtime itself says of a workspace: "running", "stopped", "gone" (it holds
    # nothing of it: a container removed behind the platform's back) or "unknown" (another
    # replica's, which this process cannot see or drive).
    def state(self, handle: RuntimeHandle) -> str: ...
    # After a platform restart: what the previous process held in memory for a running
    # workspace of this instance (the Docker runtime's relays) made again; idempotent.
    # Returns what it made, for the log.
    def reattach(self, handle: RuntimeHandle, ports: list[PortMap]) -> list[str]: ...


def wait_ready(
    name: str,
    port: int | None,
    timeout_s: float,
    *,
    exit_code: Callable[[], int | None],
    listening: Callable[[], Iterable[int]],
    log_tail: Callable[[], str],
    give_up: Callable[[], None],
    refuse_exit: Callable[[int], None] = lambda code: None,
    listen_fix: str = "make it listen on $PORT",
    poll_s: float = 0.05,
) -> None:
    """Wait until service `name` listens on `port` (without a port: until half a second
    passes). One that exits, or never listens, fails the start: `give_up()` stops what was
    started, then the error carries the service's log tail. `refuse_exit(code)` may raise a
    runtime's own reading of an exit code first (127: the command is not there)."""
    deadline = time.monotonic() + (timeout_s if port else 0.5)
    while True:
        code = exit_code()
        if code is not None:
            tail = log_tail()
            give_up()
            refuse_exit(code)
            raise ExternalFailure(
                f"service {name!r} exited at once with code {code}; its log ends:\n{tail}",
                fix="fix the service's command",
            )
        if port is not None and port in set(listening()):
            return
        if time.monotonic() >= deadline:
            if port is None:
                return
            tail = log_tail()
            give_up()
            raise ExternalFailure(
                f"service {name!r} did not listen on port {port} within {timeout_s:g}s; its log ends:\n{tail}",
                fix=listen_fix,
            )
        time.sleep(poll_s)
