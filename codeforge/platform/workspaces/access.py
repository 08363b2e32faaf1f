"""What every workspace operation uses: finding a workspace or a snapshot of the project,
describing it, its sealed environment, the runtimes and the file store of this platform,
and units of work beside the operation's own.

Workspace operations write through side sessions only (each committed at once), never
through the operation's session before them: on SQLite a thread holding one write
transaction that opens a second waits for itself (db.SQLiteWriters), and a workspace's
state must be durable step by step anyway, so a process killed half-way leaves rows the
crash cleanup can read."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import conflict_of
from codeforge.platform.env.service import effective
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces.files import FileStore
from codeforge.platform.workspaces.models import Workspace, WorkspaceSnapshot
from codeforge.platform.workspaces.network import PortPool, parse_range
from codeforge.platform.workspaces.records import Limits, PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import Unavailable, WorkspaceRuntime
from codeforge.platform.workspaces.settings import workspace_settings

__all__ = [
    "Side",
    "file_store",
    "get_snapshot",
    "get_workspace",
    "mirror",
    "observe",
    "port_pool",
    "progress",
    "project_env",
    "runtime_named",
    "runtime_report",
    "seal_env",
    "snapshot_info",
    "spec_json",
    "spec_of",
    "unseal_env",
    "workspace_env",
    "workspace_info",
    "workspaces_root",
]


class Side:
    """Units of work beside the operation's own, each committed when its block ends."""

    def __init__(self, bind: Engine) -> None:
        self.bind = bind

    @classmethod
    def of(cls, ctx: Context) -> Side:
        return cls(ctx.session.get_bind())  # type: ignore[arg-type]

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = Session(bind=self.bind, expire_on_commit=False)
        try:
            with session.begin():
                yield session
        except IntegrityError as exc:  # two writers of one name: a 409 naming it, as Database.session does
            if (conflict := conflict_of(exc)) is None:
                raise
            raise conflict from exc
        finally:
            session.close()


def mirror(row: object, **values: object) -> None:
    """Show on `row` (an object of the operation's session) what a side session wrote, without
    marking it changed: a change there would be flushed by the operation's next query and
    open a second write transaction on this thread (see the module's docstring)."""
    for key, value in values.items():
        set_committed_value(row, key, value)


def progress(ctx: Context, fraction: float, message: str) -> None:
    if ctx.job:
        ctx.job.progress(fraction, message)


# -- the spec and the environment, as stored ----------------------------------------------------


def spec_json(spec: WorkspaceSpec) -> dict[str, Any]:
    return asdict(spec)


def spec_of(value: dict[str, Any]) -> WorkspaceSpec:
    data = dict(value or {})
    services = tuple(
        ServiceSpec(s["name"], tuple(s["command"]), s.get("port"), dict(s.get("env") or {}), s.get("cwd", "."))
        for s in data.pop("services", ())
    )
    return WorkspaceSpec(
        image=data.get("image"),
        dockerfile=data.get("dockerfile"),
        build_context=data.get("build_context", "."),
        build_args=dict(data.get("build_args") or {}),
        post_create=tuple(tuple(c) for c in data.get("post_create", ())),
        post_start=tuple(tuple(c) for c in data.get("post_start", ())),
        forward_ports=tuple(data.get("forward_ports", ())),
        env=dict(data.get("env") or {}),
        services=services,
        limits=Limits(**(data.get("limits") or {})),
        features=tuple(data.get("features", ())),
        unresolved=tuple(data.get("unresolved", ())),
    )


def seal_env(cipher: Cipher, env: dict[str, str]) -> str:
    return cipher.encrypt(json.dumps(env, sort_keys=True))


def unseal_env(cipher: Cipher, sealed: str) -> dict[str, str]:
    return dict(json.loads(cipher.decrypt(sealed))) if sealed else {}


def project_env(session: Session, cipher: Cipher, project: Project) -> dict[str, str]:
    # A workspace is development: the shared values with development's own over them.
    return effective(session, cipher, project.id, "development")


def workspace_env(ctx: Context, row: Workspace) -> dict[str, str]:
    """What its processes see: the project's variables, its own over them."""
    return {**project_env(ctx.session, ctx.cipher, ctx.require_project()), **unseal_env(ctx.cipher, row.env_sealed)}


# -- this platform's tools ---------------------------------------------------------------------------

_TOOLS: dict[tuple[str, ...], Any] = {}
_TOOLS_LOCK = threading.Lock()


def workspaces_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "workspaces"


def file_store(settings: Settings) -> FileStore:
    root = workspaces_root(settings) / "files"
    with _TOOLS_LOCK:
        store: FileStore | None = _TOOLS.get(("files", str(root)))
        if store is None:
            store = _TOOLS[("files", str(root))] = FileStore(root)
        return store


def runtime_named(settings: Settings, name: str) -> WorkspaceRuntime:
    """The runtime `name` of this platform (one per process: the local runtime reaps the
    processes it started), or Unavailable saying why it cannot place a workspace here."""
    key = (name, str(settings.data_dir), settings.resolved_instance_id)
    with _TOOLS_LOCK:
        runtime: WorkspaceRuntime | None = _TOOLS.get(key)
        if runtime is None:
            runtime = _TOOLS[key] = _make_runtime(settings, name)
    why = runtime.available()
    if why:
        raise Unavailable(f"the {name} runtime cannot place a workspace here: {why}", fix=why)
    return runtime


def _make_runtime(settings: Settings, name: str) -> WorkspaceRuntime:
    if name == "local":
        from codeforge.platform.workspaces.runtimes.local import LocalRuntime

        return LocalRuntime(workspaces_root(settings), hide=(Path(settings.data_dir).resolve(),))
    if name == "docker":
        from codeforge.platform.workspaces.runtimes.docker import DockerRuntime

        return DockerRuntime(settings.resolved_instance_id, base_url=workspace_settings().docker_url or None)
    from codeforge.platform.workspaces.runtimes.kubernetes import KubernetesRuntime

    return KubernetesRuntime(
        instance=settings.resolved_instance_id, image="python:3.11-slim", platform_url=settings.resolved_public_url
    )


def port_pool(ctx: Context) -> PortPool:
    low, high = parse_range(workspace_settings().port_range)
    return PortPool(Side.of(ctx), low, high)


# -- finding and describing ----------------------------------------------------------------------------


def get_workspace(ctx: Context, name: str) -> Workspace:
    project = ctx.require_project()
    row = ctx.session.scalar(
        select(Workspace).where(Workspace.project_id == project.id, Workspace.name == name, Workspace.state != "pooled")
    )
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no workspace {name!r}",
            fix="list them with `codeforge workspaces list`, or create it with `workspaces create`",
        )
    return row


def get_snapshot(ctx: Context, name: str) -> WorkspaceSnapshot:
    project = ctx.require_project()
    row = ctx.session.scalar(
        select(WorkspaceSnapshot).where(WorkspaceSnapshot.project_id == project.id, WorkspaceSnapshot.name == name)
    )
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no snapshot {name!r}",
            fix="list them with `codeforge workspaces snapshots`",
        )
    return row


def _port_info(p: PortMap) -> catalog.workspaces.PortInfo:
    return catalog.workspaces.PortInfo(
        service=p.service, inside=p.inside, host=p.host, url=f"http://127.0.0.1:{p.host}"
    )


def _isolation(settings: Settings, runtime: str) -> str:
    if runtime == "local":
        key = (runtime, str(settings.data_dir), settings.resolved_instance_id)
        local = _TOOLS.get(key)
        return str(getattr(local, "isolation", "bubblewrap where it works"))
    return "a container" if runtime == "docker" else "a pod"


_WHAT = {"docker": "container", "local": "processes", "kubernetes": "Pod"}


def observe(settings: Settings, runtime: str, handle: RuntimeHandle) -> tuple[str, str]:
    """What the workspace's runtime says of it (`WorkspaceRuntime.state`), and "" — or
    "unknown" and why it could not be asked (no engine, no cluster)."""
    try:
        return runtime_named(settings, runtime).state(handle), ""
    except Exception as exc:  # an engine gone away must not fail a listing
        why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return "unknown", f"the {runtime} runtime could not be asked about it: {why}"


def runtime_report(runtime: str, state: str, seen: str, *, at_start: bool = False) -> tuple[str, str] | None:
    """The state and error a workspace stored as `state` is reported with when its runtime
    says `seen`, or None when the two agree (or the runtime cannot tell)."""
    what = _WHAT.get(runtime, "runtime state")
    when = " when the platform started" if at_start else ""
    if seen == "gone" and state in ("running", "stopped", "failed"):
        error = (
            f"its {what} {'are' if what.endswith('s') else 'is'} gone{when}: removed outside CodeForge; "
            "its files are kept: `workspaces start` makes it again from them (or delete it)"
        )
        return ("failed" if state == "running" else state), error
    if seen == "stopped" and state == "running":
        error = (
            f"its {what} had stopped{when} (stopped outside CodeForge, killed, or the host restarted); "
            "`workspaces start` starts it again"
        )
        return "stopped", error
    return None


def workspace_info(
    ctx: Context, row: Workspace, *, disk: bool = False, notes: list[str] | None = None, seconds: float | None = None,
    from_pool: bool = False, live: bool = False,
) -> catalog.workspaces.WorkspaceInfo:  # fmt: skip
    """`live` (list, show): the runtime is asked too, and where it says the workspace is gone
    or stopped behind the platform's back, that is what is reported (the stored row is left
    as it is: the next start sets it right)."""
    spec = spec_of(row.spec)
    state, error = row.state, row.error
    if live and row.handle and row.state in ("running", "stopped", "failed"):
        seen, why = observe(ctx.settings, row.runtime, RuntimeHandle.from_json(row.handle))
        report = runtime_report(row.runtime, row.state, seen)
        if report is not None:
            # A stopped or failed one keeps the error it was stored with, where it has one.
            state, error = report[0], (report[1] if row.state == "running" or not row.error else row.error)
        elif why and row.state == "running":
            error = row.error or why
    ports = PortPool(Side.of(ctx)).held(row.id)
    bridge = next((p for p in ports if p.service == "bridge"), None)
    store = file_store(ctx.settings)
    disk_bytes = None
    if disk and row.tree and Path(row.tree).is_dir():
        try:
            disk_bytes = store.usage(Path(row.tree))
        except Exception:  # a tree being deleted meanwhile: the size is just unknown
            disk_bytes = None
    return catalog.workspaces.WorkspaceInfo(
        name=row.name,
        project=ctx.require_project().slug,
        state=state,
        runtime=row.runtime,
        template=row.template,
        files=store.label,
        isolation=_isolation(ctx.settings, row.runtime),
        folder=row.tree,
        ports=[_port_info(p) for p in ports if p.service != "bridge"],
        databases=[catalog.workspaces.DatabaseLink(env_var=k, database=v) for k, v in sorted(row.databases.items())],
        limits=catalog.workspaces.LimitsInfo(
            cpus=spec.limits.cpus, memory_mb=spec.limits.memory_mb, disk_mb=spec.limits.disk_mb
        ),
        disk_bytes=disk_bytes,
        bridge_url=f"ws://127.0.0.1:{bridge.host}" if bridge else None,
        from_pool=from_pool,
        seconds=seconds,
        notes=[*(notes or []), *spec.unresolved, *([store.advice] if store.advice else [])],
        error=error,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def snapshot_info(
    ctx: Context, row: WorkspaceSnapshot, *, seconds: float | None = None
) -> catalog.workspaces.SnapshotInfo:
    contents = row.contents or {}
    source = ctx.session.get(Workspace, row.workspace_id) if row.workspace_id else None
    return catalog.workspaces.SnapshotInfo(
        name=row.name,
        workspace=source.name if source is not None else None,
        files=file_store(ctx.settings).label,
        env=bool(contents.get("env")),
        databases=[
            catalog.workspaces.DatabaseLink(env_var=k, database=v)
            for k, v in sorted((contents.get("databases") or {}).items())
        ],
        network=[_port_info(PortMap(**p)) for p in contents.get("network") or []],
        services=[s["name"] for s in (contents.get("spec") or {}).get("services") or []],
        processes=str(contents.get("processes", "not checkpointed")),
        missing=list(contents.get("missing") or []),
        seconds=seconds,
        created_at=row.created_at,
        created_by=row.created_by,
    )
