"""The log store on PostgreSQL: tables `log_streams` and `log_lines` in the schema `monitoring`
of the platform's database, shared by every replica.

The searched text is a generated `tsvector` column with a GIN index: `to_tsvector('simple',
...)` of the line with every run of non-alphanumerics made a space first, so a word is what
SQLite's unicode61 calls one (PostgreSQL's own parser would keep `/api/users` or `a@b.io`
whole, and a search for `users` would miss them), with no stemming and no stop words. Queries
become a tsquery built from quoted lexemes (`query.to_tsquery`), never from user text. Batches
go in with COPY."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from codeforge.platform.monitoring.logs.backend import StoredLog, labels_key, selected_streams
from codeforge.platform.monitoring.logs.query import LogQuery, to_tsquery
from codeforge.platform.monitoring.records import LogRecord
from codeforge.platform.monitoring.storage import StoreHome

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresBackend"]

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS log_streams (id bigserial PRIMARY KEY, project_id text NOT NULL,"
    " labels text NOT NULL, UNIQUE (project_id, labels))",
    "CREATE TABLE IF NOT EXISTS log_lines (id bigserial PRIMARY KEY, stream_id bigint NOT NULL,"
    " time_ns bigint NOT NULL, level text NOT NULL, line text NOT NULL, attributes text, trace_id text,"
    " span_id text, tsv tsvector GENERATED ALWAYS AS"
    " (to_tsvector('simple'::regconfig, regexp_replace(line, '[^[:alnum:]]+', ' ', 'g'))) STORED)",
    "CREATE INDEX IF NOT EXISTS log_lines_tsv ON log_lines USING gin (tsv)",
    "CREATE INDEX IF NOT EXISTS log_lines_stream ON log_lines (stream_id, id)",
    "CREATE TABLE IF NOT EXISTS log_cursors (name text PRIMARY KEY, value bigint NOT NULL)",
)
_COLUMNS = "id, stream_id, time_ns, level, line, attributes, trace_id, span_id"


def _as_int(value: Any) -> int:
    return int(value)


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text  # PostgreSQL text holds no NUL


class PostgresBackend:
    def __init__(self, home: StoreHome) -> None:
        self.home = home
        self._writer = home.pg()
        with self._writer.transaction():
            self._writer.execute("SELECT pg_advisory_xact_lock(hashtext('codeforge.monitoring.logs'))")
            exists = self._writer.execute("SELECT to_regclass('log_meta') IS NOT NULL").fetchone()
            version = 0
            if exists and exists[0]:
                row = self._writer.execute("SELECT value FROM log_meta WHERE key = 'schema_version'").fetchone()
                version = _as_int(row[0]) if row else 0
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA:
                    self._writer.execute(statement)
                self._writer.execute(
                    "INSERT INTO log_meta (key, value) VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
        self._stream_ids: dict[tuple[str, str], int] = {}
        self._readers: list[psycopg.Connection[Any]] = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()

    @contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        with self._readers_lock:
            conn = self._readers.pop() if self._readers else None
        if conn is None or conn.closed:
            conn = self.home.pg()
        try:
            with conn.transaction():
                yield conn
        except BaseException:
            conn.close()
            raise
        with self._readers_lock:
            self._readers.append(conn)

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()

    # ---- writing ----

    def _stream_id(self, project_id: str, labels: dict[str, str]) -> int:
        key = (project_id, labels_key(labels))
        found = self._stream_ids.get(key)
        if found is None:
            conn = self._writer
            # Another replica may make the same stream at once: ON CONFLICT, then read it back.
            conn.execute("INSERT INTO log_streams (project_id, labels) VALUES (%s, %s) ON CONFLICT DO NOTHING", key)
            row = conn.execute("SELECT id FROM log_streams WHERE project_id = %s AND labels = %s", key).fetchone()
            assert row is not None
            found = self._stream_ids[key] = _as_int(row[0])
        return found

    def prepare(self, project_id: str, records: list[LogRecord]) -> tuple[str, list[LogRecord]]:
        return project_id, records  # COPY streams the rows; nothing to encode ahead

    def write(self, prepared: list[tuple[str, list[LogRecord]]]) -> int:
        dumps = orjson.dumps
        batch = [(project_id, r) for project_id, records in prepared for r in records]
        with self._write_lock:
            conn = self._writer
            try:
                # Streams first, committed on their own: a stream id read back is then
                # visible to every replica, and a failed batch leaves no id cached that
                # was rolled back.
                by_dict: dict[tuple[str, int], int] = {}
                for project_id, r in batch:
                    key = (project_id, id(r.labels))
                    if key not in by_dict:
                        by_dict[key] = self._stream_id(project_id, r.labels)
                with conn.transaction(), conn.cursor() as cur:
                    copy_sql = (
                        "COPY log_lines (stream_id, time_ns, level, line, attributes, trace_id, span_id) FROM STDIN"
                    )
                    with cur.copy(copy_sql) as copy:
                        for project_id, r in batch:
                            copy.write_row(
                                (
                                    by_dict[(project_id, id(r.labels))],
                                    r.time_ns,
                                    r.level,
                                    _clean(r.line),
                                    _clean(dumps(r.attributes).decode()) if r.attributes else None,
                                    r.trace_id or None,
                                    r.span_id or None,
                                )
                            )
                    row = cur.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()
            except Exception:
                self._stream_ids.clear()
                raise
            return _as_int(row[0]) if row else 0

    def delete_before(self, time_ns: int) -> int:
        removed = 0
        with self._write_lock:
            while True:
                cur = self._writer.execute(
                    "DELETE FROM log_lines WHERE id IN (SELECT id FROM (SELECT id, time_ns FROM log_lines"
                    " ORDER BY id LIMIT 5000) s WHERE time_ns < %s)",
                    (time_ns,),
                )
                removed += cur.rowcount
                if cur.rowcount < 5000:
                    return removed

    def maintain(self) -> None:
        pass  # autovacuum keeps the GIN index's pending list merged

    def get_cursor(self, name: str) -> int:
        with self._reader() as conn:
            row = conn.execute("SELECT value FROM log_cursors WHERE name = %s", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_cursor(self, name: str, value: int) -> None:
        with self._write_lock:
            self._writer.execute(
                "INSERT INTO log_cursors (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # ---- reading ----

    def last_id(self) -> int:
        with self._reader() as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()
        return int(row[0]) if row else 0

    def _streams(self, conn: psycopg.Connection[Any], project_id: str) -> dict[int, dict[str, str]]:
        rows = conn.execute("SELECT id, labels FROM log_streams WHERE project_id = %s", (project_id,)).fetchall()
        return {int(sid): orjson.loads(labels) for sid, labels in rows}

    def streams(self, project_id: str) -> dict[int, dict[str, str]]:
        with self._reader() as conn:
            return self._streams(conn, project_id)

    @staticmethod
    def _where(
        query: LogQuery, ids: list[int], start_ns: int | None, end_ns: int | None, after_id: int | None
    ) -> tuple[str, list[Any]]:
        sql, args = "stream_id = ANY(%s)", list[Any]([ids])
        if query.has_text:
            sql += " AND tsv @@ %s::tsquery"
            args.append(to_tsquery(query))
        if start_ns is not None:
            sql += " AND time_ns >= %s"
            args.append(start_ns)
        if end_ns is not None:
            sql += " AND time_ns <= %s"
            args.append(end_ns)
        if after_id is not None:
            sql += " AND id > %s"
            args.append(after_id)
        return sql, args

    def search(
        self,
        project_id: str,
        query: LogQuery,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        newest_first: bool,
        after_id: int | None = None,
    ) -> list[StoredLog]:
        with self._reader() as conn:
            streams = self._streams(conn, project_id)
            ids = selected_streams(streams, query)
            if not ids or limit <= 0:
                return []
            where, args = self._where(query, ids, start_ns, end_ns, after_id)
            order = "DESC" if newest_first else "ASC"
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM log_lines WHERE {where} ORDER BY id {order} LIMIT %s",
                [*args, limit],
            ).fetchall()
        out = []
        for lid, sid, time_ns, level, line, attributes, trace_id, span_id in rows:
            out.append(
                StoredLog(
                    int(lid),
                    int(time_ns),
                    line,
                    dict(streams.get(int(sid), {})),
                    orjson.loads(attributes) if attributes else {},
                    level,
                    trace_id or "",
                    span_id or "",
                )
            )
        return out

    def count(self, project_id: str, query: LogQuery, start_ns: int | None, end_ns: int | None) -> int:
        with self._reader() as conn:
            ids = selected_streams(self._streams(conn, project_id), query)
            if not ids:
                return 0
            where, args = self._where(query, ids, start_ns, end_ns, None)
            row = conn.execute(f"SELECT count(*) FROM log_lines WHERE {where}", args).fetchone()
        return int(row[0]) if row else 0
