"""MySQL/MariaDB engine against this machine's MariaDB."""

from __future__ import annotations

import pymysql
import pytest

from codeforge.catalog.errors import BadInput, Conflict, NotFound
from codeforge.platform.databases.engines.cluster import free_port
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import EngineAuthFailed, EngineUnreachable
from tests.platform.databases.conftest import uniq


def _connect(c: Connection, database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=c.host, port=c.port, user=c.user, password=c.password, database=database or c.database, autocommit=True
    )


def test_create_use_list_drop(mysql: MySQLEngine) -> None:
    name = uniq("shop")
    conn = mysql.create_database(name)
    try:
        with _connect(conn) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE t (i INT PRIMARY KEY) ENGINE=InnoDB")
            cur.execute("INSERT INTO t VALUES (1), (2)")
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (2,)
        assert name in {d.name for d in mysql.list_databases()}
        assert mysql.size(name) > 0
        assert conn.url.startswith("mysql://")
    finally:
        mysql.drop_database(name, name)
    assert not mysql.database_exists(name)
    with pytest.raises(NotFound):
        mysql.drop_database(name)


def test_isolation_between_projects(mysql: MySQLEngine) -> None:
    a, b = uniq("proja"), uniq("projb")
    ca, cb = mysql.create_database(a), mysql.create_database(b)
    try:
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            _connect(ca, b)
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            _connect(ca, "mysql")
        with _connect(ca) as c, c.cursor() as cur:
            cur.execute("SHOW DATABASES")
            visible = {r[0] for r in cur.fetchall()}
        assert a in visible and b not in visible
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            pymysql.connect(host=ca.host, port=ca.port, user=a, password=cb.password, database=a)
    finally:
        mysql.drop_database(a, a)
        mysql.drop_database(b, b)


def test_bad_and_clashing_names(mysql: MySQLEngine) -> None:
    with pytest.raises(BadInput):
        mysql.create_database("Bad-Name")
    with pytest.raises(BadInput, match="too long"):
        mysql.create_database("a" * 40)
    name = uniq("clash")
    mysql.create_database(name)
    try:
        with pytest.raises(Conflict):
            mysql.create_database(name)
    finally:
        mysql.drop_database(name, name)


def test_branch_by_dump_and_load(mysql: MySQLEngine) -> None:
    src, dst = uniq("src"), uniq("dst")
    conn = mysql.create_database(src)
    try:
        with _connect(conn) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE t (i INT PRIMARY KEY)")
            cur.execute("INSERT INTO t VALUES (1)")
            cur.execute("CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.i = NEW.i * 10")
        mysql.copy_by_dump(src, dst, owner=src)
        with _connect(conn, dst) as c, c.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (2)")
            cur.execute("SELECT i FROM t ORDER BY i")
            assert cur.fetchall() == ((1,), (20,))  # the trigger came along
        with _connect(conn) as c, c.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (1,)
        with pytest.raises(Conflict):
            mysql.copy_by_dump(src, dst, owner=src)
        # A source that does not exist: clear error, no half-made target.
        other = uniq("dst")
        with pytest.raises(Exception, match="failed"):
            mysql.copy_by_dump(uniq("nosuch"), other, owner=src)
        assert not mysql.database_exists(other)
    finally:
        mysql.drop_database(dst, missing_ok=True)
        mysql.drop_database(src, src)


def test_unreachable_and_wrong_credentials(mysql: MySQLEngine) -> None:
    with pytest.raises(EngineUnreachable, match="cannot reach MySQL"):
        MySQLEngine(f"mysql://root@127.0.0.1:{free_port()}", connect_timeout=2).list_databases()
    with pytest.raises(EngineAuthFailed, match="rejected the admin credentials"):
        MySQLEngine(f"mysql://nosuchuser:pw@{mysql.host}:{mysql.port}").list_databases()
    with pytest.raises(BadInput):
        MySQLEngine("postgresql://x@y/z")
