"""textDocument/codeAction, fanned out to the capabilities' `CodeActionProvider`s, and the
command `codeforge.projectFile.apply` that carries out a section of codeforge.yaml.

Each section the platform can carry out is a capability's `ProjectAction`; this module
offers one source action per section the open file asks for ("Set environment variables
from codeforge.yaml", "Provision databases from codeforge.yaml …") and runs it with
`$/progress`. Quick fixes on diagnostics come from the providers (a diagnostic's fix is
offered with it, `diagnostics=[…]`, so the editor's light bulb shows it).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from lsprotocol import types

from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import ApplyContext, CodeActionRequest, Contributions, ProjectAction
from codeforge.lsp.features import diagnostics
from codeforge.lsp.jobs import work_progress
from codeforge.lsp.project_yaml import is_project_file
from codeforge.lsp.reader import read_model, read_project
from codeforge.lsp.session import CodeForgeSession

__all__ = ["APPLY_COMMAND", "KIND", "QUICKFIX", "ApplyArguments", "action", "apply", "code_actions", "register"]

log = logging.getLogger(__name__)

APPLY_COMMAND = "codeforge.projectFile.apply"
KIND = "source.codeforge"
QUICKFIX = types.CodeActionKind.QuickFix.value


def action(title: str, command: str, argument: dict[str, Any], kind: str = KIND, **extra: Any) -> types.CodeAction:
    """A code action that runs one of the server's commands with one object argument."""
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=[argument]), **extra
    )


class ApplyArguments(CommandArguments):
    uri: str
    section: str = "env"
    name: str | None = None  # one entry of the section only (a quick fix's)


def _action_for(ls: CodeForgeSession, section: str) -> ProjectAction:
    actions = ls.state(Contributions).project_actions
    found = next((a for a in actions if a.section == section), None)
    if found is None:
        raise BadInput(
            f"codeforge.yaml has no action for section {section!r}",
            fix=f"use one of {', '.join(a.section for a in actions)}",
        )
    return found


@lsp_command(APPLY_COMMAND, ApplyArguments)
async def apply(ls: CodeForgeSession, args: ApplyArguments) -> dict[str, Any]:
    """Carry out one section of codeforge.yaml (as the editor has it) with `$/progress`;
    then check the file against the platform again."""
    project_action = _action_for(ls, args.section)
    doc = read_project(ls, args.uri)
    async with work_progress(ls, project_action.title, f"project {doc.project}") as progress:

        def report(message: str, fraction: float | None) -> None:
            progress.report(fraction, message)

        context = ApplyContext(
            uri=args.uri,
            path=doc.path,
            model=doc.model,
            project=doc.project,
            names=frozenset([args.name]) if args.name else None,
            report=report,
        )
        result = await project_action.run(ls, context)
    await diagnostics.refresh(ls, args.uri)
    return result


def _project_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    if request.project is None or not request.wants(KIND):
        return []
    return [
        action(a.title, APPLY_COMMAND, {"uri": request.uri, "section": a.section})
        for a in ls.state(Contributions).project_actions
        if a.wanted(request.project)
    ]


def code_actions(ls: CodeForgeSession, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    model = None
    if is_project_file(uri):
        with contextlib.suppress(CodeForgeError):  # the diagnostics say what to fix first
            model = read_model(ls, uri)
    request = CodeActionRequest(uri, params, model)
    out = _project_actions(ls, request)
    for provider in ls.state(Contributions).code_actions:
        if not any(request.wants(kind) for kind in provider.kinds):
            continue
        try:
            out += [
                a
                for a in provider.provide(ls, request)
                if a.kind is None or request.wants(str(getattr(a.kind, "value", a.kind)))
            ]
        except Exception:
            log.exception("code actions of %s failed on %s", provider.name, uri)
    return out or None


def register(ls: CodeForgeSession, contributions: Contributions) -> None:
    contributions.add(apply)
    kinds = [KIND, *(k for k in contributions.code_action_kinds() if k != KIND)]

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=kinds))
    def on_code_action(ls: Any, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        return code_actions(ls, params)
