"""The platform's PostgreSQL pool: a connection in steady use is not pinged on every
checkout (a round trip per request), and one cut while it rested is replaced before anyone
uses it, so no request fails for it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from codeforge.platform import db as platform_db
from codeforge.platform.db import Database
from tests.platform.conftest import PG_ADMIN


@pytest.fixture
def database(state_url: str) -> Iterator[Database]:
    if not state_url.startswith("postgresql"):
        pytest.skip("the idle ping is PostgreSQL's (SQLite has no server to lose)")
    database = Database(state_url)
    yield database
    database.dispose()


def _backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_in_steady_use_is_not_pinged(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    real_ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    for _ in range(20):
        _backend_pid(database)
    assert pings == []


def test_a_connection_cut_while_it_rested_is_replaced_unnoticed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _backend_pid(database)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:  # as a server restart would
        admin.execute("SELECT pg_terminate_backend(%s)", (before,))
    monkeypatch.setattr(platform_db, "IDLE_PING_AFTER", 0.0)  # it has rested long enough
    after = _backend_pid(database)  # no error: the dead connection was found and replaced
    assert after != before
