"""Making, starting, stopping and deleting a workspace (docs/workspaces.md), every step of
making under one journal intent, so that a failure or a killed process leaves nothing
half-made: the row, the tree, the host ports, the runtime's processes or container, the
database branches. `undo_steps` is the one place that knows how to take each kind back; the
operations and the crash cleanup both use it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem
from codeforge.platform.auth.models import ApiToken, User
from codeforge.platform.auth.tokens import issue_token
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import new_id, utcnow
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces import access
from codeforge.platform.workspaces.databases_link import drop_branch
from codeforge.platform.workspaces.files.common import du_bytes
from codeforge.platform.workspaces.journal import Intent, Journal, Undo
from codeforge.platform.workspaces.models import Workspace, WorkspacePort, WorkspaceSnapshot
from codeforge.platform.workspaces.network import PortPool
from codeforge.platform.workspaces.records import PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import WorkspaceRuntime

__all__ = [
    "NewWorkspace",
    "build",
    "delete_everything",
    "ensure_bridge",
    "handle_of",
    "journal",
    "service_env",
    "start",
    "stop",
    "undo_steps",
    "wanted_ports",
]

log = logging.getLogger("codeforge.workspaces")


def undo_steps(bind: Engine, settings: Settings, cipher: Cipher, actor: Actor | None) -> Undo:
    """Take back one step of each kind; gone already is fine."""
    side = access.Side(bind)

    def undo(kind: str, ref: str) -> None:
        if kind == "ports":
            PortPool(side).release(ref)
        elif kind == "tree":
            access.file_store(settings).delete(Path(ref))
        elif kind == "runtime":
            name, ws_id = ref.split(":", 1)
            access.runtime_named(settings, name).delete(RuntimeHandle(name, ws_id, {}))
        elif kind == "row":
            with side.session() as s:
                s.execute(delete(Workspace).where(Workspace.id == ref))
        elif kind == "snapshot-row":
            with side.session() as s:
                s.execute(delete(WorkspaceSnapshot).where(WorkspaceSnapshot.id == ref))
        elif kind == "branch":
            project_id, name = ref.split(":", 1)
            drop_branch(bind, settings, cipher, actor, project_id, name)
        elif kind == "token":
            with side.session() as s:
                token = s.get(ApiToken, ref)
                if token is not None and token.revoked_at is None:
                    token.revoked_at = utcnow()
        else:
            raise LookupError(f"no undo for {kind!r} in this version")

    return undo


def journal(ctx: Context) -> tuple[Journal, Undo]:
    side = access.Side.of(ctx)
    return (
        Journal(side, ctx.settings.resolved_instance_id),
        undo_steps(side.bind, ctx.settings, ctx.cipher, ctx.actor),
    )


def service_env(ports: list[PortMap]) -> dict[str, str]:
    """Where each service is reached from the others: CODEFORGE_SERVICE_<NAME>_URL."""
    return {
        f"CODEFORGE_SERVICE_{p.service.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{p.host}"
        for p in ports
        if p.service != "bridge"
    }


@dataclass
class NewWorkspace:
    """What `build` makes a workspace from."""

    name: str
    runtime: str
    spec: WorkspaceSpec
    own_env: dict[str, str]
    tree_source: Path | None = None  # a tree or folder to clone the files from
    fill_tree: Callable[[Path], object] | None = None  # then lays more down (a template's files)
    template: str | None = None
    state: str = "running"  # pooled for the warm pool
    databases: dict[str, str] = field(default_factory=dict)
    ports_like: list[PortMap] = field(default_factory=list)  # a clone's source's, to remap
    steps: Callable[[Intent, str], None] | None = None  # more steps under the intent (branches)
    operation: str = "workspaces.create"
    post_create: bool = True  # a clone's files have been through it already


def wanted_ports(spec: WorkspaceSpec) -> list[tuple[str, int]]:
    wants = [(s.name, s.port) for s in spec.services if s.port is not None]
    listed = {port for _, port in wants}
    wants += [(f"port-{p}", p) for p in spec.forward_ports if p not in listed]
    return wants


def build(ctx: Context, new: NewWorkspace, *, created_by: str) -> Workspace:
    """Make a workspace (row, tree, ports, runtime, post-create commands, services started),
    all or nothing."""
    project = ctx.require_project()
    runtime = access.runtime_named(ctx.settings, new.runtime)
    store = access.file_store(ctx.settings)
    book, undo = journal(ctx)
    side = access.Side.of(ctx)
    ws_id, tree_id = new_id(), new_id()
    disk_limited = new.spec.limits.disk_mb is not None
    if disk_limited and new.tree_source is not None:
        # Measured before anything is copied: a folder over the limit is refused as such, not
        # after filling the volume (or failing on a full one with a less useful error).
        _check_disk(du_bytes(new.tree_source, store.root), new.spec)
    with book.intent(new.operation, project.id, undo) as intent:
        intent.making("row", ws_id)
        with side.session() as s:
            s.add(
                Workspace(
                    id=ws_id,
                    project_id=project.id,
                    name=new.name,
                    state="creating",
                    runtime=new.runtime,
                    template=new.template,
                    spec=access.spec_json(new.spec),
                    tree="",
                    env_sealed="",
                    databases={},
                    created_by=created_by,
                )
            )
        access.progress(ctx, 0.1, "making its files")
        intent.making("tree", str(store.tree(tree_id)))
        tree = store.clone(new.tree_source, tree_id) if new.tree_source else store.make(tree_id)
        if new.fill_tree is not None:
            new.fill_tree(tree)
        if disk_limited and (new.tree_source is None or new.fill_tree is not None):
            _check_disk(store.usage(tree), new.spec)  # what was laid down after the copy
        if new.steps is not None:
            new.steps(intent, ws_id)
        intent.making("ports", ws_id)
        ports = access.port_pool(ctx).allocate(ws_id, wanted_ports(new.spec))
        env = _env_for(ctx, new, ports)
        access.progress(ctx, 0.5, f"starting it on the {new.runtime} runtime")
        intent.making("runtime", f"{new.runtime}:{ws_id}")
        handle = runtime.create(ws_id, new.spec, tree, env)
        if new.post_create:
            run_commands(runtime, handle, new.spec.post_create, "postCreateCommand")
        runtime.start(handle, new.spec, env, ports)
        run_commands(runtime, handle, new.spec.post_start, "postStartCommand")
        with side.session() as s:
            row = s.get(Workspace, ws_id)
            assert row is not None
            row.tree, row.handle, row.state = str(tree), handle.as_json(), new.state
            row.env_sealed = access.seal_env(ctx.cipher, new.own_env)
            row.databases = dict(new.databases)
    with side.session() as s:
        made = s.get(Workspace, ws_id)
        assert made is not None
        return made


def _env_for(ctx: Context, new: NewWorkspace, ports: list[PortMap]) -> dict[str, str]:
    from codeforge.platform.workspaces.network import remap_env

    own = new.own_env
    if new.ports_like:  # a clone: its values that named the source's ports name its own
        by_service = {p.service: p.host for p in ports}
        moved = {p.host: by_service[p.service] for p in new.ports_like if p.service in by_service}
        own = new.own_env = remap_env(own, moved)
    project_env = access.project_env(ctx.session, ctx.cipher, ctx.require_project())
    return {**project_env, **own, **service_env(ports)}


def _check_disk(used: int, spec: WorkspaceSpec) -> None:
    limit = spec.limits.disk_mb
    if limit is not None and used > limit * 1024 * 1024:
        raise BadInput(
            f"the workspace's files take {used / 1048576:.1f} MiB, more than its disk limit of {limit} MiB",
            errors=[FieldProblem("disk_mb", f"{limit} MiB is too small", f"give at least {used // 1048576 + 1}")],
        )


def run_commands(runtime: WorkspaceRuntime, handle: RuntimeHandle, commands: Sequence[Sequence[str]], key: str) -> None:
    """devcontainer.json's postCreateCommand (once) or postStartCommand (at every start): the
    first that fails stops the operation with its exit code and output's tail."""
    for argv in commands:
        result = runtime.exec(handle, list(argv), timeout_s=600)
        if result.exit_code != 0:
            tail = "\n".join(result.output.splitlines()[-12:])
            raise ExternalFailure(
                f"the {key} `{' '.join(argv)}` failed with exit code {result.exit_code}:\n{tail}",
                fix=f"fix the command in devcontainer.json ({key}) and try again",
            )


def handle_of(row: Workspace) -> RuntimeHandle | None:
    return RuntimeHandle.from_json(row.handle) if row.handle else None


def start(ctx: Context, row: Workspace) -> None:
    """Start its services (a runtime made again first when a restore took it away)."""
    runtime = access.runtime_named(ctx.settings, row.runtime)
    spec = access.spec_of(row.spec)
    ports = PortPool(access.Side.of(ctx)).held(row.id)
    env = {**access.workspace_env(ctx, row), **service_env(ports)}
    handle = handle_of(row)
    if handle is not None and runtime.state(handle) == "gone":
        # Removed behind the platform's back (its container removed, its runtime folder
        # deleted): what is left of it goes (a network without its container), and it is made
        # again from its tree, which the file store kept. Post-create commands are not run
        # again (as in a clone: their work on the files is there).
        runtime.delete(handle)
        handle = None
    if handle is None:
        handle = runtime.create(row.id, spec, Path(row.tree), env)
    else:
        runtime.stop(handle)  # never two of each service
    try:
        runtime.start(handle, spec, env, ports)  # the bridge is never in the stored spec: connect starts it
        run_commands(runtime, handle, spec.post_start, "postStartCommand")
    except Exception as exc:
        _set(ctx, row, state="failed", error=str(getattr(exc, "detail", exc)), handle=handle)
        raise
    _set(ctx, row, state="running", error="", handle=handle)


def stop(ctx: Context, row: Workspace) -> None:
    handle = handle_of(row)
    if handle is not None:
        access.runtime_named(ctx.settings, row.runtime).stop(handle)
    _set(ctx, row, state="stopped", error="")


def _set(ctx: Context, row: Workspace, *, state: str, error: str, handle: RuntimeHandle | None = None) -> None:
    with access.Side.of(ctx).session() as s:
        fresh = s.get(Workspace, row.id)
        if fresh is None:
            return
        fresh.state, fresh.error = state, error
        if handle is not None:
            fresh.handle = handle.as_json()
    access.mirror(row, state=state, error=error, **({"handle": handle.as_json()} if handle is not None else {}))


def delete_everything(ctx: Context, row: Workspace, *, keep_databases: bool) -> list[str]:
    """Its processes or container, its tree, its ports, its bridge token, its branches (unless
    kept), then its row. Each step can run again: a delete killed half-way is finished by
    deleting again. Returns the branches deleted."""
    _set(ctx, row, state="deleting", error="")
    side = access.Side.of(ctx)
    undo = undo_steps(side.bind, ctx.settings, ctx.cipher, ctx.actor)
    undo("runtime", f"{row.runtime}:{row.id}")
    if row.tree:
        undo("tree", row.tree)
    undo("ports", row.id)
    if row.bridge_token_id:
        undo("token", row.bridge_token_id)
    dropped = []
    if not keep_databases:
        for name in sorted(set(row.databases.values())):
            undo("branch", f"{row.project_id}:{name}")
            dropped.append(name)
    with side.session() as s:
        s.execute(delete(WorkspacePort).where(WorkspacePort.workspace_id == row.id))
        s.execute(delete(Workspace).where(Workspace.id == row.id))
    return dropped


def ensure_bridge(ctx: Context, row: Workspace, make_service: Callable[[Context, Workspace], ServiceSpec]) -> str:
    """The URL of the workspace's bridge (`codeforge bridge` in its tree, as one more service),
    started when it does not listen. Each start gets a token of its own for the member who
    asked (the bridge acts for them), and the one before it is revoked."""
    runtime = access.runtime_named(ctx.settings, row.runtime)
    handle = handle_of(row)
    if handle is None:
        raise ExternalFailure(f"workspace {row.name!r} has no runtime", fix="start it again")
    ports = access.port_pool(ctx)
    held = next((p for p in ports.held(row.id) if p.service == "bridge"), None)
    # A container's listening() names the ports inside it; the local runtime's, the host's.
    if held is not None and (held.inside if row.runtime == "docker" else held.host) in runtime.listening(handle):
        return f"ws://127.0.0.1:{held.host}"
    service = make_service(ctx, row)
    if held is None:
        held = ports.allocate(row.id, [("bridge", service.port or 8471)])[0]
    side = access.Side.of(ctx)
    with side.session() as s:
        user = s.get(User, ctx.actor.user_id)
        if user is None:
            raise ExternalFailure("the member asking has no account here", fix="sign in as a member")
        token, raw = issue_token(s, user, f"bridge of workspace {row.name}"[:100], None)
        fresh = s.get(Workspace, row.id)
        assert fresh is not None
        previous, fresh.bridge_token_id = fresh.bridge_token_id, token.id
    if previous:
        undo_steps(side.bind, ctx.settings, ctx.cipher, ctx.actor)("token", previous)
    spec = replace(access.spec_of(row.spec), services=(service,))
    runtime.start(handle, spec, {**access.workspace_env(ctx, row), "CODEFORGE_TOKEN": raw}, [held])
    return f"ws://127.0.0.1:{held.host}"
