"""The databases capability in the editor: codeforge.yaml's `databases:` section.

- diagnostics: a database declared but not provisioned (quick fix "Provision database
  `X`"), an engine the platform has not registered, a `migrations:` folder that is not
  there (`provision.py`); pending and drifted migrations on the migration files, with the
  quick fix that applies them (`migrations.py`);
- source actions on codeforge.yaml: provision the section (`codeforge.projectFile.apply
  {uri, section: "databases"}`), back up each database, apply each one's migrations, open
  the databases pane; in any file of a git working tree, "Branch database for git branch
  <name>" (`git_branch.py`).

Everything goes through catalog operations on the platform client; long ones (branch,
backup, apply) follow their job as `$/progress` like any other command. The planning and
the diagnostics' words come from `codeforge.projectfile.databases`, so the CLI and the
editor agree.
"""

from __future__ import annotations

from lsprotocol import types

from codeforge import catalog
from codeforge.lsp.capabilities.databases import git_branch, migrations, provision
from codeforge.lsp.contributions import (
    CodeActionProvider,
    CodeActionRequest,
    Contributions,
    DocumentSubscriber,
    ProjectAction,
    ProjectFileCheck,
)
from codeforge.lsp.features.code_actions import KIND, QUICKFIX, action
from codeforge.lsp.session import CodeForgeSession

__all__ = ["contribute"]


def _file_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    model = request.project
    if model is None or not model.databases:
        return []
    out = []
    for name, entry in model.databases.items():
        out.append(action(f"Back up database `{name}`", catalog.backups.CREATE.command, {"name": name}))
        if entry.migrations:
            out.append(
                action(
                    f"Apply migrations to `{name}` ({entry.migrations})",
                    migrations.APPLY_MIGRATIONS_COMMAND,
                    {"database": name, "uri": request.uri},
                )
            )
    out.append(action("Open the databases pane", catalog.panes.OPEN.command, {"pane": "databases"}))
    return out


def contribute(c: Contributions) -> None:
    c.add(
        ProjectFileCheck("databases on the platform", provision.diagnose, provision.refresh, provision.forget),
        ProjectAction(
            section="databases",
            title="Provision databases from codeforge.yaml (create, pool, schedule backups)",
            wanted=lambda model: bool(model.databases),
            run=provision.apply_databases,
        ),
        DocumentSubscriber(
            "migration diagnostics",
            migrations.on_document,
            events=frozenset(("open", "save")),
            wants=migrations.wants_document,
        ),
        CodeActionProvider("database quick fixes", (QUICKFIX,), provision.provision_fixes),
        CodeActionProvider("migration quick fixes", (QUICKFIX,), migrations.migration_fixes),
        CodeActionProvider("database actions", (KIND,), _file_actions),
        CodeActionProvider("git branch database", (KIND,), git_branch.git_actions),
        git_branch.branch_for_git,
        migrations.apply_migrations,
    )
