"""Platform state: SQLAlchemy 2 engine, sessions and Alembic migrations applied on start."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, Insert, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from codeforge.catalog.errors import Conflict

__all__ = ["Base", "Database", "UTCDateTime", "conflict_of", "new_id", "upsert", "utcnow"]

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def upsert(session: Session, model: type[Any], *, key: tuple[str, ...], update: tuple[str, ...]) -> Insert:
    """INSERT … ON CONFLICT (`key`) for `model`: a conflicting row gets the new values of the
    columns in `update` (is left alone when `update` is empty). Atomic on SQLite and
    PostgreSQL, so concurrent first writes of one key all succeed and the last one wins,
    where select-then-insert let all but one fail. Execute it with the rows as parameters
    (add `.returning(model)` to get them back); the statement is built once per shape."""
    shape = (session.get_bind().dialect.name, model, key, update)
    if (stmt := _UPSERTS.get(shape)) is None:
        insert = postgresql.insert(model) if shape[0] == "postgresql" else sqlite.insert(model)
        if update:
            set_ = {c: getattr(insert.excluded, c) for c in update}
            stmt = insert.on_conflict_do_update(index_elements=list(key), set_=set_)
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=list(key))
        _UPSERTS[shape] = stmt
    return stmt


_UPSERTS: dict[tuple[str, type[Any], tuple[str, ...], tuple[str, ...]], Insert] = {}


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


_BUSY_TIMEOUT_S = 30.0
# The statements before which pysqlite opens a write transaction (BEGIN DEFERRED).
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside a writer; the busy timeout covers writers of other processes
    # (this process queues its own writers in SQLiteWriters).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class SQLiteWriters:
    """One write transaction at a time in this process, queued on a lock.

    SQLite allows one writer; the others wait in its busy handler, which sleeps in steps
    growing to 100 ms and lets newcomers overtake sleepers, so under 50 concurrent writers
    some waited seconds (p99 2.4 s for env.set). Here a connection takes the lock right
    before the statement that opens its write transaction and gives it back when it returns
    to the pool, after its commit or rollback: waiters wake as soon as the writer is done.
    Reads never take it (WAL readers do not block). A thread that already writes on one
    connection and writes on a second would wait for itself: the wait is bounded by the busy
    timeout, after which SQLite answers as it would have without the lock."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine.pool, "checkin", self._release)
        event.listen(engine.pool, "close", self._release)
        event.listen(engine.pool, "invalidate", self._invalidated)
        event.listen(engine.pool, "soft_invalidate", self._invalidated)

    def _before_execute(self, conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info  # the pooled DBAPI connection's own dict
        if info.get("cf_writer") or not _WRITES.match(statement):
            return
        if conn.connection.dbapi_connection.in_transaction:
            return  # a write transaction is open already (e.g. explicit BEGIN): nothing to queue
        info["cf_writer"] = self._lock.acquire(timeout=_BUSY_TIMEOUT_S)

    def _release(self, dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is not None and connection_record.info.pop("cf_writer", False):
            self._lock.release()

    def _invalidated(self, dbapi_connection: Any, connection_record: Any, exception: BaseException | None) -> None:
        self._release(dbapi_connection, connection_record)


def conflict_of(exc: IntegrityError) -> Conflict | None:
    """The 409 for a unique or foreign-key violation, which concurrent writers of one resource
    meet (two first writes of one name, a create beside a delete); None for other integrity
    errors (NOT NULL, CHECK), which are bugs. Never carries the driver's detail: it can
    hold the values."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    errname = str(getattr(orig, "sqlite_errorname", ""))
    table = str(getattr(getattr(orig, "diag", None), "table_name", None) or "")
    if not table and (match := re.match(r"UNIQUE constraint failed: (\w+)\.", str(orig))):
        table = match.group(1)
    what = table.replace("_", " ").rstrip("s") if table else "resource"
    if sqlstate == "23505" or errname in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return Conflict(
            f"a {what} with the same name exists already: another request may have created it at the same time",
            fix="list what exists and use it, or pick another name",
        )
    if sqlstate == "23503" or errname == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return Conflict(
            f"the {what} refers to something that no longer exists: another request may have deleted it",
            fix="list what exists, then try again",
        )
    return None


IDLE_PING_AFTER = 10.0  # seconds a pooled connection may rest before it is checked on checkout


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection on checkout only when it has rested a while.

    `pool_pre_ping` checks every checkout: one more round trip per request, a tenth of a
    busy platform's database time. A connection in steady use is known to be alive; one that
    rested may have been cut (the server restarted, a proxy timed it out), so it is checked,
    and a dead one replaced before anyone uses it. One cut under load fails its request, and
    the pool then drops every connection of that server (SQLAlchemy's disconnect handling)."""

    @event.listens_for(engine, "checkin")
    def rested_since(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def alive(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", time.monotonic()) < IDLE_PING_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("a pooled connection was cut while it rested") from exc


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.writers: SQLiteWriters | None = None
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            # A connection for every worker thread of the server (anyio's default is 40):
            # SQLite connections are cheap, and waiting for one in the pool is a queue of its own.
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False}, pool_size=40, max_overflow=20
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self.writers = SQLiteWriters(self.engine)
        else:
            # Half the server's worker threads (anyio's 40) kept open: a connection beyond the
            # pool is closed when it is returned, so each request past it paid a new backend.
            self.engine = create_engine(url, pool_size=20, max_overflow=20)
            _ping_when_idle(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is there already."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block succeeds, rolled back when it raises.
        A unique or foreign-key violation, what concurrent writers of one resource meet,
        becomes a 409 Conflict instead of an internal error."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            if (conflict := conflict_of(exc)) is None:
                raise
            raise conflict from exc

    def dispose(self) -> None:
        self.engine.dispose()
