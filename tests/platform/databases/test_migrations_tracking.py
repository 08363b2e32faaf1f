"""Migration tracking: SQL folders and Alembic projects on PostgreSQL and MariaDB."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.databases import migrations
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import PostgresEngine
from tests.platform.databases.conftest import uniq


@pytest.fixture
def pg_db(local_pg: PostgresEngine) -> Iterator[Connection]:
    conn = local_pg.create_database(uniq("mig"))
    yield conn
    local_pg.drop_database(conn.database, conn.user)


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_sql_folder_apply_pending_drift(pg_db: Connection, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _write(
        folder,
        {
            "001_users.sql": "CREATE TABLE users (id int primary key);",
            "002_posts.sql": "CREATE TABLE posts (id int, user_id int REFERENCES users);\n"
            "CREATE INDEX ON posts (user_id);",
            "README.md": "not a migration",
        },
    )
    mset = migrations.load_folder(folder)
    assert [m.name for m in mset.migrations] == ["001_users.sql", "002_posts.sql"]
    assert migrations.status(pg_db, mset).pending == ["001_users.sql", "002_posts.sql"]
    assert migrations.apply(pg_db, mset) == ["001_users.sql", "002_posts.sql"]
    st = migrations.status(pg_db, mset)
    assert st.pending == [] and st.drifted == [] and [a.name for a in st.applied] == ["001_users.sql", "002_posts.sql"]
    assert all(len(a.checksum) == 64 and a.applied_at for a in st.applied)
    assert migrations.apply(pg_db, mset) == []  # nothing to do twice
    # A new file is pending; an applied file edited afterwards is drift, and blocks applying.
    _write(
        folder,
        {"003_tags.sql": "CREATE TABLE tags (id int);", "001_users.sql": "CREATE TABLE users (id bigint primary key);"},
    )
    mset = migrations.load_folder(folder)
    st = migrations.status(pg_db, mset)
    assert st.pending == ["003_tags.sql"] and st.drifted == ["001_users.sql"]
    with pytest.raises(BadInput, match="changed since they were applied") as err:
        migrations.apply(pg_db, mset)
    assert "restore the original" in err.value.fix
    (folder / "001_users.sql").unlink()
    st = migrations.status(pg_db, migrations.load_folder(folder))
    assert st.missing == ["001_users.sql"]


def test_failing_migration_rolls_back_and_says_which(pg_db: Connection) -> None:
    mset = migrations.load_files(
        [
            ("001_ok.sql", "CREATE TABLE ok (i int);"),
            ("002_bad.sql", "CREATE TABLE half (i int); SELECT * FROM no_such_table;"),
        ]
    )
    with pytest.raises(BadInput, match=r"002_bad\.sql failed") as err:
        migrations.apply(pg_db, mset)
    assert "1 earlier migration" in err.value.fix
    with psycopg.connect(pg_db.url) as c:
        assert c.execute("SELECT to_regclass('half'), to_regclass('ok') IS NOT NULL").fetchone() == (None, True)
    assert migrations.status(pg_db, mset).pending == ["002_bad.sql"]


def test_bad_migration_inputs(tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        migrations.load_files([("../evil.sql", "")])
    with pytest.raises(BadInput):
        migrations.load_files([("a.txt", "")])
    with pytest.raises(BadInput, match="does not exist"):
        migrations.load_folder(tmp_path / "nope")
    with pytest.raises(BadInput, match=r"no \*\.sql files"):
        migrations.load_folder(tmp_path)


def test_alembic_project(pg_db: Connection, tmp_path: Path) -> None:
    project = tmp_path / "alembic_proj"
    versions = project / "alembic" / "versions"
    versions.mkdir(parents=True)
    (project / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    (project / "alembic" / "env.py").write_text(
        textwrap.dedent("""
        from alembic import context
        from sqlalchemy import create_engine
        url = context.config.get_main_option("sqlalchemy.url")
        engine = create_engine(url)
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    """)
    )
    for rev, down, table in (("a1", None, "one"), ("b2", "a1", "two")):
        (versions / f"{rev}_{table}.py").write_text(
            textwrap.dedent(f"""
            from alembic import op
            import sqlalchemy as sa
            revision = {rev!r}
            down_revision = {down!r}
            def upgrade():
                op.create_table({table!r}, sa.Column("id", sa.Integer, primary_key=True))
            def downgrade():
                op.drop_table({table!r})
        """)
        )
    mset = migrations.load_folder(project)
    assert mset.kind == "alembic" and [m.name for m in mset.migrations] == ["alembic:a1", "alembic:b2"]
    assert migrations.status(pg_db, mset).pending == ["alembic:a1", "alembic:b2"]
    assert migrations.apply(pg_db, mset) == ["alembic:a1", "alembic:b2"]
    with psycopg.connect(pg_db.url) as c:
        assert c.execute("SELECT to_regclass('two') IS NOT NULL").fetchone() == (True,)
    assert migrations.status(pg_db, mset).pending == []
    (versions / "b2_two.py").write_text((versions / "b2_two.py").read_text() + "\n# edited\n")
    assert migrations.status(pg_db, migrations.load_folder(project)).drifted == ["alembic:b2"]


def test_sql_migrations_on_mysql(mysql: MySQLEngine) -> None:
    conn = mysql.create_database(uniq("mig"))
    try:
        mset = migrations.load_files(
            [("001.sql", "CREATE TABLE a (i INT); CREATE TABLE b (i INT);"), ("002.sql", "INSERT INTO a VALUES (1);")]
        )
        assert migrations.apply(conn, mset) == ["001.sql", "002.sql"]
        with (
            pymysql.connect(
                host=conn.host, port=conn.port, user=conn.user, password=conn.password, database=conn.database
            ) as c,
            c.cursor() as cur,
        ):
            cur.execute("SELECT count(*) FROM a")
            assert cur.fetchone() == (1,)
        assert migrations.status(conn, mset).pending == []
    finally:
        mysql.drop_database(conn.database, conn.user)
