"""Defects found by trying the databases capability from outside (issue #8): variables that
outlive their database, bad input that became internal errors, paths outside the platform's
folders, and reads that changed state. Each test failed before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from codeforge import catalog
from codeforge.catalog import Role
from codeforge.catalog.errors import CodeForgeError, NotFound
from codeforge.client import PlatformClient
from codeforge.platform.audit.models import AuditEntry
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases import service
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.databases.pane import databases_pane
from codeforge.platform.db import Database, utcnow
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform
from tests.platform.databases.conftest import platform_in, uniq
from tests.platform.databases.test_api import reveal, run


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        yield c


def post(platform: RunningPlatform, op: str, body: dict[str, Any]) -> httpx.Response:
    """The raw HTTP answer (the client checks input itself before sending)."""
    path = catalog.CATALOG[op].path
    return httpx.post(
        f"{platform.url}/api/v1{path}", json=body, timeout=60, headers={"Authorization": f"Bearer {platform.token}"}
    )


def test_cascade_delete_takes_every_variable_its_databases_held(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    """`databases delete iso --cascade` after `databases branch iso iso-b1 --env-var ISO_URL`
    left ISO_URL pointing at the deleted branch."""
    p = platform.project
    run(client, "databases.create", {"project": p, "name": "iso", "env_var": "ISO_URL"})
    run(client, "databases.branch", {"project": p, "source": "iso", "name": "iso-b1", "env_var": "ISO_URL"})
    gone = run(client, "databases.delete", {"project": p, "name": "iso", "cascade": True})
    assert sorted(gone["deleted"]) == ["iso", "iso-b1"] and gone["env_var"] == "ISO_URL"
    with pytest.raises(NotFound):
        reveal(client, p, "ISO_URL")
    # Deleting a middle branch hands the variable its child held back to the nearest survivor.
    root = run(client, "databases.create", {"project": p, "name": "tri", "env_var": "TRI_URL"})
    run(client, "databases.branch", {"project": p, "source": "tri", "name": "tri-a"})
    run(client, "databases.branch", {"project": p, "source": "tri-a", "name": "tri-b", "env_var": "TRI_URL"})
    run(client, "databases.delete", {"project": p, "name": "tri-a", "cascade": True})
    assert reveal(client, p, "TRI_URL").endswith("/" + root["database"])
    listed = {d["name"]: d for d in run(client, "databases.list", {"project": p})["items"]}
    assert listed["tri"]["env_var"] == "TRI_URL" and "tri-b" not in listed
    run(client, "databases.delete", {"project": p, "name": "tri"})


SECRET = "s3cretPW"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "postgresql", "admin_url": f"postgresql://postgres:{SECRET}@localhost:5432/postgres%"}, None),
        ({"kind": "postgresql", "admin_url": f"postgresql://postgres:{SECRET}@localhost:port/postgres"}, "admin_url"),
        ({"kind": "postgresql", "admin_url": f"postgresql://postgres:{SECRET}@[::1/postgres"}, "admin_url"),
        ({"kind": "postgresql", "admin_url": f"garbage{SECRET}"}, "admin_url"),
        ({"kind": "mysql", "admin_url": f"%%%:{SECRET}@@@"}, "admin_url"),
        ({"kind": "mysql", "admin_url": f"mysql://root:{SECRET}@127.0.0.1:99999"}, "admin_url"),
        ({"kind": "postgresql-local", "data_dir": "/var/tmp/a\u0000b"}, "data_dir"),
        ({"kind": "postgresql-local", "data_dir": "/var/tmp/" + "x" * 256}, "data_dir"),
        ({"kind": "postgresql-local", "data_dir": "relative/dir"}, "data_dir"),
    ],
)
def test_engine_register_refuses_bad_input_before_a_job(
    platform: RunningPlatform, body: dict[str, Any], field: str | None
) -> None:
    answer = post(platform, "engines.register", {"name": "bad", **body})
    if field is None:  # a well-formed URL: accepted, and then fails as a plain external failure
        assert answer.status_code == 202
        return
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert SECRET not in answer.text and "\u0000" not in answer.text


def test_paths_are_confined_to_the_platforms_folders(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "databases.create", {"project": p, "name": "paths", "env_var": "PATHS_URL"})
    try:
        # Over 255 bytes in one component was a 500 (ENAMETOOLONG).
        long = post(platform, "migrations.status", {"project": p, "name": "paths", "path": "/tmp/" + "m" * 300})
        assert long.status_code == 422 and long.json()["errors"][0]["field"] == "path"
        # Outside the data dir and the projects' folder: refused alike whether it exists or not,
        # so nothing about the host's files can be learned.
        answers = [
            post(platform, "migrations.status", {"project": p, "name": "paths", "path": folder})
            for folder in ("/etc", "/etc/ssh", "/nonexistent-" + uniq())
        ]
        assert {a.status_code for a in answers} == {422}
        assert len({a.json()["detail"] for a in answers}) == 1 and answers[0].json()["errors"][0]["field"] == "path"
        migrations = platform.data_dir / "migrations-ok"
        migrations.mkdir()
        (migrations / "001_a.sql").write_text("CREATE TABLE a (i int);")
        st = run(client, "migrations.status", {"project": p, "name": "paths", "path": str(migrations)})
        assert st["pending"] == ["001_a.sql"]
        outside = platform.data_dir / "link-out"
        outside.symlink_to("/etc")  # a link out of the data dir is followed, and refused
        assert (
            post(platform, "migrations.status", {"project": p, "name": "paths", "path": str(outside)}).status_code
            == 422
        )
        # An engine's data_dir: the data dir or the configured storage roots only.
        with pytest.raises(CodeForgeError, match="data_dir is outside the folders this platform may use"):
            run(client, "engines.register", {"name": "probe", "data_dir": "/opt/" + uniq()})
    finally:
        run(client, "databases.delete", {"project": p, "name": "paths"})


def test_reads_change_nothing(work_dir: Path) -> None:
    """Listing databases and rendering the pane ran the sweep, which deleted rows and
    cluster directories outside the audit log."""
    with platform_in(work_dir) as plat:
        p = plat.project
        with PlatformClient(plat.url, plat.token, timeout=120) as c:
            run(c, "databases.create", {"project": p, "name": "readonly", "env_var": "READONLY_URL"})
        plat.kill()  # its supervisor, which does sweep, is gone: only the reads below run
        settings = Settings(data_dir=plat.data_dir)
        db = Database(settings.resolved_database_url)
        try:
            with db.session() as s:
                main = s.scalars(select(DatabaseRow).where(DatabaseRow.name == "readonly")).one()
                engine = s.get(EngineRow, main.engine_id)
                assert engine is not None
                # What a killed process leaves: a row still `creating` from before this process
                # started, and a branch directory no row knows.
                s.add(
                    DatabaseRow(
                        project_id=main.project_id,
                        engine_id=main.engine_id,
                        name="ghost",
                        parent_id=main.id,
                        physical="ghost",
                        role=main.role,
                        password_encrypted=main.password_encrypted,
                        host=main.host,
                        port=main.port,
                        state="creating",
                        created_by="owner",
                        created_at=utcnow() - timedelta(days=1),
                    )
                )
                stray = Path(engine.root) / "branches" / "stray"
                stray.mkdir(parents=True, exist_ok=True)
                project = s.get(Project, main.project_id)
                org = engine.org_id
            with db.session() as s:
                audited = s.scalar(select(func.count()).select_from(AuditEntry))
                ctx = Context(
                    session=s,
                    actor=Actor("", "reader", org, "", Role.VIEWER),
                    settings=settings,
                    cipher=Cipher(settings.fernet_key()),
                    project=project,
                )
                service.list_databases(ctx, catalog.databases.DatabaseListInput(project=p))
                service.database_tree(ctx, catalog.databases.DatabaseListInput(project=p))
                databases_pane(ctx)
                s.rollback()
            with db.session() as s:
                assert s.scalars(select(DatabaseRow).where(DatabaseRow.name == "ghost")).one_or_none() is not None
                assert s.scalar(select(func.count()).select_from(AuditEntry)) == audited
            assert stray.is_dir()
        finally:
            db.dispose()
