"""PgBouncer configured, started, reloaded and queried by CodeForge (Debian's pgbouncer)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from codeforge.catalog.errors import ExternalFailure
from codeforge.platform.databases.engines.cluster import free_port
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.pooling import PgBouncer, PoolEntry, find_pgbouncer
from tests.conftest import require
from tests.platform.databases.conftest import uniq


@pytest.fixture
def bouncer(work_dir: Path) -> Iterator[PgBouncer]:
    require("pgbouncer", find_pgbouncer() is not None, "pgbouncer is not installed (apt-get install pgbouncer)")
    pb = PgBouncer(work_dir / uniq("pgbouncer"), port=free_port(), admin_password=secrets.token_urlsafe(12))
    yield pb
    pb.stop()


def _entry(engine: PostgresEngine, conn: Connection) -> PoolEntry:
    verifier = engine.role_verifier(conn.user)
    assert verifier and verifier.startswith("SCRAM-SHA-256$")
    return PoolEntry(conn.database, engine.host, engine.port, conn.database, conn.user, verifier)


def test_pooled_connections_reload_and_stats(local_pg: PostgresEngine, bouncer: PgBouncer) -> None:
    a = local_pg.create_database(uniq("poola"))
    b = local_pg.create_database(uniq("poolb"))
    try:
        bouncer.configure([_entry(local_pg, a)])
        bouncer.start()
        assert bouncer.running()
        for _ in range(3):
            with psycopg.connect(bouncer.pooled_url(a, a.database)) as c:
                assert c.execute("SELECT current_user, inet_server_port()").fetchone() == (a.user, local_pg.port)
        stats = {s.alias: s for s in bouncer.stats()}
        assert stats[a.database].total_transactions >= 3 and stats[a.database].servers_idle >= 1
        # b is not pooled yet; after a reload it is, without restarting PgBouncer.
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(bouncer.pooled_url(b, b.database))
        bouncer.configure([_entry(local_pg, a), _entry(local_pg, b)])
        with psycopg.connect(bouncer.pooled_url(b, b.database)) as c:
            assert c.execute("SELECT current_database()").fetchone() == (b.database,)
        # Pooling keeps projects apart: a's role gets nothing through b's pool.
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(bouncer.pooled_url(a, b.database))
        with pytest.raises(psycopg.OperationalError, match=r"password|SASL|authentication"):
            psycopg.connect(bouncer.pooled_url(Connection("postgresql", "", 0, "", a.user, "wrong"), a.database))
        assert "SCRAM-SHA-256$" in bouncer.userlist.read_text() and a.password not in bouncer.userlist.read_text()
    finally:
        bouncer.stop()
        local_pg.drop_database(a.database, a.user)
        local_pg.drop_database(b.database, b.user)


def test_without_pgbouncer_says_so(work_dir: Path) -> None:
    pb = PgBouncer(work_dir / uniq("nopgb"), port=free_port(), admin_password="x", binary=None)
    pb.binary = None
    assert not pb.available()
    assert "not installed" in pb.unavailable_reason() and "direct URL" in pb.unavailable_reason()
    with pytest.raises(ExternalFailure, match="not installed"):
        pb.start()
    assert pb.stats() == []
