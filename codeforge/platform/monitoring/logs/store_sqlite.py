"""The log store on SQLite: `data_dir/monitoring/logs.db`, lines in a plain table and an FTS5
index over them.

FTS5 choices, for ingesting 100,000 lines/s and answering in milliseconds over millions:

- External content (`content='logs'`): the text is stored once, in `logs`; the index holds
  only its doclists. A contentless table would save nothing more and cannot delete (retention)
  on this SQLite (3.40).
- `detail=full`: phrases (`"connection refused"`) are answered by the index itself. `none`
  or `column` were measured barely faster to build (5-10 %) and would need every phrase checked
  against the text afterwards.
- `columnsize=0`: no per-row size table (it serves only bm25 ranking, which results ordered
  by time do not use): one b-tree insert less per line, about 25 % off the index's cost.
- A batch is one transaction: the rows go in as one JSON array SQLite unpacks itself
  (`json_each`; binding row by row held the GIL for most of the insert), then the index takes them
  in one `INSERT INTO logs_fts SELECT ... FROM logs WHERE id > :before`, a single statement
  that runs in C without the GIL while the next request is parsed. FTS5 buffers a batch's
  terms in memory and writes one segment per flush; `automerge=8` (the default is 4) merges
  segments less eagerly during ingestion, and idle time (`maintain`) merges them instead.
- Ids never repeat (AUTOINCREMENT: retention may empty the table), so a tail's cursor holds.
- Results newest first are the FTS5 rowid order (ids increase as lines are stored), which
  FTS5 walks backwards without sorting; a `LIMIT` stops the walk early.

Label selectors become a set of stream ids; a query without words walks the index
(stream_id, id) of each selected stream backwards and merges them."""

from __future__ import annotations

import heapq
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from codeforge.platform.monitoring.logs.backend import StoredLog, labels_key, selected_streams
from codeforge.platform.monitoring.logs.query import LogQuery, fts5_negative, to_fts5
from codeforge.platform.monitoring.records import LogRecord
from codeforge.platform.monitoring.storage import StoreHome

__all__ = ["Prepared", "SqliteBackend"]

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, labels TEXT NOT NULL,"
    " UNIQUE (project_id, labels))",
    "CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL, time_ns INTEGER NOT NULL,"
    " level TEXT NOT NULL, line TEXT NOT NULL, attributes TEXT, trace_id TEXT, span_id TEXT)",
    "CREATE INDEX IF NOT EXISTS logs_stream ON logs (stream_id, id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(line, content='logs', content_rowid='id',"
    " detail=full, columnsize=0, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO logs_fts (logs_fts, rank) VALUES ('automerge', 8)",
)
# Most lines carry no attributes, trace or span: their rows are 4 wide, and each `->>` less
# is one parse of the row less.
_INSERT = (
    "INSERT INTO logs (stream_id, time_ns, level, line)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)"
)
_INSERT_WIDE = (
    "INSERT INTO logs (stream_id, time_ns, level, line, attributes, trace_id, span_id)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, json_extract(value, '$[4]'), value ->> 5, value ->> 6"
    " FROM json_each(?)"
)


@dataclass(slots=True)
class Prepared:
    project_id: str
    records: list[LogRecord]
    # A JSON array of [stream_id, time_ns, level, line] (+ attributes, trace_id, span_id when
    # wide); None while a stream of the records is still to be made.
    rows: bytes | None
    wide: bool


_COLUMNS = "l.id, l.stream_id, l.time_ns, l.level, l.line, l.attributes, l.trace_id, l.span_id"


class SqliteBackend:
    def __init__(self, home: StoreHome) -> None:
        self.home = home
        self._writer = home.sqlite("logs")
        self._writer.execute("PRAGMA cache_size=-65536")  # 64 MiB: a batch's index pages stay in memory
        if self._writer.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._writer.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                self._writer.execute(statement)
            self._writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._writer.execute("COMMIT")
        self._stream_ids: dict[tuple[str, str], int] = {}
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()

    # ---- connections ----

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A pooled read connection, inside one read transaction (a consistent snapshot)."""
        with self._readers_lock:
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = self.home.sqlite("logs")
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
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

    def _stream_id(self, project_id: str, labels: dict[str, str], create: bool) -> int | None:
        key = (project_id, labels_key(labels))
        found = self._stream_ids.get(key)
        if found is None and create:  # the writer, inside its transaction
            conn = self._writer
            conn.execute("INSERT OR IGNORE INTO streams (project_id, labels) VALUES (?, ?)", key)
            found = conn.execute("SELECT id FROM streams WHERE project_id = ? AND labels = ?", key).fetchone()[0]
            self._stream_ids[key] = found
        return found

    def _encode(self, project_id: str, records: list[LogRecord], create: bool) -> Prepared:
        """Rows as one JSON array for `json_each`. Records of one request share their labels
        dict: a stream is looked up once per dict. Without `create`, a label set not seen
        before leaves the rows to the writer (`rows` None)."""
        sids: dict[int, int] = {}
        rows: list[tuple[Any, ...]] = []
        wide = False
        for r in records:
            sid = sids.get(id(r.labels))
            if sid is None:
                found = self._stream_id(project_id, r.labels, create)
                if found is None:
                    return Prepared(project_id, records, None, False)
                sid = sids[id(r.labels)] = found
            if r.attributes or r.trace_id or r.span_id:
                wide = True
                rows.append(
                    (sid, r.time_ns, r.level, r.line, r.attributes or None, r.trace_id or None, r.span_id or None)
                )
            else:
                rows.append((sid, r.time_ns, r.level, r.line))
        return Prepared(project_id, records, orjson.dumps(rows, default=str), wide)

    def prepare(self, project_id: str, records: list[LogRecord]) -> Prepared:
        # In the request's thread (see LogStore), never waiting for the database: a new
        # stream is made by the writer, in its transaction.
        return self._encode(project_id, records, create=False)

    def write(self, prepared: list[Prepared]) -> int:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                ready = [p if p.rows is not None else self._encode(p.project_id, p.records, True) for p in prepared]
                before = conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
                # Consecutive requests of one shape joined into one array, one statement each
                # (in order: ids follow arrival); SQLite unpacks it in C without the GIL.
                for wide, run in itertools.groupby(ready, key=lambda p: p.wide):
                    rows = b"[" + b",".join(p.rows[1:-1] for p in run if p.rows and len(p.rows) > 2) + b"]"
                    conn.execute(_INSERT_WIDE if wide else _INSERT, (rows,))
                conn.execute("INSERT INTO logs_fts (rowid, line) SELECT id, line FROM logs WHERE id > ?", (before,))
                last = conn.execute("SELECT max(id) FROM logs").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._stream_ids.clear()  # ids made in the rolled-back transaction are gone
                raise
            return int(last or 0)

    def delete_before(self, time_ns: int) -> int:
        """Lines are stored about in time order: walk from the oldest id in chunks, stop at
        the first chunk with nothing to remove."""
        removed = 0
        with self._write_lock:
            conn = self._writer
            while True:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    ids = conn.execute(
                        "SELECT id FROM (SELECT id, time_ns FROM logs ORDER BY id LIMIT 5000) WHERE time_ns < ?",
                        (time_ns,),
                    ).fetchall()
                    if ids:
                        high = ids[-1][0]
                        conn.execute(
                            "INSERT INTO logs_fts (logs_fts, rowid, line) SELECT 'delete', id, line FROM logs"
                            " WHERE id <= ? AND time_ns < ?",
                            (high, time_ns),
                        )
                        conn.execute("DELETE FROM logs WHERE id <= ? AND time_ns < ?", (high, time_ns))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                removed += len(ids)
                if len(ids) < 5000:
                    return removed

    def maintain(self) -> None:
        with self._write_lock:
            self._writer.execute("INSERT INTO logs_fts (logs_fts, rank) VALUES ('merge', 200)")

    def get_cursor(self, name: str) -> int:
        with self._reader() as conn:
            row = conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_cursor(self, name: str, value: int) -> None:
        with self._write_lock:
            self._writer.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # ---- reading ----

    def last_id(self) -> int:
        with self._reader() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'logs'").fetchone()
            return int(row[0]) if row else 0

    def _streams(self, conn: sqlite3.Connection, project_id: str) -> dict[int, dict[str, str]]:
        rows = conn.execute("SELECT id, labels FROM streams WHERE project_id = ?", (project_id,)).fetchall()
        return {sid: orjson.loads(labels) for sid, labels in rows}

    def streams(self, project_id: str) -> dict[int, dict[str, str]]:
        with self._reader() as conn:
            return self._streams(conn, project_id)

    @staticmethod
    def _filters(start_ns: int | None, end_ns: int | None, after_id: int | None) -> tuple[str, list[Any]]:
        sql, args = "", []
        if start_ns is not None:
            sql += " AND l.time_ns >= ?"
            args.append(start_ns)
        if end_ns is not None:
            sql += " AND l.time_ns <= ?"
            args.append(end_ns)
        if after_id is not None:
            sql += " AND l.id > ?"
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
            order = "DESC" if newest_first else "ASC"
            extra, args = self._filters(start_ns, end_ns, after_id)
            if query.has_text and not query.only_negative:
                sql = (
                    f"SELECT {_COLUMNS} FROM logs_fts JOIN logs l ON l.id = logs_fts.rowid"
                    " WHERE logs_fts MATCH ? AND l.stream_id IN (SELECT value FROM json_each(?))"
                    f"{extra} ORDER BY logs_fts.rowid {order} LIMIT ?"
                )
                rows = conn.execute(sql, [to_fts5(query), orjson.dumps(ids).decode(), *args, limit]).fetchall()
            else:
                rows = self._by_streams(conn, query, ids, extra, args, limit, newest_first)
            return [self._stored(row, streams) for row in rows]

    def _by_streams(
        self,
        conn: sqlite3.Connection,
        query: LogQuery,
        ids: list[int],
        extra: str,
        args: list[Any],
        limit: int,
        newest_first: bool,
    ) -> list[tuple[Any, ...]]:
        """Each selected stream's lines by its index, newest (or oldest) first, merged."""
        order = "DESC" if newest_first else "ASC"
        if query.only_negative:
            extra += " AND l.id NOT IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)"
            args = [*args, fts5_negative(query)]
        sql = f"SELECT {_COLUMNS} FROM logs l WHERE l.stream_id = ?{extra} ORDER BY l.id {order} LIMIT ?"
        runs = [conn.execute(sql, [sid, *args, limit]).fetchall() for sid in ids]
        merged = heapq.merge(*runs, key=lambda row: row[0], reverse=newest_first)
        return [row for _, row in zip(range(limit), merged, strict=False)]

    @staticmethod
    def _stored(row: tuple[Any, ...], streams: dict[int, dict[str, str]]) -> StoredLog:
        lid, sid, time_ns, level, line, attributes, trace_id, span_id = row
        return StoredLog(
            lid,
            time_ns,
            line,
            dict(streams.get(sid, {})),
            orjson.loads(attributes) if attributes else {},
            level,
            trace_id or "",
            span_id or "",
        )

    def count(self, project_id: str, query: LogQuery, start_ns: int | None, end_ns: int | None) -> int:
        with self._reader() as conn:
            ids = selected_streams(self._streams(conn, project_id), query)
            if not ids:
                return 0
            extra, args = self._filters(start_ns, end_ns, None)
            streams_arg = orjson.dumps(ids).decode()
            if query.has_text and not query.only_negative:
                sql = (
                    "SELECT count(*) FROM logs_fts JOIN logs l ON l.id = logs_fts.rowid"
                    f" WHERE logs_fts MATCH ? AND l.stream_id IN (SELECT value FROM json_each(?)){extra}"
                )
                return int(conn.execute(sql, [to_fts5(query), streams_arg, *args]).fetchone()[0])
            if query.only_negative:
                extra += " AND l.id NOT IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)"
                args.append(fts5_negative(query))
            sql = f"SELECT count(*) FROM logs l WHERE l.stream_id IN (SELECT value FROM json_each(?)){extra}"
            return int(conn.execute(sql, [streams_arg, *args]).fetchone()[0])
