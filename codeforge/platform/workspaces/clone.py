"""Clone (docs/workspaces.md, "Snapshots and clone"): a new, independent workspace from a
live workspace or a snapshot — its own tree (a copy-on-write clone), its own branch of each
database (the variables pointing at them rewritten), its own host ports (every variable that
named the source's rewritten), its services started. Writes in a clone never reach the
source."""

from __future__ import annotations

import time
from pathlib import Path

from codeforge.catalog.errors import Conflict
from codeforge.platform.context import Context
from codeforge.platform.workspaces import access, lifecycle
from codeforge.platform.workspaces.databases_link import branch_name, make_branch, taken_names, used_databases
from codeforge.platform.workspaces.journal import Intent
from codeforge.platform.workspaces.models import Workspace, WorkspaceSnapshot
from codeforge.platform.workspaces.network import PortPool
from codeforge.platform.workspaces.records import PortMap

__all__ = ["clone"]


def clone(ctx: Context, source: Workspace | WorkspaceSnapshot, name: str) -> tuple[Workspace, float, list[str]]:
    """The clone's row, the seconds it took, and notes (what did not carry over)."""
    started = time.perf_counter()
    project = ctx.require_project()
    notes: list[str] = []
    if isinstance(source, Workspace):
        if source.state not in ("running", "stopped"):
            raise Conflict(f"workspace {source.name!r} is {source.state}", fix="clone it once it is running or stopped")
        own_env = access.unseal_env(ctx.cipher, source.env_sealed)
        databases = used_databases(ctx, access.workspace_env(ctx, source))
        tree, spec, runtime, template = Path(source.tree), source.spec, source.runtime, source.template
        ports = PortPool(access.Side.of(ctx)).held(source.id)
        if source.state == "running":
            notes.append("running processes are not copied: the clone's services started from their commands")
    else:
        contents = source.contents or {}
        own_env = access.unseal_env(ctx.cipher, contents.get("env_sealed", ""))
        databases = dict(contents.get("databases") or {})
        tree, spec = Path(source.tree), contents.get("spec") or {}
        runtime, template = str(contents.get("runtime") or "local"), contents.get("template")
        ports = [PortMap(**p) for p in contents.get("network") or []]
    made_databases: dict[str, str] = {}

    def branches(intent: Intent, ws_id: str) -> None:
        taken = taken_names(ctx)
        for var, database in sorted(databases.items()):
            access.progress(ctx, 0.3, f"branching database {database}")
            branch = branch_name(name, database.split("-", 2)[-1] if database.startswith("s-") else database, taken)
            taken.add(branch)
            intent.making("branch", f"{project.id}:{branch}")
            own_env[var] = make_branch(ctx, database, branch)
            made_databases[var] = branch

    row = lifecycle.build(
        ctx,
        lifecycle.NewWorkspace(
            name=name,
            runtime=runtime,
            spec=access.spec_of(spec),
            own_env=own_env,
            tree_source=tree,
            template=template,
            databases=made_databases,
            ports_like=[p for p in ports if p.service != "bridge"],
            steps=branches,
            operation="workspaces.clone",
            post_create=False,
        ),
        created_by=ctx.actor.username,
    )
    return row, round(time.perf_counter() - started, 3), notes
