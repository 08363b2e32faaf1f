"""codeforge.yaml `databases:` in the editor: carry out what it declares, branch the
database for the git branch, apply migrations, and show pending migrations as diagnostics
on the migration files.

Everything goes through catalog operations on the platform client; long ones (branch,
backup, apply) follow their job as `$/progress` like any other command. The planning and
the diagnostics' words come from `codeforge.catalog.databases` (`plan_databases`,
`branch_name_for`, `migration_notes`), so the CLI and the editor agree.

Commands (each takes one object):

- `codeforge.projectFile.apply {uri, section: "databases"}`: provision the missing
  databases, pool the `pooled: true` ones, schedule the declared backups.
- `codeforge.databases.branchForGit {uri?}`: branch the project's database for the git
  branch checked out where `uri` is (default: the workspace), pointing its URL variable
  at the branch.
- `codeforge.databases.applyMigrations {database, uri?}`: send the entry's migration
  folder's `*.sql` files to `migrations.apply`, then refresh their diagnostics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pydantic import BaseModel
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path

from codeforge import catalog
from codeforge.catalog import JobRef, Operation
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.errors import lsp_error
from codeforge.lsp.git import read_head
from codeforge.lsp.jobs import follow_job
from codeforge.lsp.project_yaml import is_project_file
from codeforge.projectfile import ProjectFile, ProjectFileError, parse_project_file
from codeforge.projectfile import databases as projectfile_databases

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = [
    "APPLY_MIGRATIONS_COMMAND",
    "BRANCH_FOR_GIT_COMMAND",
    "GitBranchAction",
    "MigrationFolder",
    "apply_databases",
    "apply_migrations",
    "branch_for_git",
    "document_text",
    "folder_problems",
    "git_branch_action",
    "migration_folders",
    "refresh_migrations",
    "register",
]

log = logging.getLogger(__name__)

BRANCH_FOR_GIT_COMMAND = "codeforge.databases.branchForGit"
APPLY_MIGRATIONS_COMMAND = "codeforge.databases.applyMigrations"
SOURCE = "codeforge"
_ALEMBIC_MARKERS = ("alembic.ini", "env.py")


# -- reading the project ------------------------------------------------------------------------


def document_text(ls: CodeForgeLanguageServer, uri: str) -> str:
    """The editor's buffer when open (what the user sees), else the file on disk."""
    if uri in ls.workspace.text_documents:
        return ls.workspace.get_text_document(uri).source
    path = to_fs_path(uri)
    if path is None:
        raise BadInput(f"cannot read {uri}", fix="open the file in the editor first")
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path} ({type(exc).__name__})", fix="check that the file exists") from None


def _project_file_uri(ls: CodeForgeLanguageServer, uri: str | None) -> str:
    """The codeforge.yaml a command works with: `uri` when it is one, else the
    workspace's (at its root or above, as the CLI finds it)."""
    if uri and is_project_file(uri):
        return uri
    root = ls.workspace_root()
    found = ls.projects.project_file(root) if root is not None else None
    if found is None:
        raise BadInput("this workspace has no codeforge.yaml", fix="add one at the workspace root with a `databases:` key")
    return str(from_fs_path(str(found)))


def _load(ls: CodeForgeLanguageServer, uri: str) -> tuple[ProjectFile, str, Path]:
    """The parsed project file, its project and its folder (where relative paths start)."""
    path = Path(to_fs_path(uri) or uri)
    model = parse_project_file(document_text(ls, uri), path=path.name)
    project = model.project or ls.context_project()
    if not project:
        raise BadInput("no project to work in", fix="add `project: <slug>` to codeforge.yaml")
    return model, project, path.parent


async def _call(ls: CodeForgeLanguageServer, op: Operation[Any, Any], data: BaseModel | dict[str, Any]) -> Any:
    """One operation's output as JSON; a job is followed to its end with `$/progress`."""
    out = await ls.platform.call(op, data)
    if isinstance(out, JobRef):
        return await follow_job(ls, op, out)
    return out.model_dump(mode="json")


def _info(ls: CodeForgeLanguageServer, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))


# -- `projectFile.apply` section "databases" ----------------------------------------------------


async def apply_databases(ls: CodeForgeLanguageServer, uri: str, model: ProjectFile, project: str) -> dict[str, Any]:
    """Provision what is missing, pool what should be pooled, schedule declared backups.

    A database that lives on another engine than the file names is a conflict: moving
    it is not something a code action does silently."""
    listed = await ls.platform.call(catalog.databases.LIST, {"project": project})
    schedules = await ls.platform.call(catalog.backups.SCHEDULES, {"project": project})
    plan = projectfile_databases.plan_databases(project, model.databases, getattr(listed, "items", []), getattr(schedules, "items", []))
    done: dict[str, list[str]] = {"created": [], "pooled": [], "scheduled": []}
    steps: list[tuple[str, Operation[Any, Any], list[Any]]] = [
        ("created", catalog.databases.CREATE, list(plan.to_create)),
        ("pooled", catalog.databases.POOL, list(plan.to_pool)),
        ("scheduled", catalog.backups.SCHEDULE, list(plan.to_schedule)),
    ]
    for key, op, inputs in steps:
        for data in inputs:
            try:
                await _call(ls, op, data)
            except CodeForgeError as exc:
                so_far = "; ".join(f"{k} {', '.join(v)}" for k, v in done.items() if v)
                prefix = f"{so_far}; " if so_far else ""
                raise type(exc)(f"{prefix}{op.name} {data.name} failed: {exc.detail}", fix=exc.fix,
                                errors=exc.errors) from None
            done[key].append(data.name)
    parts = [f"{k} {', '.join(v)}" for k, v in done.items() if v] or ["nothing to do"]
    if plan.unchanged:
        parts.append(f"{len(plan.unchanged)} already as declared")
    if plan.conflicts:
        parts.append(f"on another engine than declared, not moved: {', '.join(plan.conflicts)}")
    _info(ls, f"codeforge.yaml databases ({project}): {'; '.join(parts)}")
    return {"project": project, **done, "unchanged": plan.unchanged, "conflicts": plan.conflicts}


# -- branch for the git branch ------------------------------------------------------------------


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


def _branch_source(model: ProjectFile, listed: list[catalog.databases.DatabaseInfo]) -> tuple[str, str]:
    """(database to branch, variable to point at the branch): the codeforge.yaml entry
    holding DATABASE_URL (else its first), else the project's one top-level database."""
    if model.databases:
        name, entry = next(((n, e) for n, e in model.databases.items() if e.env == "DATABASE_URL"),
                           next(iter(model.databases.items())))
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
            "which database to branch is not clear: " + (
                f"the project has {len(roots)} ({', '.join(d.name for d in roots)})" if roots
                else "the project has none"),
            fix="declare it under `databases:` in codeforge.yaml (e.g. `databases: {main: {}}`) and provision it",
        )
    return holder.name, holder.env_var or "DATABASE_URL"


async def branch_for_git(ls: CodeForgeLanguageServer, arg: dict[str, Any]) -> dict[str, Any]:
    uri = arg.get("uri")
    if uri is not None and not isinstance(uri, str):
        raise BadInput(f"{BRANCH_FOR_GIT_COMMAND}: `uri` must be a string", fix="pass a file URI, or leave it out")
    where = Path(to_fs_path(uri) or ".") if uri else ls.workspace_root()
    if where is None:
        raise BadInput("no file or workspace to find the git repository from", fix="pass {uri: <a file's URI>}")
    head = read_head(where)
    if head is None:
        raise BadInput(f"{where} is not in a git repository", fix="run it from a file inside a git working tree")
    if head.branch is None:
        raise BadInput("HEAD is detached (a commit is checked out, not a branch)",
                       fix="check out a branch (git switch -c <name>) and run it again")
    model, project, _ = _load(ls, _project_file_uri(ls, uri))
    listed = getattr(await ls.platform.call(catalog.databases.LIST, {"project": project}), "items", [])
    source, env_var = _branch_source(model, listed)
    name = projectfile_databases.branch_name_for(head.branch)
    existing = next((d for d in listed if d.name == name), None)
    result: dict[str, Any]
    if existing is None:
        data = catalog.databases.BranchInput(project=project, source=source, name=name, env_var=env_var)
        result = await _call(ls, catalog.databases.BRANCH, data)
        _info(ls, f"Database branch `{name}` of `{source}` made ({result.get('method')}); {env_var} points at it")
        return result
    # Back on a git branch that has its database already (or on the one the database itself
    # serves, e.g. main): point the variable at it again.
    if name != source and not _descends_from(existing, source, listed):
        raise BadInput(f"project {project} has a database `{name}` that is not a branch of `{source}`",
                       fix=f"rename the git branch, or delete or rename database `{name}`")
    if existing.env_var == env_var:
        _info(ls, f"{env_var} already points at `{name}` (git branch {head.branch})")
        return existing.model_dump(mode="json")
    result = await _call(ls, catalog.databases.USE, catalog.databases.UseInput(project=project, name=name, env_var=env_var))
    _info(ls, f"{env_var} points at `{name}` again (git branch {head.branch})")
    return result


def _descends_from(database: catalog.databases.DatabaseInfo, ancestor: str, listed: list[catalog.databases.DatabaseInfo]) -> bool:
    by_name = {d.name: d for d in listed}
    parent = database.parent
    for _ in listed:  # bounded: a parent chain is never longer than the list
        if parent is None or parent == ancestor or parent not in by_name:
            break
        parent = by_name[parent].parent
    return parent == ancestor


# -- migrations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationFolder:
    database: str
    folder: Path
    files: list[Path]


def migration_folders(model: ProjectFile, base: Path) -> list[MigrationFolder]:
    """The SQL migration folders codeforge.yaml declares that exist inside the project.

    Alembic projects are applied on the platform host (`path`, admin only), not from the
    editor, so they get no per-file diagnostics here."""
    out = []
    for name, entry in model.databases.items():
        if not entry.migrations:
            continue
        folder = (base / entry.migrations).resolve()
        if not folder.is_dir() or not folder.is_relative_to(base.resolve()):
            continue
        if any((folder / marker).exists() for marker in _ALEMBIC_MARKERS):
            continue
        out.append(MigrationFolder(name, folder, sorted(folder.glob("*.sql"))))
    return out


def folder_problems(model: ProjectFile, base: Path) -> dict[str, str]:
    """Per database: why its `migrations` folder cannot be used from the editor, if so."""
    out: dict[str, str] = {}
    for name, entry in model.databases.items():
        if not entry.migrations:
            continue
        folder = (base / entry.migrations).resolve()
        if not folder.is_relative_to(base.resolve()):
            out[name] = f"`{entry.migrations}` is outside the project: give a folder under the one codeforge.yaml is in"
        elif not folder.is_dir():
            out[name] = f"there is no folder `{entry.migrations}` next to codeforge.yaml: create it, or fix the path"
    return out


def _files_input(ls: CodeForgeLanguageServer, folder: MigrationFolder) -> list[dict[str, str]]:
    return [{"name": p.name, "content": document_text(ls, str(from_fs_path(str(p))))} for p in folder.files]


def _publish(ls: CodeForgeLanguageServer, uri: str, diagnostics: list[types.Diagnostic]) -> None:
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


async def refresh_migrations(ls: CodeForgeLanguageServer, project_uri: str | None = None) -> None:
    """Ask the platform about every declared migration folder (one `migrations.status`
    each) and publish a diagnostic on each pending or drifted file; clear files that are
    clean now. An unreachable platform or a database not provisioned yet adds nothing."""
    try:
        uri = _project_file_uri(ls, project_uri)
        model, project, base = _load(ls, uri)
    except CodeForgeError:
        return  # no or broken codeforge.yaml: its own diagnostics say so
    published: dict[str, str] = {}
    for folder in migration_folders(model, base):
        try:
            files = _files_input(ls, folder)
            status = await ls.platform.call(catalog.migrations.STATUS,
                                            {"project": project, "name": folder.database, "files": files})
        except CodeForgeError as exc:
            log.info("no migration diagnostics for %s: %s", folder.database, exc.message)
            continue
        if not isinstance(status, catalog.migrations.MigrationStatusInfo):
            continue
        notes = projectfile_databases.migration_notes(status)
        for path in folder.files:
            note = notes.get(path.name)
            file_uri = str(from_fs_path(str(path)))
            if note is None:
                continue
            severity, message = note
            published[file_uri] = folder.database
            _publish(ls, file_uri, [types.Diagnostic(
                # The whole first line: the file, not a statement, is pending.
                range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=1, character=0)),
                message=message,
                severity=types.DiagnosticSeverity.Warning if severity == "warning"
                else types.DiagnosticSeverity.Information,
                source=SOURCE,
                code="migration-pending" if severity != "warning" else "migration-drifted",
                data={"database": folder.database},
            )])
    for stale in set(ls.migration_files) - set(published):
        _publish(ls, stale, [])
    ls.migration_files = published


def in_migration_folder(ls: CodeForgeLanguageServer, uri: str) -> bool:
    """Whether a saved or opened file may change a migration diagnostic."""
    if uri in ls.migration_files:
        return True
    path = to_fs_path(uri)
    if not path or not path.endswith(".sql"):
        return False
    try:
        project_uri = _project_file_uri(ls, None)
        model, _, base = _load(ls, project_uri)
    except CodeForgeError:
        return False
    return any(Path(path).resolve().parent == f.folder for f in migration_folders(model, base))


async def apply_migrations(ls: CodeForgeLanguageServer, arg: dict[str, Any]) -> dict[str, Any]:
    database = arg.get("database")
    uri = arg.get("uri")
    if not isinstance(database, str) or (uri is not None and not isinstance(uri, str)):
        raise BadInput(f"{APPLY_MIGRATIONS_COMMAND} takes one argument {{database, uri?}}",
                       fix='pass {"database": "main"} (the name under `databases:` in codeforge.yaml)')
    project_uri = _project_file_uri(ls, uri)
    model, project, base = _load(ls, project_uri)
    entry = model.databases.get(database)
    if entry is None or not entry.migrations:
        raise BadInput(f"codeforge.yaml declares no migrations folder for database `{database}`",
                       fix=f"add `migrations: <folder>` under `databases: {database}:`")
    folder = next((f for f in migration_folders(model, base) if f.database == database), None)
    if folder is None:
        raise BadInput(f"migrations folder `{entry.migrations}` of `{database}` is not a folder of *.sql files "
                       "inside the project",
                       fix="create it next to codeforge.yaml, or apply an Alembic project with "
                           "`codeforge migrations apply --path`")
    if not folder.files:
        raise BadInput(f"`{entry.migrations}` has no *.sql files", fix="add a migration such as 001_init.sql")
    result: dict[str, Any] = await _call(ls, catalog.migrations.APPLY,
                                         {"project": project, "name": database, "files": _files_input(ls, folder)})
    await refresh_migrations(ls, project_uri)
    _info(ls, f"Applied {len(result.get('applied', []))} migration(s) to `{database}`")
    return result


# -- registration -------------------------------------------------------------------------------


def _one_object(command: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if not args or (len(args) == 1 and args[0] is None):
        return {}
    if len(args) == 1 and isinstance(args[0], dict):
        return dict(args[0])
    raise BadInput(f"{command} takes one argument, an object", fix="pass one object, e.g. {}")


async def _guarded(coro_fn: Any, ls: CodeForgeLanguageServer, command: str, args: tuple[Any, ...]) -> Any:
    try:
        return await coro_fn(ls, _one_object(command, args))
    except ProjectFileError as exc:
        raise lsp_error(exc) from None
    except CodeForgeError as exc:
        raise lsp_error(exc) from None
    except JsonRpcException:
        raise


def register(ls: CodeForgeLanguageServer) -> None:
    @ls.command(BRANCH_FOR_GIT_COMMAND)
    async def branch_command(ls: Any, *args: Any) -> Any:
        return await _guarded(branch_for_git, ls, BRANCH_FOR_GIT_COMMAND, args)

    @ls.command(APPLY_MIGRATIONS_COMMAND)
    async def migrations_command(ls: Any, *args: Any) -> Any:
        return await _guarded(apply_migrations, ls, APPLY_MIGRATIONS_COMMAND, args)
