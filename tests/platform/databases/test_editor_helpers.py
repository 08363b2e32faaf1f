"""The pieces the language server uses for databases: codeforge.yaml `databases:` entries and
their plan, git-branch names, migration-file notes, and the catalog entries' schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from codeforge import catalog
from codeforge.catalog import describe_catalog
from codeforge.projectfile import ProjectFileError, parse_project_file
from codeforge.projectfile import databases as projectfile_databases


def _info(name: str, **kw: object) -> catalog.databases.DatabaseInfo:
    base: dict[str, object] = dict(
        name=name,
        project="demo",
        engine="local",
        kind="postgresql",
        parent=None,
        method=None,
        state="ready",
        host="127.0.0.1",
        port=5432,
        database=f"demo_{name}",
        user=f"demo_{name}",
        url="x",
        env_var=None,
        pooled=False,
        size_bytes=1,
        created_at=datetime.now(UTC),
        created_by="me",
    )
    base.update(kw)
    return catalog.databases.DatabaseInfo.model_validate(base)


def test_plan_creates_pools_schedules_and_reports_conflicts() -> None:
    declared = {
        "main": projectfile_databases.DatabaseEntry(
            pooled=True, backups=projectfile_databases.BackupPolicy(cron="0 3 * * *")
        ),
        "cache": projectfile_databases.DatabaseEntry(env="CACHE_URL"),
        "moved": projectfile_databases.DatabaseEntry(engine="other"),
        "same": projectfile_databases.DatabaseEntry(),
    }
    current = [_info("moved"), _info("same")]
    plan = projectfile_databases.plan_databases("demo", declared, current)
    assert [(c.name, c.env_var) for c in plan.to_create] == [("main", "DATABASE_URL"), ("cache", "CACHE_URL")]
    assert [p.name for p in plan.to_pool] == ["main"]
    assert [(s.name, s.cron, s.keep_last) for s in plan.to_schedule] == [("main", "0 3 * * *", 7)]
    assert plan.conflicts == ["moved"] and plan.unchanged == ["same"]
    # Once carried out, nothing is left to do.
    done = [_info("main", pooled=True), _info("cache"), _info("same")]
    sched = [
        catalog.backups.ScheduleInfo(
            database="main",
            cron="0 3 * * *",
            keep_last=7,
            max_age_days=30,
            next_run_at=datetime.now(UTC),
            last_run_at=None,
            last_error=None,
        )
    ]
    again = projectfile_databases.plan_databases(
        "demo", {k: v for k, v in declared.items() if k != "moved"}, done, sched
    )
    assert not again.to_create and not again.to_pool and not again.to_schedule
    assert sorted(again.unchanged) == ["cache", "main", "same"]


def test_entries_refuse_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        projectfile_databases.DatabaseEntry.model_validate({"engin": "x"})
    with pytest.raises(ValidationError):
        projectfile_databases.DatabaseEntry.model_validate({"env": "1BAD"})
    with pytest.raises(ValidationError):
        projectfile_databases.DatabaseEntry.model_validate({"backups": {"cron": "0 3 * * *", "keep_last": 0}})


def test_two_databases_cannot_share_a_variable() -> None:
    with pytest.raises(ProjectFileError) as err:
        parse_project_file("databases:\n  main: {}\n  audit-log: {}\n")
    [problem] = err.value.errors
    assert problem.field == "databases" and "`audit-log` and `main` would both set `DATABASE_URL`" in str(problem)
    assert "AUDIT_LOG_DATABASE_URL" in str(problem)
    both = parse_project_file("databases:\n  main: {}\n  audit-log: {env: AUDIT_URL}\n")
    assert [e.env for e in both.databases.values()] == ["DATABASE_URL", "AUDIT_URL"]


@pytest.mark.parametrize(
    ("git", "name"),
    [
        ("feature/Login-2", "feature-login-2"),
        ("main", "main"),
        ("123-fix", "fix"),
        ("release/v1.2", "release-v1-2"),
        ("///", "branch"),
        ("x" * 60, "x" * 40),
    ],
)
def test_branch_name_for_git_branches(git: str, name: str) -> None:
    assert projectfile_databases.branch_name_for(git) == name
    catalog.databases.BranchInput(
        project="demo", source="main", name=projectfile_databases.branch_name_for(git)
    )  # always a valid name


def test_migration_notes() -> None:
    status = catalog.migrations.MigrationStatusInfo(
        database="main", kind="sql", applied=[], pending=["003.sql"], drifted=["001.sql"], missing=[]
    )
    notes = projectfile_databases.migration_notes(status)
    assert notes["003.sql"][0] == "information" and "Apply migrations" in notes["003.sql"][1]
    assert notes["001.sql"][0] == "warning" and "new migration" in notes["001.sql"][1]


def test_catalog_entries() -> None:
    entries = {e["name"]: e for e in describe_catalog()}
    assert entries["databases.branch"]["long_running"] and entries["databases.reset"]["destructive"]
    assert entries["databases.list"]["lists_resources"] and entries["engines.list"]["lists_resources"]
    secret = entries["engines.register"]["input_schema"]["properties"]["admin_url"]
    assert secret["format"] == "password"
    assert entries["databases.create"]["input_schema"]["properties"]["project"]["x-codeforge-context"] == "project"
