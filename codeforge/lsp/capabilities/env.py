"""The env capability in the editor: codeforge.yaml's `env:` section.

- a warning on each variable declared without a value that the platform does not have
  (one `env.list` on open and save), with the quick fix "Set `NAME` on the platform",
  which runs `codeforge.env.set {name, secret}` (the editor asks for the value);
- the section's action "Set environment variables from codeforge.yaml": one `env.list`,
  then `env.set` for each plain value that differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from codeforge import catalog
from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.contributions import (
    ApplyContext,
    CodeActionProvider,
    CodeActionRequest,
    Contributions,
    ProjectAction,
    ProjectFileCheck,
    ProjectFileView,
)
from codeforge.lsp.features.code_actions import QUICKFIX, action
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import plan_env

__all__ = ["NOT_SET", "contribute"]

log = logging.getLogger(__name__)

# Diagnostic code of "declared here but not set on the platform"; its data is {name, secret}.
NOT_SET = "env-not-set"


@dataclass
class _EnvState:
    # codeforge.yaml uri -> variables it declares without a value that the platform lacks.
    missing: dict[str, set[str]] = field(default_factory=dict)


def _diagnose(ls: CodeForgeSession, view: ProjectFileView) -> list[types.Diagnostic]:
    missing = ls.state(_EnvState).missing.get(view.uri, set())
    if view.model is None or not missing:
        return []
    out = []
    for name, entry in view.model.env.items():
        if entry.value is None and name in missing:
            how = f"codeforge env set {name} --secret" if entry.secret else f"codeforge env set {name} VALUE"
            out.append(
                view.diagnostic(
                    ("env", name),
                    f"`{name}` is declared here but not set on the platform: set it with `{how}`, "
                    "or with the quick fix",
                    key=True,
                    code=NOT_SET,
                    data={"name": name, "secret": entry.secret},
                )
            )
    return out


async def _refresh(ls: CodeForgeSession, view: ProjectFileView) -> None:
    state = ls.state(_EnvState)
    state.missing.pop(view.uri, None)
    model = view.model
    if model is None or not any(e.value is None for e in model.env.values()):
        return
    try:
        project = model.project or ls.context_project()
        if not project:
            return
        listed = await ls.platform.call(catalog.env.LIST, {"project": project})
    except CodeForgeError as exc:
        log.info("not checking codeforge.yaml's env against the platform: %s", exc.message)
        return
    have = {item.name for item in getattr(listed, "items", [])}
    state.missing[view.uri] = {n for n, e in model.env.items() if e.value is None and n not in have}


def _forget(ls: CodeForgeSession, uri: str) -> None:
    ls.state(_EnvState).missing.pop(uri, None)


def _quick_fixes(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    out = []
    for diagnostic in request.ours(NOT_SET):
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        name = data.get("name")
        if not isinstance(name, str):
            continue
        out.append(
            action(
                f"Set `{name}` on the platform" + (" (secret)" if data.get("secret") else ""),
                catalog.env.SET.command,
                {"name": name, "secret": bool(data.get("secret"))},
                kind=QUICKFIX,
                diagnostics=[diagnostic],
                is_preferred=True,
            )
        )
    return out


def _names(names: list[str]) -> str:
    return ", ".join(names)


async def _apply(ls: CodeForgeSession, ctx: ApplyContext) -> dict[str, Any]:
    listed = await ls.platform.call(catalog.env.LIST, {"project": ctx.project})
    plan = plan_env(ctx.project, ctx.model, getattr(listed, "items", []))
    to_set = [d for d in plan.to_set if ctx.names is None or d.name in ctx.names]
    done: list[str] = []
    for i, data in enumerate(to_set):
        ctx.report(f"setting {data.name}", i / len(to_set))
        try:
            await ls.platform.call(catalog.env.SET, data)
        except CodeForgeError as exc:
            already = f"set {_names(done)}; " if done else ""
            raise type(exc)(f"{already}{data.name} failed: {exc.detail}", fix=exc.fix, errors=exc.errors) from None
        done.append(data.name)
    parts = [f"set {len(done)} variable(s)" + (f" ({_names(done)})" if done else "")]
    if plan.unchanged:
        parts.append(f"{len(plan.unchanged)} already up to date")
    if plan.conflicts:
        parts.append(f"not changed, secret on the platform: {_names(plan.conflicts)}")
    if plan.missing:
        parts.append(f"still to set on the platform: {_names(plan.missing)}")
    ls.info(f"codeforge.yaml ({ctx.project}): {'; '.join(parts)}")
    return {
        "project": ctx.project,
        "set": done,
        "unchanged": plan.unchanged,
        "conflicts": plan.conflicts,
        "missing": plan.missing,
    }


def contribute(c: Contributions) -> None:
    c.add(
        ProjectFileCheck("env variables on the platform", _diagnose, _refresh, _forget),
        CodeActionProvider("env quick fixes", (QUICKFIX,), _quick_fixes),
        ProjectAction(
            section="env",
            title="Set environment variables from codeforge.yaml",
            wanted=lambda model: any(e.value is not None for e in model.env.values()),
            run=_apply,
        ),
    )
