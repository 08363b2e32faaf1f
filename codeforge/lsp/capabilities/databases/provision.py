"""codeforge.yaml's `databases:` against the platform: what it names that the platform
lacks, and carrying the section out.

On open and save, one `databases.list` and one `engines.list` give a warning for each
declared database that is not provisioned (with the quick fix "Provision database `X`")
and for each `engine:` that is not registered. A `migrations:` folder that is not there
is a warning on every change. The section's action creates what is missing, pools the
`pooled: true` ones and schedules the declared backups, with `$/progress`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge import catalog
from codeforge.catalog import Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.capabilities.databases.migrations import folder_problems
from codeforge.lsp.contributions import ApplyContext, CodeActionRequest, ProjectFileView
from codeforge.lsp.features.code_actions import APPLY_COMMAND, QUICKFIX, action
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import databases as projectfile_databases

__all__ = ["NOT_PROVISIONED", "apply_databases", "diagnose", "forget", "provision_fixes", "refresh"]

log = logging.getLogger(__name__)

# Diagnostic code of "declared here but not provisioned"; its data is {name}.
NOT_PROVISIONED = "database-not-provisioned"


@dataclass
class _Known:
    """What the platform said about one codeforge.yaml when it was last opened or saved."""

    project: str
    provisioned: set[str]
    engines: set[str] | None  # None: engines.list was not asked or failed


@dataclass
class _DatabasesState:
    known: dict[str, _Known] = field(default_factory=dict)


def diagnose(ls: CodeForgeSession, view: ProjectFileView) -> list[types.Diagnostic]:
    model = view.model
    if model is None or not model.databases:
        return []
    out: list[types.Diagnostic] = []
    known = ls.state(_DatabasesState).known.get(view.uri)
    for name, entry in model.databases.items():
        if known is None:
            break
        if entry.engine and known.engines is not None and entry.engine not in known.engines:
            out.append(
                view.diagnostic(
                    ("databases", name, "engine"),
                    f"engine `{entry.engine}` is not registered on the platform: register it with "
                    f"`codeforge engines register {entry.engine} …`, or pick one from `codeforge engines list`",
                )
            )
        elif name not in known.provisioned:
            # Not said while its engine is unknown: provisioning would only fail.
            out.append(
                view.diagnostic(
                    ("databases", name),
                    f"database `{name}` is declared here but not provisioned in project {known.project}: "
                    f"provision it with the quick fix, or `codeforge databases create {name}`",
                    key=True,
                    code=NOT_PROVISIONED,
                    data={"name": name},
                )
            )
    # A `migrations:` folder that is not there gives no migration diagnostics: say why.
    if path := to_fs_path(view.uri):
        for name, message in folder_problems(model, Path(path).parent).items():
            out.append(view.diagnostic(("databases", name, "migrations"), message))
    return out


async def refresh(ls: CodeForgeSession, view: ProjectFileView) -> None:
    """Ask the platform what the file's databases and engines are; an unreachable
    platform leaves no warning (the file is not wrong)."""
    state = ls.state(_DatabasesState)
    state.known.pop(view.uri, None)
    model = view.model
    if model is None or not model.databases:
        return
    try:
        project = model.project or ls.context_project()
        if not project:
            return
        listed = await ls.platform.call(catalog.databases.LIST, {"project": project})
        engines: set[str] | None = None
        if any(e.engine for e in model.databases.values()):
            engines = {e.name for e in getattr(await ls.platform.call(catalog.engines.LIST, {}), "items", [])}
    except CodeForgeError as exc:
        log.info("not checking codeforge.yaml's databases against the platform: %s", exc.message)
        return
    state.known[view.uri] = _Known(project, {d.name for d in getattr(listed, "items", [])}, engines)


def forget(ls: CodeForgeSession, uri: str) -> None:
    ls.state(_DatabasesState).known.pop(uri, None)


def provision_fixes(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    out = []
    for diagnostic in request.ours(NOT_PROVISIONED):
        name = diagnostic.data.get("name") if isinstance(diagnostic.data, dict) else None
        if isinstance(name, str):
            out.append(
                action(
                    f"Provision database `{name}`",
                    APPLY_COMMAND,
                    {"uri": request.uri, "section": "databases", "name": name},
                    kind=QUICKFIX,
                    diagnostics=[diagnostic],
                    is_preferred=True,
                )
            )
    return out


async def apply_databases(ls: CodeForgeSession, ctx: ApplyContext) -> dict[str, Any]:
    """Provision what is missing, pool what should be pooled, schedule declared backups
    (of the one entry named, when a quick fix asks).

    A database that lives on another engine than the file names is a conflict: moving
    it is not something a code action does silently."""
    project = ctx.project
    declared = {n: e for n, e in ctx.model.databases.items() if ctx.names is None or n in ctx.names}
    ctx.report("asking the platform what exists", None)
    listed = await ls.platform.call(catalog.databases.LIST, {"project": project})
    schedules = await ls.platform.call(catalog.backups.SCHEDULES, {"project": project})
    plan = projectfile_databases.plan_databases(
        project, declared, getattr(listed, "items", []), getattr(schedules, "items", [])
    )
    done: dict[str, list[str]] = {"created": [], "pooled": [], "scheduled": []}
    steps: list[tuple[str, str, Operation[Any, Any], list[Any]]] = [
        ("created", "creating", catalog.databases.CREATE, list(plan.to_create)),
        ("pooled", "pooling", catalog.databases.POOL, list(plan.to_pool)),
        ("scheduled", "scheduling backups of", catalog.backups.SCHEDULE, list(plan.to_schedule)),
    ]
    total = sum(len(inputs) for *_, inputs in steps)
    for key, doing, op, inputs in steps:
        for data in inputs:
            ctx.report(f"{doing} {data.name}", sum(len(v) for v in done.values()) / total)
            try:
                await call_operation(ls, op, data)
            except CodeForgeError as exc:
                so_far = "; ".join(f"{k} {', '.join(v)}" for k, v in done.items() if v)
                prefix = f"{so_far}; " if so_far else ""
                raise type(exc)(
                    f"{prefix}{op.name} {data.name} failed: {exc.detail}", fix=exc.fix, errors=exc.errors
                ) from None
            done[key].append(data.name)
    parts = [f"{k} {', '.join(v)}" for k, v in done.items() if v] or ["nothing to do"]
    if plan.unchanged:
        parts.append(f"{len(plan.unchanged)} already as declared")
    if plan.conflicts:
        parts.append(f"on another engine than declared, not moved: {', '.join(plan.conflicts)}")
    ls.info(f"codeforge.yaml databases ({project}): {'; '.join(parts)}")
    return {"project": project, **done, "unchanged": plan.unchanged, "conflicts": plan.conflicts}
