""" "Branch database for git branch <name>": a source action in every file of a git working
tree, and the command `codeforge.databases.branchForGit {uri?}` it runs.

The command branches the project's database for the git branch checked out where `uri`
is (default: the workspace) and points its URL variable at the branch; back on a git
branch that has its database already, it points the variable at it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge import catalog
from codeforge.catalog.errors import BadInput
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import CodeActionRequest
from codeforge.lsp.features.code_actions import action
from codeforge.lsp.git import read_head
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.reader import read_project
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import ProjectFile
from codeforge.projectfile import databases as projectfile_databases

__all__ = ["BRANCH_FOR_GIT_COMMAND", "GitBranchAction", "branch_for_git", "git_actions", "git_branch_action"]

BRANCH_FOR_GIT_COMMAND = "codeforge.databases.branchForGit"


@dataclass(frozen=True)
class GitBranchAction:
    git_branch: str
    database_branch: str


def git_branch_action(start: Path) -> GitBranchAction | None:
    """What the "Branch database for git branch" action would do from here; None outside a
    git repository or on a detached HEAD."""
    head = read_head(start)
    if head is None or head.branch is None:
        return None
    return GitBranchAction(head.branch, projectfile_databases.branch_name_for(head.branch))


def git_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    path = to_fs_path(request.uri)
    found = git_branch_action(Path(path)) if path else None
    if found is None:
        return []
    return [action(f"Branch database for git branch {found.git_branch}", BRANCH_FOR_GIT_COMMAND, {"uri": request.uri})]


def _branch_source(model: ProjectFile, listed: list[catalog.databases.DatabaseInfo]) -> tuple[str, str]:
    """(database to branch, variable to point at the branch): the codeforge.yaml entry
    holding DATABASE_URL (else its first), else the project's one top-level database."""
    if model.databases:
        name, entry = next(
            ((n, e) for n, e in model.databases.items() if e.env == "DATABASE_URL"),
            next(iter(model.databases.items())),
        )
        return name, entry.env
    roots = [d for d in listed if d.parent is None]
    by_name = {d.name: d for d in listed}
    # The database whose URL the app uses: a branch holding DATABASE_URL stands for its root.
    holder = next((d for d in listed if d.env_var == "DATABASE_URL"), None)
    while holder is not None and holder.parent in by_name:
        holder = by_name[holder.parent]
    if holder is None and len(roots) == 1:
        holder = roots[0]
    if holder is None:
        raise BadInput(
            "which database to branch is not clear: "
            + (
                f"the project has {len(roots)} ({', '.join(d.name for d in roots)})"
                if roots
                else "the project has none"
            ),
            fix="declare it under `databases:` in codeforge.yaml (e.g. `databases: {main: {}}`) and provision it",
        )
    return holder.name, holder.env_var or "DATABASE_URL"


def _descends_from(
    database: catalog.databases.DatabaseInfo, ancestor: str, listed: list[catalog.databases.DatabaseInfo]
) -> bool:
    by_name = {d.name: d for d in listed}
    parent = database.parent
    for _ in listed:  # bounded: a parent chain is never longer than the list
        if parent is None or parent == ancestor or parent not in by_name:
            break
        parent = by_name[parent].parent
    return parent == ancestor


class BranchForGitArguments(CommandArguments):
    uri: str | None = None  # a file in the git working tree (default: the workspace)


@lsp_command(BRANCH_FOR_GIT_COMMAND, BranchForGitArguments)
async def branch_for_git(ls: CodeForgeSession, args: BranchForGitArguments) -> dict[str, Any]:
    uri = args.uri
    where = Path(to_fs_path(uri) or ".") if uri else ls.workspace_root()
    if where is None:
        raise BadInput("no file or workspace to find the git repository from", fix="pass {uri: <a file's URI>}")
    head = read_head(where)
    if head is None:
        raise BadInput(f"{where} is not in a git repository", fix="run it from a file inside a git working tree")
    if head.branch is None:
        raise BadInput(
            "HEAD is detached (a commit is checked out, not a branch)",
            fix="check out a branch (git switch -c <name>) and run it again",
        )
    doc = read_project(ls, uri)
    project = doc.project
    listed = getattr(await ls.platform.call(catalog.databases.LIST, {"project": project}), "items", [])
    source, env_var = _branch_source(doc.model, listed)
    name = projectfile_databases.branch_name_for(head.branch)
    existing = next((d for d in listed if d.name == name), None)
    result: dict[str, Any]
    if existing is None:
        data = catalog.databases.BranchInput(project=project, source=source, name=name, env_var=env_var)
        result = await call_operation(ls, catalog.databases.BRANCH, data)
        ls.info(f"Database branch `{name}` of `{source}` made ({result.get('method')}); {env_var} points at it")
        return result
    # Back on a git branch that has its database already (or on the one the database itself
    # serves, e.g. main): point the variable at it again.
    if name != source and not _descends_from(existing, source, listed):
        raise BadInput(
            f"project {project} has a database `{name}` that is not a branch of `{source}`",
            fix=f"rename the git branch, or delete or rename database `{name}`",
        )
    if existing.env_var == env_var:
        ls.info(f"{env_var} already points at `{name}` (git branch {head.branch})")
        return existing.model_dump(mode="json")
    result = await call_operation(
        ls, catalog.databases.USE, catalog.databases.UseInput(project=project, name=name, env_var=env_var)
    )
    ls.info(f"{env_var} points at `{name}` again (git branch {head.branch})")
    return result
