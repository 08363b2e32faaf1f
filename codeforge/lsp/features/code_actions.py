"""Code actions that carry out what codeforge.yaml declares.

Each section the platform can carry out has a `ProjectAction`: a title, a test for
whether the file asks for anything, and the coroutine that does it through catalog
operations. The action runs as the command `codeforge.projectFile.apply`.

Beside those, `databases:` entries get one action each for a backup and for applying
their migrations, the file a link to the databases pane, and every file of a git
repository "Branch database for git branch <name>" (features/databases.py). Pending
migration diagnostics on a migration file carry a quick fix that applies them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge import catalog
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.errors import lsp_error
from codeforge.lsp.features import databases, diagnostics
from codeforge.lsp.project_yaml import is_project_file
from codeforge.projectfile import ProjectFile, ProjectFileError, parse_project_file, plan_env

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
    listed = await ls.platform.call(catalog.env.LIST, {"project": project})
    plan = plan_env(project, model, getattr(listed, "items", []))
    done: list[str] = []
    for data in plan.to_set:
        try:
            await ls.platform.call(catalog.env.SET, data)
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
    ProjectAction(
        section="databases",
        title="Provision databases from codeforge.yaml (create, pool, schedule backups)",
        wanted=lambda model: bool(model.databases),
        run=databases.apply_databases,
    ),
)

_text = databases.document_text


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


def _action(title: str, command: str, argument: dict[str, Any], kind: str = KIND, **extra: Any) -> types.CodeAction:
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=[argument]), **extra
    )


def _wants(only: Sequence[Any] | None, kind: str) -> bool:
    # CodeActionKind is a str enum whose str() is "CodeActionKind.Source": compare its value.
    return not only or any(kind.startswith(str(getattr(k, "value", k))) for k in only)


def _project_file_actions(uri: str, model: ProjectFile) -> list[types.CodeAction]:
    out = [
        _action(action.title, APPLY_COMMAND, {"uri": uri, "section": action.section})
        for action in ACTIONS
        if action.wanted(model)
    ]
    for name, entry in model.databases.items():
        out.append(_action(f"Back up database `{name}`", catalog.backups.CREATE.command, {"name": name}))
        if entry.migrations:
            out.append(
                _action(
                    f"Apply migrations to `{name}` ({entry.migrations})",
                    databases.APPLY_MIGRATIONS_COMMAND,
                    {"database": name, "uri": uri},
                )
            )
    if model.databases:
        out.append(_action("Open the databases pane", catalog.panes.OPEN.command, {"pane": "databases"}))
    return out


def _migration_fixes(ls: CodeForgeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """A quick fix on a migration file that has a pending diagnostic."""
    uri = params.text_document.uri
    database = ls.migration_files.get(uri)
    if database is None:
        return []
    ours = [d for d in params.context.diagnostics if d.source == diagnostics.SOURCE and d.code == "migration-pending"]
    return [
        _action(
            f"Apply pending migrations to `{database}`",
            databases.APPLY_MIGRATIONS_COMMAND,
            {"database": database},
            kind=types.CodeActionKind.QuickFix.value,
            diagnostics=ours or None,
            is_preferred=True,
        )
    ]


def _git_action(ls: CodeForgeLanguageServer, uri: str) -> list[types.CodeAction]:
    path = to_fs_path(uri)
    found = databases.git_branch_action(Path(path)) if path else None
    if found is None:
        return []
    return [
        _action(f"Branch database for git branch {found.git_branch}", databases.BRANCH_FOR_GIT_COMMAND, {"uri": uri})
    ]


def code_actions(ls: CodeForgeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    only = params.context.only
    out: list[types.CodeAction] = []
    if _wants(only, types.CodeActionKind.QuickFix.value):
        out += _migration_fixes(ls, params)
    if not _wants(only, KIND):
        return out or None
    if is_project_file(uri):
        try:
            model = parse_project_file(ls.workspace.get_text_document(uri).source)
        except CodeForgeError:
            return out or None  # the diagnostics say what to fix first
        out += _project_file_actions(uri, model)
    out += _git_action(ls, uri)
    return out or None


def register(ls: CodeForgeLanguageServer) -> None:
    kinds = [KIND, types.CodeActionKind.QuickFix.value]

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=kinds))
    def on_code_action(ls: Any, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        return code_actions(ls, params)

    @ls.command(APPLY_COMMAND)
    async def apply_command(ls: Any, *args: Any) -> dict[str, Any]:
        return await apply(ls, args)
