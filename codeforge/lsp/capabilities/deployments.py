"""codeforge.yaml's `deploy:` in the editor (docs/deployments.md, "In the editor").

- diagnostics, from `deployments.list`, `workspaces.list` and `domains.list` on open and save:
  a `workspace` the project does not have, `hosts` not under a verified domain of the project
  (the edge would refuse them; `*.localhost` names need none), a deployment whose last rollout
  failed or was rolled back (with the platform's message);
- source actions per entry: "Deploy `web`" (`codeforge.projectFile.apply {uri, section:
  "deploy", name}`: `deployments.deploy` with the entry's fields, a job followed with
  cancellable `$/progress`, then the file checked again) and, when the deployment has an
  earlier release that served (standby or retired), "Roll back `web` to vN"
  (`codeforge.deployments.rollback {name, release}`, the catalog's command).

Completion and schema diagnostics come from `codeforge.projectfile.deployments.DeployEntry`,
which is `deployments.deploy`'s input model.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from codeforge import catalog
from codeforge.catalog.deployments import DeploymentInfo
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.contributions import (
    ApplyContext,
    CodeActionProvider,
    CodeActionRequest,
    Contributions,
    ProjectAction,
    ProjectFileCheck,
    ProjectFileView,
)
from codeforge.lsp.features.code_actions import APPLY_COMMAND, KIND, action
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile.deployments import DeployEntry, deploy_arguments

__all__ = ["UNKNOWN_WORKSPACE", "contribute", "rollback_target"]

log = logging.getLogger(__name__)

SECTION = "deploy"
UNKNOWN_WORKSPACE = "deploy-unknown-workspace"
HOST_NOT_OWNED = "deploy-host-not-owned"
_EARLIER = ("standby", "retired")  # releases `deployments.rollback` goes back to


@dataclass
class _Known:
    project: str
    deployments: dict[str, DeploymentInfo]
    workspaces: set[str] | None  # None: not asked, or the platform could not say
    verified: set[str] | None  # the project's verified domains (stored names)


@dataclass
class _DeployState:
    known: dict[str, _Known] = field(default_factory=dict)


def _declared(model: Any) -> dict[str, DeployEntry]:
    section = getattr(model, SECTION, None) if model is not None else None
    return section if isinstance(section, dict) else {}


def _owned(host: str, verified: set[str]) -> bool:
    name = host.lower().rstrip(".").removeprefix("*.")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return any(name == d or name.endswith("." + d) for d in verified)


def rollback_target(info: DeploymentInfo | None) -> int | None:
    """The release `deployments.rollback` would put back: the newest before the current one
    that served (standby or retired); None when there is none."""
    if info is None or info.current is None:
        return None
    earlier = [r.number for r in info.releases if r.number < info.current and r.state in _EARLIER]
    return max(earlier) if earlier else None


def diagnose(ls: CodeForgeSession, view: ProjectFileView) -> list[types.Diagnostic]:
    declared = _declared(view.model)
    known = ls.state(_DeployState).known.get(view.uri)
    if not declared or known is None:
        return []
    out: list[types.Diagnostic] = []
    for name, entry in declared.items():
        if entry.workspace and known.workspaces is not None and entry.workspace not in known.workspaces:
            out.append(
                view.diagnostic(
                    (SECTION, name, "workspace"),
                    f"project {known.project} has no workspace `{entry.workspace}`: create it "
                    f"(`codeforge workspaces create {entry.workspace}`) or pick one from `codeforge workspaces list`",
                    code=UNKNOWN_WORKSPACE,
                )
            )
        if known.verified is not None:
            foreign = [h for h in entry.hosts if not _owned(h, known.verified)]
            if foreign:
                out.append(
                    view.diagnostic(
                        (SECTION, name, "hosts"),
                        f"{', '.join(f'`{h}`' for h in foreign)} not under a verified domain of project "
                        f"{known.project}: the edge would refuse the deploy; add and verify the domain "
                        "(codeforge.yaml `domains:`), or use a *.localhost name",
                        code=HOST_NOT_OWNED,
                    )
                )
        info = known.deployments.get(name)
        if info is not None and info.state in ("failed", "rolled-back") and info.message:
            out.append(
                view.diagnostic(
                    (SECTION, name),
                    f"the last rollout of `{name}` ended {info.state}: {info.message}",
                    key=True,
                    severity=types.DiagnosticSeverity.Information,
                )
            )
    return out


async def refresh(ls: CodeForgeSession, view: ProjectFileView) -> None:
    """Ask the platform; one that cannot be reached leaves no diagnostic."""
    state = ls.state(_DeployState)
    state.known.pop(view.uri, None)
    declared = _declared(view.model)
    if not declared:
        return
    project = (view.model.project if view.model is not None else None) or ls.context_project()
    if not project:
        return
    body = {"project": project}

    async def optional(op: Any, wanted: bool) -> Any:
        if not wanted:
            return None
        try:
            return await ls.platform.call(op, body)
        except CodeForgeError as exc:
            log.info("codeforge.yaml deploy: %s not asked: %s", op.name, exc.message)
            return None

    try:
        deployments, workspaces, domains = await asyncio.gather(
            ls.platform.call(catalog.deployments.LIST, body),
            optional(catalog.workspaces.LIST, any(e.workspace for e in declared.values())),
            optional(catalog.domains.LIST, any(e.hosts for e in declared.values())),
        )
    except CodeForgeError as exc:
        log.info("not checking codeforge.yaml's deployments against the platform: %s", exc.message)
        return
    state.known[view.uri] = _Known(
        project,
        {d.name: d for d in getattr(deployments, "items", [])},
        {w.name for w in workspaces.items} if workspaces is not None else None,
        {d.domain for d in domains.items if d.verified} if domains is not None else None,
    )


def forget(ls: CodeForgeSession, uri: str) -> None:
    ls.state(_DeployState).known.pop(uri, None)


def entry_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    declared = _declared(request.project)
    if not declared:
        return []
    known = ls.state(_DeployState).known.get(request.uri)
    out = []
    for name in declared:
        out.append(action(f"Deploy `{name}`", APPLY_COMMAND, {"uri": request.uri, "section": SECTION, "name": name}))
        target = rollback_target(known.deployments.get(name) if known else None)
        if target is not None:
            out.append(
                action(
                    f"Roll back `{name}` to v{target}",
                    catalog.deployments.ROLLBACK.command,
                    {"name": name, "release": target},
                )
            )
    out.append(action("Open the deployments pane", catalog.panes.OPEN.command, {"pane": "deployments"}))
    return out


async def apply_deploy(ls: CodeForgeSession, ctx: ApplyContext) -> dict[str, Any]:
    """`deployments.deploy` for each entry (the one named, from a code action), one after
    the other, each a job with its own cancellable `$/progress`."""
    declared = {n: e for n, e in _declared(ctx.model).items() if ctx.names is None or n in ctx.names}
    if not declared:
        wanted = ", ".join(sorted(ctx.names or ())) or "any"
        raise BadInput(f"codeforge.yaml declares no deployment {wanted}", fix="add it under `deploy:` and save")
    deployed: dict[str, Any] = {}
    for i, (name, entry) in enumerate(declared.items()):
        ctx.report(f"deploying {name}", i / len(declared))
        data = {"project": ctx.project, **deploy_arguments(name, entry)}
        try:
            result = await call_operation(ls, catalog.deployments.DEPLOY, data)
        except CodeForgeError as exc:
            done = f"deployed {', '.join(deployed)}; " if deployed else ""
            raise type(exc)(f"{done}deploying {name} failed: {exc.detail}", fix=exc.fix, errors=exc.errors) from None
        deployed[name] = {"current": result.get("current"), "state": result.get("state"), "hosts": result.get("hosts")}
    summary = "; ".join(
        f"{n} v{d['current']} {d['state']} on {', '.join(d['hosts'] or [])}" for n, d in deployed.items()
    )
    ls.info(f"codeforge.yaml deploy ({ctx.project}): {summary}")
    return {"project": ctx.project, "deployed": deployed}


def contribute(c: Contributions) -> None:
    c.add(
        ProjectFileCheck("deployments on the platform", diagnose, refresh, forget),
        ProjectAction(
            section=SECTION,
            title="Deploy every deployment of codeforge.yaml",
            wanted=lambda model: bool(_declared(model)),
            run=apply_deploy,
        ),
        CodeActionProvider("deployment actions", (KIND,), entry_actions),
    )
