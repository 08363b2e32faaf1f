"""A release's instances on the workspace runtimes (docs/deployments.md, "Instances"): each
instance is a workspace-runtime "workspace" of one service `web`, on its own copy-on-write
clone of the release's snapshot (local processes) or its image (Docker), listening on a host
port of its own; it takes traffic only after its health path answers 2xx over HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from codeforge.catalog.errors import ExternalFailure
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces import access as ws_access
from codeforge.platform.workspaces.records import PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import Unavailable, WorkspaceRuntime

__all__ = ["Instance", "InstanceSpec", "health_check", "runtime_for", "start_instance", "stop_instance"]


@dataclass(frozen=True)
class InstanceSpec:
    """What one instance of a release runs (a release's immutable part)."""

    release_id: str
    tree: str  # the release's snapshot ("" for an image)
    image: str
    command: tuple[str, ...]
    port: int | None  # inside an image; local instances listen on $PORT
    runtime: str
    env: dict[str, str]
    health_path: str
    health_timeout_s: float


@dataclass(frozen=True)
class Instance:
    id: str
    region: str
    address: str  # 127.0.0.1:<host port>
    runtime: str
    handle: dict[str, Any]
    tree: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "region": self.region, "address": self.address, "runtime": self.runtime,
            "handle": self.handle, "tree": self.tree,
        }  # fmt: skip

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Instance:
        return cls(
            str(value["id"]), str(value.get("region", "")), str(value["address"]), str(value["runtime"]),
            dict(value.get("handle") or {}), str(value.get("tree", "")),
        )  # fmt: skip


_RUNTIMES: dict[tuple[str, str, str], WorkspaceRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(settings: Settings, name: str) -> WorkspaceRuntime:
    """The deployments' own instance of workspace runtime `name`: its state apart from the
    workspaces' (local: `<data>/deployments/runtime/`; Docker: labelled with an instance id of
    its own), so the workspaces' sweep of runtime state without a workspace row leaves
    deployments' instances alone, and ours (cleanup.py) leaves workspaces alone."""
    key = (name, str(settings.data_dir), settings.resolved_instance_id)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            if name == "local":
                from codeforge.platform.workspaces.runtimes.local import LocalRuntime

                runtime = LocalRuntime(
                    Path(settings.data_dir) / "deployments", hide=(Path(settings.data_dir).resolve(),)
                )
            elif name == "docker":
                from codeforge.platform.workspaces.runtimes.docker import DockerRuntime
                from codeforge.platform.workspaces.settings import workspace_settings

                runtime = DockerRuntime(
                    f"{settings.resolved_instance_id}-deployments", base_url=workspace_settings().docker_url or None
                )
            else:
                raise Unavailable(f"deployments run on local or docker, not {name}", fix="choose local or docker")
            _RUNTIMES[key] = runtime
    why = runtime.available()
    if why:
        raise Unavailable(f"the {name} runtime cannot run instances here: {why}", fix=why)
    return runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health_check(address: str, path: str, timeout_s: float, *, alive: Any = None) -> str | None:
    """None once GET http://address/path answers 2xx or 3xx; else why not, after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                code = client.get(f"http://{address}{path}").status_code
                if 200 <= code < 400:
                    return None
                last = f"answered {code}"
            except httpx.HTTPError as exc:
                last = f"no answer ({type(exc).__name__})"
            if alive is not None and not alive():
                return f"exited ({last})"
            if time.monotonic() >= deadline:
                return f"{path} {last} for {timeout_s:g}s"
            time.sleep(0.1)


def start_instance(settings: Settings, spec: InstanceSpec, inst_id: str, region: str) -> Instance:
    """Start one instance and wait until it is healthy; a failure leaves nothing behind."""
    runtime = runtime_for(settings, spec.runtime)
    store = ws_access.file_store(settings)
    host = _free_port()
    tree: Path | None = None
    handle: RuntimeHandle | None = None
    try:
        tree = store.clone(Path(spec.tree), inst_id) if spec.tree else store.make(inst_id)
        inside = spec.port if spec.image else host
        service = ServiceSpec("web", spec.command, inside, {"PORT": str(inside)})
        wspec = WorkspaceSpec(image=spec.image or None, services=(service,), env={"PORT": str(inside)})
        handle = runtime.create(inst_id, wspec, tree, spec.env)
        runtime.start(handle, wspec, spec.env, [PortMap("web", inside or host, host)])
        address = f"127.0.0.1:{host}"
        why = health_check(address, spec.health_path, spec.health_timeout_s)
        if why:
            log = "\n".join(runtime.logs(handle, tail=10, service=None))
            raise ExternalFailure(
                f"instance {inst_id} never became healthy: {why}; its log ends:\n{log}",
                fix="make the app answer its health path with 2xx on $PORT",
            )
        return Instance(inst_id, region, address, spec.runtime, handle.as_json(), str(tree))
    except BaseException:
        if handle is not None:
            with contextlib.suppress(Exception):
                runtime.delete(handle)
        if tree is not None:
            with contextlib.suppress(Exception):
                store.delete(tree)
        raise


def stop_instance(settings: Settings, instance: Instance) -> None:
    """Stop and remove an instance and its tree; gone already is fine."""
    with contextlib.suppress(Exception):
        runtime = runtime_for(settings, instance.runtime)
        runtime.delete(RuntimeHandle.from_json(instance.handle))
    if instance.tree:
        with contextlib.suppress(Exception):
            ws_access.file_store(settings).delete(Path(instance.tree))
