"""PostgreSQL engines against real servers: the CodeForge cluster (password auth) and this
machine's PostgreSQL 15."""

from __future__ import annotations

import psycopg
import pytest

from codeforge.catalog.errors import BadInput, Conflict, NotFound
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.engines.postgres import EngineAuthFailed, EngineUnreachable, PostgresEngine
from tests.platform.databases.conftest import uniq


def test_create_list_size_drop(pg: PostgresEngine) -> None:
    name = uniq("shop")
    conn = pg.create_database(name)
    try:
        assert conn.database == name and conn.user == name and len(conn.password) >= 24
        with psycopg.connect(conn.url) as c:
            c.execute("CREATE TABLE t (i int)")
            c.execute("INSERT INTO t SELECT generate_series(1, 1000)")
            assert c.execute("SELECT current_user, count(*) FROM t").fetchone() == (name, 1000)
        listed = {d.name: d for d in pg.list_databases()}
        assert listed[name].owner == name and listed[name].size_bytes > 0
        assert pg.size(name) == listed[name].size_bytes
        assert "***" in conn.redacted_url() and conn.password not in conn.redacted_url()
    finally:
        pg.drop_database(name, name)
    assert not pg.database_exists(name) and not pg.role_exists(name)
    with pytest.raises(NotFound):
        pg.drop_database(name)


@pytest.mark.parametrize("bad", ["Shop", "1shop", "shop-main", "a" * 64, "", "x;drop", "postgres", "cfpartial_x"])
def test_invalid_names_are_refused_before_the_server(pg: PostgresEngine, bad: str) -> None:
    with pytest.raises(BadInput) as err:
        pg.create_database(bad)
    assert err.value.errors and err.value.errors[0].field == "name"
    assert bad in ("postgres", "") or not pg.database_exists(bad)


def test_clashing_names(pg: PostgresEngine) -> None:
    name = uniq("clash")
    pg.create_database(name)
    try:
        with pytest.raises(Conflict, match="already exists"):
            pg.create_database(name)
        # A role of that name exists but no database: refused, and nothing is left behind.
        other = uniq("clash")
        with pg.admin() as c:
            c.execute(f'CREATE ROLE "{other}"')
        try:
            with pytest.raises(Conflict, match="role"):
                pg.create_database(other)
            assert not pg.database_exists(other)
        finally:
            with pg.admin() as c:
                c.execute(f'DROP ROLE "{other}"')
    finally:
        pg.drop_database(name, name)


def test_one_projects_role_cannot_reach_another_projects_database(local_pg: PostgresEngine) -> None:
    """On a password-auth server: each role reaches its own database and nothing else."""
    a, b = uniq("proja"), uniq("projb")
    ca, cb = local_pg.create_database(a), local_pg.create_database(b)
    try:
        with psycopg.connect(ca.url) as c:
            assert c.execute("SELECT current_database()").fetchone() == (a,)
        for dbname in (b, "postgres", "template1"):
            with pytest.raises(psycopg.OperationalError, match=r"permission denied|not currently accepting"):
                psycopg.connect(host=ca.host, port=ca.port, user=ca.user, password=ca.password, dbname=dbname)
        # b's password does not open a's role, and a wrong password opens nothing.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=ca.host, port=ca.port, user=a, password=cb.password, dbname=a)
    finally:
        local_pg.drop_database(a, a)
        local_pg.drop_database(b, b)


def test_template_copy_and_open_sessions(pg: PostgresEngine) -> None:
    src, dst = uniq("src"), uniq("dst")
    conn = pg.create_database(src)
    try:
        with psycopg.connect(conn.url) as c:
            c.execute("CREATE TABLE t (i int); INSERT INTO t VALUES (1), (2)")
            c.commit()
            # Someone is connected: a TEMPLATE copy is refused with what to do...
            with pytest.raises(Conflict, match="open session") as err:
                pg.copy_database(src, dst, owner=src)
            assert "force" in err.value.fix
            assert not pg.database_exists(dst)
            # ...and with force their sessions end and the copy is made.
            pg.copy_database(src, dst, owner=src, force=True)
        branch = pg.connection(dst, src, conn.password)
        with psycopg.connect(branch.url) as c:
            c.execute("INSERT INTO t VALUES (3)")
            assert c.execute("SELECT count(*) FROM t").fetchone() == (3,)
        with psycopg.connect(conn.url) as c:
            assert c.execute("SELECT count(*) FROM t").fetchone() == (2,)
        with pytest.raises(Conflict):
            pg.copy_database(src, dst, owner=src)
    finally:
        pg.drop_database(dst, missing_ok=True)
        pg.drop_database(src, src)
    assert not pg.role_exists(src)


def test_copy_by_dump_and_sweep(pg: PostgresEngine) -> None:
    src, dst = uniq("src"), uniq("dump")
    conn = pg.create_database(src)
    try:
        with psycopg.connect(conn.url) as c:
            c.execute("CREATE TABLE t (i int primary key); INSERT INTO t VALUES (7)")
        pg.copy_by_dump(src, dst, owner=src)
        with psycopg.connect(pg.connection(dst, src, conn.password).url) as c:
            assert c.execute("SELECT i FROM t").fetchall() == [(7,)]
            owner = c.execute("SELECT tableowner FROM pg_tables WHERE tablename = 't'").fetchone()
            assert owner == (src,)
        # A copy interrupted under its temporary name is swept.
        with pg.admin() as c:
            c.execute(f'CREATE DATABASE "cfpartial_{dst}x"')
        assert f"cfpartial_{dst}x" in pg.sweep_partials()
        assert not pg.database_exists(f"cfpartial_{dst}x")
    finally:
        pg.drop_database(dst, missing_ok=True)
        pg.drop_database(src, src)


def test_unreachable_engine() -> None:
    engine = PostgresEngine(f"postgresql://postgres:x@127.0.0.1:{free_port()}/postgres", connect_timeout=2)
    with pytest.raises(EngineUnreachable) as err:
        engine.create_database(uniq("x"))
    assert "cannot reach PostgreSQL at 127.0.0.1" in err.value.message and "start the server" in err.value.fix


def test_wrong_admin_credentials(local_cluster: LocalCluster) -> None:
    engine = PostgresEngine(f"postgresql://codeforge_admin:wrong@127.0.0.1:{local_cluster.port}/postgres")
    with pytest.raises(EngineAuthFailed) as err:
        engine.list_databases()
    assert "rejected the admin credentials" in err.value.message
    assert "wrong" not in err.value.message  # the password is never echoed
