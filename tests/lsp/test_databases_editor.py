"""codeforge.yaml `databases:` in the editor, through the real `codeforge lsp` (pytest-lsp over
stdio) and a live platform whose default engine is this machine's PostgreSQL (an external
server): schema diagnostics, provisioning code actions, pending migrations as diagnostics with
a quick fix, the git-branch action and the databases pane."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.catalog import JobRef
from codeforge.catalog.errors import CodeForgeError
from codeforge.platform.databases.engines.postgres import PostgresEngine
from tests.conftest import RunningPlatform
from tests.lsp.conftest import open_document, run, shown, start_client, stop_client, wait_until
from tests.platform.databases.conftest import EXTERNAL_PG, external_pg

__all__ = ["external_pg"]  # the fixture, imported so that pytest finds it here

ENGINE = "ext"


def _call(platform: RunningPlatform, name: str, data: dict[str, Any]) -> Any:
    """A platform call outside the editor (set-up and clean-up), following a job to its end."""
    with platform.client() as client:
        out = client.call(name, data)
        if isinstance(out, JobRef):
            for _ in client.events(out.job_id):
                pass
            return client.job(out.job_id)
        return out


@pytest.fixture(scope="module")
def engine(live_platform: RunningPlatform, external_pg: PostgresEngine) -> str:
    """This machine's PostgreSQL registered as the organization's default engine."""
    job = _call(
        live_platform,
        "engines.register",
        {"name": ENGINE, "kind": "postgresql", "admin_url": EXTERNAL_PG, "default": True},
    )
    assert job.state.value == "succeeded", job.error
    return ENGINE


@pytest.fixture
def dbname(live_platform: RunningPlatform) -> Iterator[str]:
    """A database name no other run has used on the shared server; deleted afterwards."""
    name = f"t{secrets.token_hex(4)}"
    yield name
    with contextlib.suppress(CodeForgeError):  # never made (a test of bad input)
        _call(live_platform, "databases.delete", {"project": live_platform.project, "name": name, "cascade": True})


@pytest.fixture
def repo(tmp_path: Path, live_platform: RunningPlatform) -> Path:
    """A workspace that is a git working tree (HEAD only: the server reads no more)."""
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "codeforge.yaml").write_text(f"project: {live_platform.project}\n")
    return folder


@pytest.fixture
def workspace(repo: Path) -> Path:
    """The language server (tests/lsp/conftest.py's `lsp`) opens the git working tree."""
    return repo


def _save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


async def _actions(
    client: LanguageClient, uri: str, diagnostics: list[types.Diagnostic] | None = None, only: list[str] | None = None
) -> dict[str, types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),  # type: ignore[arg-type]
        )
    )
    return {a.title: a for a in found or [] if isinstance(a, types.CodeAction)}


async def _do(client: LanguageClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await run(client, action.command.command, *(action.command.arguments or []))


def _names(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


async def test_bad_databases_entries_are_diagnosed_at_their_keys(lsp: LanguageClient, repo: Path) -> None:
    text = (
        "project: demo\n"
        "databases:\n"
        "  Bad Name: {}\n"  # 2
        "  main:\n"
        "    env: 1X\n"  # 4
        "    colour: red\n"  # 5
        "    backups:\n"
        "      cron: '0 3 * * *'\n"
        "      keep_last: 0\n"  # 8
    )
    uri = open_document(lsp, repo / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    by_line = {d.range.start.line: d.message for d in lsp.diagnostics[uri]}
    assert set(by_line) == {2, 4, 5, 8}
    assert "`Bad Name` is not a valid database name" in by_line[2]
    assert "not a variable name" in by_line[4]
    assert "unknown key `colour`" in by_line[5] and "a database entry takes `engine`, `env`" in by_line[5]
    assert "should be greater than or equal to 1" in by_line[8]
    # A broken file offers no provisioning, and applying it anyway names the problems.
    assert not any(t.startswith("Provision") for t in await _actions(lsp, uri))
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "databases"})
    assert "databases.main.colour" in info.value.message
    with pytest.raises(JsonRpcInvalidParams) as unknown:
        await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "nosuch"})
    assert "use one of databases, deploy, domains, env" in unknown.value.message


async def test_completion_and_hover_follow_the_model(lsp: LanguageClient, repo: Path) -> None:
    uri = open_document(lsp, repo / "codeforge.yaml", "project: demo\ndatabases:\n  main:\n    pooled: true\n    \n")
    result = await lsp.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=4)
        )
    )
    assert isinstance(result, types.CompletionList)
    assert {i.label for i in result.items} == {"engine", "env", "migrations", "backups"}
    hover = await lsp.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=5)
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "PgBouncer" in hover.contents.value


async def test_engine_values_come_from_the_platform(lsp: LanguageClient, repo: Path, engine: str) -> None:
    uri = open_document(lsp, repo / "codeforge.yaml", "project: demo\ndatabases:\n  main:\n    engine: \n")
    result = await lsp.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=12)
        )
    )
    assert isinstance(result, types.CompletionList)
    assert engine in {i.label for i in result.items}


async def test_an_engine_the_platform_lacks_is_a_warning_until_fixed(
    lsp: LanguageClient, repo: Path, engine: str
) -> None:
    path = repo / "codeforge.yaml"
    text = (
        f"project: demo\ndatabases:\n  main:\n    engine: nosuch\n  other:\n    engine: {engine}\n    env: OTHER_URL\n"
    )
    uri = open_document(lsp, path, text)

    def engine_warnings() -> list[types.Diagnostic]:
        return [d for d in lsp.diagnostics.get(uri, []) if "is not registered" in d.message]

    await wait_until(lambda: bool(engine_warnings()))
    [warning] = engine_warnings()
    assert warning.range.start.line == 3 and warning.severity == types.DiagnosticSeverity.Warning
    assert "`nosuch`" in warning.message and "codeforge engines register nosuch" in warning.message
    # Fixed and saved: the warning goes.
    fixed = f"project: demo\ndatabases:\n  main:\n    engine: {engine}\n"
    path.write_text(fixed)
    lsp.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    _save(lsp, uri)
    await wait_until(lambda: uri in lsp.diagnostics and not engine_warnings())


async def test_provision_action_creates_the_database_and_its_variable(
    lsp: LanguageClient, repo: Path, engine: str, dbname: str, live_platform: RunningPlatform
) -> None:
    text = (
        f"project: demo\ndatabases:\n  {dbname}:\n    engine: {engine}\n    env: SHOP_DB_URL\n"
        "    backups:\n      cron: '0 3 * * *'\n      keep_last: 3\n"
    )
    uri = open_document(lsp, repo / "codeforge.yaml", text)
    actions = await _actions(lsp, uri)
    provision = actions["Provision databases from codeforge.yaml (create, pool, schedule backups)"]
    assert f"Back up database `{dbname}`" in actions and "Open the databases pane" in actions

    result = await _do(lsp, provision)
    assert result["created"] == [dbname] and result["scheduled"] == [dbname] and result["conflicts"] == []
    made = _names((await run(lsp, "codeforge.databases.list", {}))["items"])[dbname]
    assert made["engine"] == engine and made["env_var"] == "SHOP_DB_URL"
    variables = _names((await run(lsp, "codeforge.env.list", {}))["items"])
    assert "SHOP_DB_URL" in variables
    await shown(lsp, lambda m: f"created {dbname}" in m and f"scheduled {dbname}" in m)
    # Carried out already: running it again changes nothing.
    again = await _do(lsp, provision)
    assert again["created"] == [] and again["scheduled"] == [] and again["unchanged"] == [dbname]

    # The backup action is the catalog command, a job followed with $/progress.
    lsp.progress_reports.clear()
    backup = await _do(lsp, actions[f"Back up database `{dbname}`"])
    assert backup["database"] == dbname and len(backup["sha256"]) == 64
    assert lsp.progress_reports


async def test_a_database_not_provisioned_is_a_warning_with_a_quick_fix(
    lsp: LanguageClient, repo: Path, engine: str, dbname: str
) -> None:
    other = f"{dbname}x"
    text = (
        f"project: demo\ndatabases:\n  {dbname}:\n    engine: {engine}\n    env: FIX_DB_URL\n"
        f"  {other}:\n    engine: nosuch\n    env: OTHER_DB_URL\n"
    )
    path = repo / "codeforge.yaml"
    uri = open_document(lsp, path, text)

    def warnings(code: str | None = "database-not-provisioned") -> list[types.Diagnostic]:
        return [d for d in lsp.diagnostics.get(uri, ()) if d.code == code]

    await wait_until(lambda: bool(warnings()))
    [missing] = warnings()  # the one on an unknown engine says that instead
    assert missing.range.start.line == 2 and missing.severity == types.DiagnosticSeverity.Warning
    assert f"database `{dbname}` is declared here but not provisioned in project demo" in missing.message
    assert any("engine `nosuch` is not registered" in d.message for d in warnings(None))

    # Ctrl+. on it: the quick fix is attached to the diagnostic, not only a source action.
    found = await lsp.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=missing.range,
            context=types.CodeActionContext(diagnostics=[missing]),
        )
    )
    [fix] = [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    assert fix.title == f"Provision database `{dbname}`" and list(fix.diagnostics or []) == [missing]

    # Provisioning shows $/progress, like every job, and provisions that database only.
    lsp.progress_reports.clear()
    result = await _do(lsp, fix)
    assert result["created"] == [dbname]
    [token] = [t for t in lsp.progress_reports if str(t).startswith("codeforge/work/")]
    begin, *_, end = lsp.progress_reports[token]
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.title.startswith("Provision databases")
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "done"
    assert any(
        isinstance(r, types.WorkDoneProgressReport) and r.message == f"creating {dbname}"
        for r in lsp.progress_reports[token]
    )
    listed = _names((await run(lsp, "codeforge.databases.list", {}))["items"])
    assert dbname in listed and other not in listed
    await wait_until(lambda: not warnings())  # checked again once provisioned

    # A failed provisioning ends its progress with the reason.
    lsp.progress_reports.clear()
    with pytest.raises(JsonRpcException):
        await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "databases", "name": other})
    [token] = [t for t in lsp.progress_reports if str(t).startswith("codeforge/work/")]
    end = lsp.progress_reports[token][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message is not None and end.message.startswith("failed:")


async def test_provision_on_an_unknown_engine_is_refused(
    lsp: LanguageClient, repo: Path, engine: str, dbname: str
) -> None:
    uri = open_document(
        lsp,
        repo / "codeforge.yaml",
        f"project: demo\ndatabases:\n  {dbname}:\n    engine: nosuch\n    env: NOSUCH_URL\n",
    )
    with pytest.raises(JsonRpcException) as info:
        await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "databases"})
    assert "nosuch" in info.value.message and "engines list" in info.value.message
    assert dbname not in _names((await run(lsp, "codeforge.databases.list", {}))["items"])
    assert "NOSUCH_URL" not in _names((await run(lsp, "codeforge.env.list", {}))["items"])


async def test_pending_migrations_are_diagnostics_until_applied(
    lsp: LanguageClient, repo: Path, engine: str, dbname: str
) -> None:
    folder = repo / "db" / "migrations"
    folder.mkdir(parents=True)
    first, second = folder / "001_users.sql", folder / "002_orders.sql"
    first.write_text("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);\n")
    second.write_text("CREATE TABLE orders (id serial PRIMARY KEY, user_id int REFERENCES users);\n")
    text = f"project: demo\ndatabases:\n  {dbname}:\n    env: MIG_URL\n    migrations: db/migrations\n"
    (repo / "codeforge.yaml").write_text(text)
    await run(lsp, "codeforge.databases.create", {"name": dbname, "env_var": "MIG_URL"})

    uri = open_document(lsp, repo / "codeforge.yaml", text)  # opening the file asks the platform
    u1, u2 = first.as_uri(), second.as_uri()
    await wait_until(lambda: bool(lsp.diagnostics.get(u1)) and bool(lsp.diagnostics.get(u2)))
    [pending] = lsp.diagnostics[u1]
    assert pending.severity == types.DiagnosticSeverity.Information
    assert f"pending: not applied to database `{dbname}`" in pending.message

    # The quick fix on the migration file applies them and clears the diagnostics.
    fixes = await _actions(lsp, u1, diagnostics=[pending], only=["quickfix"])
    fix = fixes[f"Apply pending migrations to `{dbname}`"]
    assert fix.diagnostics and fix.kind == types.CodeActionKind.QuickFix
    applied = await _do(lsp, fix)
    assert applied["applied"] == ["001_users.sql", "002_orders.sql"] and applied["pending"] == []
    await wait_until(lambda: len(lsp.diagnostics[u1]) == 0 and len(lsp.diagnostics[u2]) == 0)

    # A new bad migration: pending once saved; applying it fails with the database's error
    # and the diagnostic stays.
    bad = open_document(lsp, folder / "003_bad.sql", "CREATE TABLE (;\n", language="sql")
    _save(lsp, bad)
    await wait_until(lambda: bool(lsp.diagnostics.get(bad)))
    actions = await _actions(lsp, uri)
    with pytest.raises(JsonRpcException) as info:
        await _do(lsp, actions[f"Apply migrations to `{dbname}` (db/migrations)"])
    assert "003_bad.sql" in info.value.message
    assert lsp.diagnostics[bad][0].severity == types.DiagnosticSeverity.Information

    # An applied file edited afterwards is drift: a warning on that file.
    (folder / "003_bad.sql").unlink()
    first.write_text("CREATE TABLE users (id bigserial PRIMARY KEY);\n")
    _save(lsp, uri)
    await wait_until(lambda: any(d.severity == types.DiagnosticSeverity.Warning for d in lsp.diagnostics.get(u1, [])))
    assert "changed since it was applied" in lsp.diagnostics[u1][0].message

    with pytest.raises(JsonRpcInvalidParams) as nofolder:
        await run(lsp, "codeforge.databases.applyMigrations", {"database": "undeclared"})
    assert "declares no migrations folder" in nofolder.value.message


async def test_branch_database_for_the_git_branch(lsp: LanguageClient, repo: Path, engine: str, dbname: str) -> None:
    text = f"project: demo\ndatabases:\n  {dbname}: {{}}\n"
    uri = open_document(lsp, repo / "codeforge.yaml", text)
    await _do(
        lsp, (await _actions(lsp, uri))["Provision databases from codeforge.yaml (create, pool, schedule backups)"]
    )

    git_branch = f"feature/Login-{secrets.token_hex(3)}"
    (repo / ".git" / "HEAD").write_text(f"ref: refs/heads/{git_branch}\n")
    app = repo / "src" / "app.py"
    app.parent.mkdir()
    app.write_text("print('hi')\n")
    # Offered in any file of the repository, as a source action.
    actions = await _actions(lsp, app.as_uri(), only=["source"])
    action = actions[f"Branch database for git branch {git_branch}"]
    lsp.progress_reports.clear()
    branch = await _do(lsp, action)
    expected = git_branch.lower().replace("/", "-")
    assert branch["name"] == expected and branch["parent"] == dbname and branch["env_var"] == "DATABASE_URL"
    assert lsp.progress_reports, "the branch job reported $/progress"
    listed = _names((await run(lsp, "codeforge.databases.list", {}))["items"])
    assert listed[expected]["env_var"] == "DATABASE_URL" and listed[dbname]["env_var"] is None

    # Again on the same git branch: nothing to do. On the git branch the database itself
    # serves, and back on the feature branch: the variable follows, nothing is copied again.
    assert (await _do(lsp, action))["name"] == expected

    async def switch_to(git: str) -> dict[str, Any]:
        (repo / ".git" / "HEAD").write_text(f"ref: refs/heads/{git}\n")
        result: dict[str, Any] = await run(lsp, "codeforge.databases.branchForGit", {"uri": app.as_uri()})
        return result

    assert (await switch_to(dbname))["name"] == dbname
    listed = _names((await run(lsp, "codeforge.databases.list", {}))["items"])
    assert listed[dbname]["env_var"] == "DATABASE_URL" and listed[expected]["env_var"] is None
    assert (await switch_to(git_branch))["name"] == expected
    listed = _names((await run(lsp, "codeforge.databases.list", {}))["items"])
    assert listed[expected]["env_var"] == "DATABASE_URL" and len(listed) == 2
    # A database of the same name that is not a branch of this one is not taken for it.
    stranger = f"x{secrets.token_hex(3)}"
    await run(lsp, "codeforge.databases.create", {"name": stranger, "env_var": "STRANGER_URL"})
    try:
        with pytest.raises(JsonRpcInvalidParams) as unrelated:
            await switch_to(stranger)
        assert f"has a database `{stranger}` that is not a branch of `{dbname}`" in unrelated.value.message
    finally:
        await run(lsp, "codeforge.databases.delete", {"name": stranger})

    (repo / ".git" / "HEAD").write_text("3f1c0ffee3f1c0ffee3f1c0ffee3f1c0ffee3f1c\n")
    assert not any(t.startswith("Branch database") for t in await _actions(lsp, app.as_uri()))
    with pytest.raises(JsonRpcInvalidParams) as detached:
        await run(lsp, "codeforge.databases.branchForGit", {"uri": app.as_uri()})
    assert "HEAD is detached" in detached.value.message


async def test_branch_action_outside_a_git_repository(lsp: LanguageClient, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "notes.txt"
    outside.parent.mkdir()
    outside.write_text("x\n")
    assert await _actions(lsp, outside.as_uri()) == {}
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.databases.branchForGit", {"uri": outside.as_uri()})
    assert "not in a git repository" in info.value.message
    with pytest.raises(JsonRpcInvalidParams):
        await run(lsp, "codeforge.databases.branchForGit", "not an object")


async def test_opening_the_databases_pane_shows_it_in_the_editor(lsp: LanguageClient) -> None:
    link = await run(lsp, "codeforge.panes.open", {"pane": "databases"})
    await wait_until(lambda: bool(lsp.shown_documents))
    [doc] = lsp.shown_documents
    assert doc.uri == link["url"] and doc.external is False and "/panes/databases?t=" in doc.uri
    # Other results open nothing, and a bad pane name is refused before anything is shown.
    await run(lsp, "codeforge.databases.list", {})
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.panes.open", {"pane": "Not A Pane"})
    assert "pane" in info.value.message
    assert len(lsp.shown_documents) == 1


async def test_a_client_without_show_document_gets_the_link_only(live_platform: RunningPlatform, repo: Path) -> None:
    bare = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True))
    client = await start_client(live_platform.env, repo, capabilities=bare)
    try:
        link = await run(client, "codeforge.panes.open", {"pane": "databases"})
        assert "/panes/databases?t=" in link["url"]
        # A showDocument request would go out right after the answer, before anything the
        # server sends for a later command: wait for the summary of one.
        await run(client, "codeforge.env.list", {})
        await shown(client, lambda m: m.startswith("List environment variables"))
        assert client.shown_documents == []
    finally:
        await stop_client(client)


async def test_a_missing_migrations_folder_is_a_warning(lsp: LanguageClient, repo: Path) -> None:
    text = "project: demo\ndatabases:\n  main:\n    migrations: db/nope\n  other:\n    migrations: ../../elsewhere\n    env: OTHER_URL\n"
    uri = open_document(lsp, repo / "codeforge.yaml", text)

    def folder_warnings() -> list[types.Diagnostic]:
        # The databases are not provisioned either: that is another warning, on their names.
        return [d for d in lsp.diagnostics.get(uri, ()) if d.code != "database-not-provisioned"]

    await wait_until(lambda: len(folder_warnings()) == 2)
    by_line = {d.range.start.line: d for d in folder_warnings()}
    assert "no folder `db/nope`" in by_line[3].message and by_line[3].range.start.character == 16
    assert "outside the project" in by_line[5].message
    assert all(d.severity == types.DiagnosticSeverity.Warning for d in by_line.values())
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.databases.applyMigrations", {"database": "main", "uri": uri})
    assert "not a folder of *.sql files" in info.value.message
    (repo / "db" / "nope").mkdir(parents=True)
    with pytest.raises(JsonRpcInvalidParams) as empty:
        await run(lsp, "codeforge.databases.applyMigrations", {"database": "main", "uri": uri})
    assert "has no *.sql files" in empty.value.message
    with pytest.raises(JsonRpcInvalidParams):
        await run(lsp, "codeforge.databases.applyMigrations", {"uri": uri})  # no database named


def test_git_head_of_a_worktree_and_of_nothing(tmp_path: Path) -> None:
    from codeforge.lsp.git import read_head

    main = tmp_path / "main"
    (main / ".git" / "worktrees" / "wt").mkdir(parents=True)
    (main / ".git" / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/fix/Bug_7\n")
    worktree = tmp_path / "wt"
    (worktree / "src").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n")
    head = read_head(worktree / "src")
    assert head is not None and head.branch == "fix/Bug_7" and head.repo == worktree
    (worktree / ".git").write_text("garbage\n")
    assert read_head(worktree / "src") is None
    (worktree / ".git").unlink()
    assert read_head(worktree / "src") is None  # pytest's tmp dir is in no repository
