"""Pending migrations as diagnostics on the migration files, and applying them.

codeforge.yaml's `databases: <name>: migrations: <folder>` names a folder of `*.sql` files.
When codeforge.yaml or one of those files is opened or saved, one `migrations.status` per
folder gives an Information diagnostic on each pending file and a Warning on each file
changed since it was applied; the quick fix "Apply pending migrations to `X`" and the
command `codeforge.databases.applyMigrations {database, uri?}` send the folder's files
to `migrations.apply`, then refresh the diagnostics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge import catalog
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import DIAGNOSTIC_SOURCE, CodeActionRequest, DocumentEvent
from codeforge.lsp.features.code_actions import QUICKFIX, action
from codeforge.lsp.features.layers import publish_layer
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.project_yaml import is_project_file
from codeforge.lsp.reader import read_project, read_text, uri_of
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import ProjectFile
from codeforge.projectfile import databases as projectfile_databases

__all__ = [
    "APPLY_MIGRATIONS_COMMAND",
    "PENDING",
    "MigrationFolder",
    "apply_migrations",
    "folder_problems",
    "migration_fixes",
    "migration_folders",
    "on_document",
    "refresh_migrations",
    "wants_document",
]

log = logging.getLogger(__name__)

APPLY_MIGRATIONS_COMMAND = "codeforge.databases.applyMigrations"
PENDING = "migration-pending"
DRIFTED = "migration-drifted"
_ALEMBIC_MARKERS = ("alembic.ini", "env.py")


@dataclass
class _MigrationState:
    # Migration file uri -> database, for files that have a pending/drifted diagnostic.
    files: dict[str, str] = field(default_factory=dict)


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


def _files_input(ls: CodeForgeSession, folder: MigrationFolder) -> list[dict[str, str]]:
    return [{"name": p.name, "content": read_text(ls, uri_of(p))} for p in folder.files]


def _publish(ls: CodeForgeSession, uri: str, diagnostics: list[types.Diagnostic]) -> None:
    publish_layer(ls, uri, "databases.migrations", diagnostics)  # beside other owners' on the file


async def refresh_migrations(ls: CodeForgeSession, project_uri: str | None = None) -> None:
    """Ask the platform about every declared migration folder (one `migrations.status`
    each) and publish a diagnostic on each pending or drifted file; clear files that are
    clean now. An unreachable platform or a database not provisioned yet adds nothing."""
    try:
        doc = read_project(ls, project_uri)
    except CodeForgeError:
        return  # no or broken codeforge.yaml: its own diagnostics say so
    state = ls.state(_MigrationState)
    published: dict[str, str] = {}
    for folder in migration_folders(doc.model, doc.folder):
        try:
            files = _files_input(ls, folder)
            status = await ls.platform.call(
                catalog.migrations.STATUS, {"project": doc.project, "name": folder.database, "files": files}
            )
        except CodeForgeError as exc:
            log.info("no migration diagnostics for %s: %s", folder.database, exc.message)
            continue
        if not isinstance(status, catalog.migrations.MigrationStatusInfo):
            continue
        notes = projectfile_databases.migration_notes(status)
        for path in folder.files:
            note = notes.get(path.name)
            if note is None:
                continue
            severity, message = note
            file_uri = uri_of(path)
            published[file_uri] = folder.database
            drifted = severity == "warning"
            _publish(
                ls,
                file_uri,
                [
                    types.Diagnostic(
                        # The whole first line: the file, not a statement, is pending.
                        range=types.Range(
                            start=types.Position(line=0, character=0), end=types.Position(line=1, character=0)
                        ),
                        message=message,
                        severity=types.DiagnosticSeverity.Warning if drifted else types.DiagnosticSeverity.Information,
                        source=DIAGNOSTIC_SOURCE,
                        code=DRIFTED if drifted else PENDING,
                        data={"database": folder.database},
                    )
                ],
            )
    for stale in set(state.files) - set(published):
        _publish(ls, stale, [])
    state.files = published


def wants_document(ls: CodeForgeSession, uri: str) -> bool:
    """codeforge.yaml, or a file that may change a migration diagnostic."""
    if is_project_file(uri) or uri in ls.state(_MigrationState).files:
        return True
    path = to_fs_path(uri)
    if not path or not path.endswith(".sql"):
        return False
    try:
        doc = read_project(ls)
    except CodeForgeError:
        return False
    return any(Path(path).resolve().parent == f.folder for f in migration_folders(doc.model, doc.folder))


async def on_document(ls: CodeForgeSession, event: DocumentEvent) -> None:
    # Refreshed when codeforge.yaml or one of the migration files is opened or saved.
    await refresh_migrations(ls, event.uri if is_project_file(event.uri) else None)


def migration_fixes(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    """A quick fix on a migration file that has a pending diagnostic."""
    database = ls.state(_MigrationState).files.get(request.uri)
    if database is None:
        return []
    return [
        action(
            f"Apply pending migrations to `{database}`",
            APPLY_MIGRATIONS_COMMAND,
            {"database": database},
            kind=QUICKFIX,
            diagnostics=request.ours(PENDING) or None,
            is_preferred=True,
        )
    ]


class ApplyMigrationsArguments(CommandArguments):
    database: str
    uri: str | None = None  # codeforge.yaml's (default: the workspace's)


@lsp_command(APPLY_MIGRATIONS_COMMAND, ApplyMigrationsArguments)
async def apply_migrations(ls: CodeForgeSession, args: ApplyMigrationsArguments) -> dict[str, Any]:
    database = args.database
    doc = read_project(ls, args.uri)
    entry = doc.model.databases.get(database)
    if entry is None or not entry.migrations:
        raise BadInput(
            f"codeforge.yaml declares no migrations folder for database `{database}`",
            fix=f"add `migrations: <folder>` under `databases: {database}:`",
        )
    folder = next((f for f in migration_folders(doc.model, doc.folder) if f.database == database), None)
    if folder is None:
        raise BadInput(
            f"migrations folder `{entry.migrations}` of `{database}` is not a folder of *.sql files inside the project",
            fix="create it next to codeforge.yaml, or apply an Alembic project with `codeforge migrations apply --path`",
        )
    if not folder.files:
        raise BadInput(f"`{entry.migrations}` has no *.sql files", fix="add a migration such as 001_init.sql")
    result: dict[str, Any] = await call_operation(
        ls,
        catalog.migrations.APPLY,
        {"project": doc.project, "name": database, "files": _files_input(ls, folder)},
    )
    await refresh_migrations(ls, doc.uri)
    ls.info(f"Applied {len(result.get('applied', []))} migration(s) to `{database}`")
    return result
