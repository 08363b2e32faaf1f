"""The error store's two databases behind one small interface: SQLite (errors.db under the
data folder; one connection, threads take turns) and PostgreSQL (the schema `monitoring`; a
few pooled connections, several replicas at once). SQL is written once with `?` placeholders."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from codeforge.platform.monitoring.storage import StoreHome

__all__ = ["Backend", "Tx"]

_IDLE_CONNECTIONS = 4  # PostgreSQL connections kept for the next caller; more are closed


class Tx:
    """One transaction: statements with `?` placeholders."""

    def __init__(self, run: Any, postgres: bool) -> None:
        self._run = run
        self.postgres = postgres

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._run(sql.replace("?", "%s") if self.postgres else sql, tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The number of rows the statement changed."""
        return int(self._run(sql.replace("?", "%s") if self.postgres else sql, tuple(params)).rowcount)

    @property
    def for_update(self) -> str:
        """ " FOR UPDATE" where rows can be locked (PostgreSQL); SQLite's transaction already
        holds the file's write lock."""
        return " FOR UPDATE" if self.postgres else ""


class Backend:
    def __init__(self, home: StoreHome, kind: str) -> None:
        self.postgres = home.postgres
        self._home = home
        self._kind = kind
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        self._idle: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._closed = False

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        if self.postgres:
            yield from self._pg_transaction()
            return
        with self._lock:
            if self._sqlite is None:
                self._sqlite = self._home.sqlite(self._kind)
            conn = self._sqlite
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(conn.execute, False)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _pg_transaction(self) -> Iterator[Tx]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._home.pg()
        try:
            with conn.transaction():
                yield Tx(conn.execute, True)
        finally:
            with self._lock:
                keep = not conn.closed and not conn.broken and not self._closed and len(self._idle) < _IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
