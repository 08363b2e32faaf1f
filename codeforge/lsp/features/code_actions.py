"""Code actions that carry out what codeforge.yaml declares.

Each section the platform can carry out has a `ProjectAction`: a title, a test for
whether the file asks for anything, and the coroutine that does it through catalog
operations. Later capabilities (databases: "Provision database `main`") add an entry to
`ACTIONS`. The action runs as the command `codeforge.projectFile.apply`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge.catalog import env
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.catalog.project_file import ProjectFile, ProjectFileError, parse_project_file, plan_env
from codeforge.lsp.errors import lsp_error
from codeforge.lsp.features import diagnostics
from codeforge.lsp.project_yaml import is_project_file

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["ACTIONS", "APPLY_COMMAND", "KIND", "ProjectAction", "apply", "register"]

APPLY_COMMAND = "codeforge.projectFile.apply"
KIND = "source.codeforge"


@dataclass(frozen=True)
class ProjectAction:
    section: str
    title: str
    wanted: Callable[[ProjectFile], bool]
    run: Callable[[CodeForgeLanguageServer, str, ProjectFile, str], Awaitable[dict[str, Any]]]


def _names(names: list[str]) -> str:
    return ", ".join(names)


async def _apply_env(ls: CodeForgeLanguageServer, uri: str, model: ProjectFile, project: str) -> dict[str, Any]:
    listed = await ls.platform.call(env.LIST, {"project": project})
    plan = plan_env(project, model, getattr(listed, "items", []))
    done: list[str] = []
    for data in plan.to_set:
        try:
            await ls.platform.call(env.SET, data)
        except CodeForgeError as exc:
            already = f"set {_names(done)}; " if done else ""
            raise type(exc)(f"{already}{data.name} failed: {exc.detail}", fix=exc.fix, errors=exc.errors) from None
        done.append(data.name)
    ls.missing_env[uri] = set(plan.missing)
    parts = [f"set {len(done)} variable(s)" + (f" ({_names(done)})" if done else "")]
    if plan.unchanged:
        parts.append(f"{len(plan.unchanged)} already up to date")
    if plan.conflicts:
        parts.append(f"not changed, secret on the platform: {_names(plan.conflicts)}")
    if plan.missing:
        parts.append(f"still to set on the platform: {_names(plan.missing)}")
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=f"codeforge.yaml ({project}): {'; '.join(parts)}")
    )
    return {
        "project": project,
        "set": done,
        "unchanged": plan.unchanged,
        "conflicts": plan.conflicts,
        "missing": plan.missing,
    }


ACTIONS: tuple[ProjectAction, ...] = (
    ProjectAction(
        section="env",
        title="Set environment variables from codeforge.yaml",
        wanted=lambda model: any(e.value is not None for e in model.env.values()),
        run=_apply_env,
    ),
)


def _text(ls: CodeForgeLanguageServer, uri: str) -> str:
    # The editor's buffer when open (what the user sees), else the file on disk.
    if uri in ls.workspace.text_documents:
        return ls.workspace.get_text_document(uri).source
    path = to_fs_path(uri)
    if path is None:
        raise BadInput(f"cannot read {uri}", fix="open codeforge.yaml in the editor first")
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {path} ({type(exc).__name__})", fix="check that the file exists") from None


async def apply(ls: CodeForgeLanguageServer, args: tuple[Any, ...]) -> dict[str, Any]:
    try:
        arg = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
        if arg is None or not isinstance(arg.get("uri"), str):
            raise BadInput(
                f"{APPLY_COMMAND} takes one argument {{uri, section}}",
                fix='pass {"uri": "file:///…/codeforge.yaml", "section": "env"}',
            )
        section = arg.get("section", "env")
        action = next((a for a in ACTIONS if a.section == section), None)
        if action is None:
            raise BadInput(
                f"codeforge.yaml has no action for section {section!r}",
                fix=f"use one of {', '.join(a.section for a in ACTIONS)}",
            )
        uri = arg["uri"]
        model = parse_project_file(_text(ls, uri), path=Path(to_fs_path(uri) or uri).name)
        project = model.project or ls.context_project()
        if not project:
            raise BadInput("no project to apply codeforge.yaml to", fix="add `project: <slug>` to codeforge.yaml")
        result = await action.run(ls, uri, model, project)
    except ProjectFileError as exc:
        raise lsp_error(exc) from None
    except CodeForgeError as exc:
        raise lsp_error(exc) from None
    if uri in ls.workspace.text_documents:
        diagnostics.publish(ls, uri)
    return result


def code_actions(ls: CodeForgeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    if not is_project_file(uri):
        return None
    only = params.context.only
    # CodeActionKind is a str enum whose str() is "CodeActionKind.Source": compare its value.
    if only and not any(KIND.startswith(str(getattr(kind, "value", kind))) for kind in only):
        return None
    try:
        model = parse_project_file(ls.workspace.get_text_document(uri).source)
    except CodeForgeError:
        return None  # the diagnostics say what to fix first
    return [
        types.CodeAction(
            title=action.title,
            kind=KIND,
            command=types.Command(
                title=action.title, command=APPLY_COMMAND, arguments=[{"uri": uri, "section": action.section}]
            ),
        )
        for action in ACTIONS
        if action.wanted(model)
    ]


def register(ls: CodeForgeLanguageServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[KIND]))
    def on_code_action(ls: Any, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        return code_actions(ls, params)

    @ls.command(APPLY_COMMAND)
    async def apply_command(ls: Any, *args: Any) -> dict[str, Any]:
        return await apply(ls, args)
