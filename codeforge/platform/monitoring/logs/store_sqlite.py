"""The log store on SQLite: `data_dir/monitoring/logs.db`, lines stored in chunks (Loki's way)
and an FTS5 index over the chunks.

A chunk is up to `CHUNK_LINES` lines (or about `CHUNK_CHARS` characters) of one stream from
one request: one row holding the lines' text (joined by newlines, the part FTS5 indexes) and
their other fields as one JSON array (`meta`: id offsets, times, levels, lengths, and
attributes/trace/span where a line has them), with the chunk's first and last line ids and its
time range. Storing a row and indexing a document per chunk instead of per line is what makes
ingestion cheap: the writer's SQLite work per line (a B-tree row, an index entry, a doclist
entry per token) shrinks to a share of a chunk, and a word repeated within a chunk is one
doclist entry. The request's thread builds the chunks (`prepare`); the writer binds ids and
runs two statements per batch.

Reading: the chunks the index (words) or the streams' index (no words) name, newest (or
oldest) first, are opened, and each line is checked against the query (`line_matcher`: the
same words, phrases, exclusions and OR, folded as unicode61 folds them), the time range and a
tail's cursor. Only the words that must occur select chunks (a chunk holding an excluded
word may hold lines without it), and a chunk's candidate lines are first found by regexes over
its text, so most chunks named for words that meet only on different lines cost no JSON
decoding. Line ids are given in arrival order across streams, as before; within a
request, chunks are written in the order of their last line, so a chunk's `last_id` grows with
its rowid, and newest-first reading stops as soon as `limit` lines newer than every chunk still
to read are found. Oldest-first reading stops at the first chunk whose request (`span_first`)
begins after the lines found.

FTS5 choices:

- External content (`content='chunks'`, column `text`): the text is stored once.
- `detail=full`: phrases are narrowed by the index itself (a phrase across two lines of a
  chunk is then dropped by the line check).
- `columnsize=0`: no per-row size table (bm25 is not used).
- `automerge=8`, and idle time (`maintain`) merges segments.
- Ids never repeat (a counter row, not the table's max: retention may empty it), so a tail's
  cursor holds.

Schema version 2; a file of version 1 (one row per line in `logs` and `logs_fts`) is converted
to chunks when first opened, in one transaction, ids kept."""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from codeforge.platform.monitoring.logs.backend import StoredLog, labels_key, selected_streams
from codeforge.platform.monitoring.logs.query import Branch, LogQuery, fold, line_matcher, to_fts5
from codeforge.platform.monitoring.records import LogRecord
from codeforge.platform.monitoring.storage import StoreHome

__all__ = ["CHUNK_CHARS", "CHUNK_LINES", "Prepared", "SqliteBackend"]

CHUNK_LINES = 256
CHUNK_CHARS = 64 * 1024

SCHEMA_VERSION = 2
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, labels TEXT NOT NULL,"
    " UNIQUE (project_id, labels))",
    # Small columns first: a scan of the streams' index reads no text.
    "CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL,"
    " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, span_first INTEGER NOT NULL, n INTEGER NOT NULL,"
    " min_time INTEGER NOT NULL, max_time INTEGER NOT NULL, meta BLOB NOT NULL, text TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS chunks_stream ON chunks (stream_id, id)",
    "CREATE INDEX IF NOT EXISTS chunks_last ON chunks (last_id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks', content_rowid='id',"
    " detail=full, columnsize=0, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('last_id', 0)",
    "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('automerge', 8)",
)
_INSERT = (
    "INSERT INTO chunks (stream_id, first_id, last_id, span_first, n, min_time, max_time, meta, text)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHUNK_COLUMNS = "c.id, c.stream_id, c.first_id, c.last_id, c.span_first, c.n, c.min_time, c.max_time, c.meta, c.text"

# (stream_id, first offset, last offset, lines, min_time, max_time, meta, text): offsets are
# of the request's lines (the writer adds the request's first id).
Chunk = tuple[int, int, int, int, int, int, bytes, str]
# (id, stream_id, time_ns, level, line, (attributes, trace_id, span_id) or None)
Line = tuple[int, int, int, str, str, Any]


@dataclass(slots=True)
class Prepared:
    project_id: str
    records: list[LogRecord]
    # The request's chunks in the order of their last line; None while a stream of the
    # records is still to be made (the writer makes it and the chunks).
    chunks: list[Chunk] | None


def _chunks(sid: int, entries: list[tuple[int, LogRecord]]) -> Iterator[Chunk]:
    """One stream's (offset, record) in arrival order, cut into chunks."""
    at, size = 0, len(entries)
    while at < size:
        end = min(at + CHUNK_LINES, size)
        part = entries[at:end]
        lines = [r.line for _, r in part]
        lengths = [len(line) for line in lines]
        if sum(lengths) > CHUNK_CHARS and len(part) > 1:  # long lines (stacks): fewer per chunk
            cut = max(bisect.bisect_right(list(itertools.accumulate(lengths)), CHUNK_CHARS), 1)
            end = at + cut
            part, lines, lengths = part[:cut], lines[:cut], lengths[:cut]
        first = part[0][0]
        times = [r.time_ns for _, r in part]
        wide = None
        if any(r.attributes or r.trace_id or r.span_id for _, r in part):
            wide = [
                (r.attributes or None, r.trace_id or None, r.span_id or None)
                if r.attributes or r.trace_id or r.span_id
                else None
                for _, r in part
            ]
        meta = orjson.dumps(
            ([off - first for off, _ in part], times, [r.level for _, r in part], lengths, wide), default=str
        )
        yield (sid, first, part[-1][0], len(part), min(times), max(times), meta, "\n".join(lines))
        at = end


def _chunked(groups: Iterable[tuple[int, list[tuple[int, LogRecord]]]]) -> list[Chunk]:
    out = [chunk for sid, entries in groups for chunk in _chunks(sid, entries)]
    out.sort(key=lambda c: c[2])  # by last line: rowids then follow last_id
    return out


def _lines_of(
    row: tuple[Any, ...],
    patterns: list[list[re.Pattern[str]]] | None = None,
    match: Callable[[str], bool] | None = None,
) -> Iterator[Line]:
    """The lines of a chunk row (as `_CHUNK_COLUMNS`). With `patterns` (`_patterns`) and an
    ASCII chunk, only the lines where every pattern of a branch is found; with `match` too and
    no line of the chunk holding a newline, those lines are checked on the text before the
    chunk's other fields are read (most chunks the index names for words on different lines
    end there). The caller still checks each line yielded."""
    _, sid, first_id, _, _, n, _, _, meta, text = row
    fields: Any = None
    picked: list[int] | None = None
    if patterns is not None and text.isascii():  # lower() keeps positions
        folded = text.lower()
        if folded.count("\n") == n - 1:  # newlines part lines exactly: no field read yet
            begins: set[int] = set()
            for first, *rest in patterns:
                at = 0
                while (found := first.search(folded, at)) is not None:
                    begin = folded.rfind("\n", 0, found.start()) + 1
                    end = folded.find("\n", found.end())
                    end = len(folded) if end < 0 else end
                    line = folded[begin:end]
                    if all(p.search(line) for p in rest) and (match is None or match(line)):
                        begins.add(begin)
                    at = end + 1
            if not begins:
                return  # the usual end of a chunk the index named for words on different lines
            picked = sorted(folded.count("\n", 0, begin) for begin in begins)
        else:
            fields = orjson.loads(meta)
            ends = list(itertools.accumulate(fields[3], lambda at, length: at + length + 1, initial=-1))[1:]
            candidates: set[int] = set()
            for branch in patterns:
                lines: set[int] | None = None
                for pattern in branch:  # a hit is within one line: the patterns hold no newline
                    hits = {bisect.bisect_left(ends, m.start()) for m in pattern.finditer(folded)}
                    lines = hits if lines is None else lines & hits
                    if not lines:
                        break
                candidates |= lines or set()
            if not candidates:
                return
            picked = sorted(candidates)
    offsets, times, levels, lengths, wide = orjson.loads(meta) if fields is None else fields
    starts = list(itertools.accumulate(map((1).__add__, lengths), initial=0))
    for k in range(len(lengths)) if picked is None else picked:
        at = starts[k]
        yield (first_id + offsets[k], sid, times[k], levels[k], text[at : at + lengths[k]], wide[k] if wide else None)


def _patterns(query: LogQuery) -> list[list[re.Pattern[str]]] | None:
    """For each OR branch, a regex for each word or phrase that must occur, longest first, to
    find the few lines of a chunk worth checking; None when some branch has no word that must
    occur (every line is a candidate). No word boundaries: a pattern that starts with its text
    is searched fast, and a line found in excess is dropped by the line check."""
    if not query.branches or any(not b.positive for b in query.branches):
        return None
    out = []
    for branch in query.branches:
        terms = sorted(branch.positive, key=lambda t: -sum(map(len, t.words)))
        out.append([re.compile(r"(?:[^\w\n]|_)+".join(re.escape(fold(w)) for w in t.words)) for t in terms])
    return out


class SqliteBackend:
    def __init__(self, home: StoreHome) -> None:
        self.home = home
        self._writer = home.sqlite("logs")
        self._writer.execute("PRAGMA cache_size=-65536")  # 64 MiB: a batch's index pages stay in memory
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    self._writer.execute(statement)
                if version == 1:
                    self._migrate_v1()
                self._writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        self._stream_ids: dict[tuple[str, str], int] = {}
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _migrate_v1(self) -> None:
        """Version 1 (a row per line in `logs`, indexed by `logs_fts`) to chunks, ids kept."""
        conn = self._writer
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'logs'").fetchone() is None:
            return
        after = 0
        while True:
            rows = conn.execute(
                "SELECT id, stream_id, time_ns, level, line, attributes, trace_id, span_id FROM logs"
                " WHERE id > ? ORDER BY id LIMIT 50000",
                (after,),
            ).fetchall()
            if not rows:
                break
            groups: dict[int, list[tuple[int, LogRecord]]] = {}
            for lid, sid, time_ns, level, line, attributes, trace_id, span_id in rows:
                record = LogRecord(
                    time_ns,
                    line,
                    {},
                    orjson.loads(attributes) if attributes else {},
                    level,
                    trace_id or "",
                    span_id or "",
                )
                groups.setdefault(sid, []).append((lid, record))
            span_first = rows[0][0]
            conn.executemany(
                _INSERT,
                [
                    (sid, f, last, span_first, n, lo, hi, meta, text)
                    for sid, f, last, n, lo, hi, meta, text in _chunked(groups.items())
                ],
            )
            after = rows[-1][0]
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'logs'").fetchone()
        last = max(after, int(seq[0]) if seq else 0)
        conn.execute("UPDATE counters SET value = ? WHERE name = 'last_id'", (last,))
        conn.execute("INSERT INTO chunks_fts (rowid, text) SELECT id, text FROM chunks")
        conn.execute("DROP TABLE IF EXISTS logs_fts")
        conn.execute("DROP TABLE IF EXISTS logs")

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
        """The request's chunks. Records of one request share their labels dict: a stream is
        looked up once per dict. Without `create`, a label set not seen before leaves the
        chunks to the writer (`chunks` None)."""
        by_labels: dict[int, list[tuple[int, LogRecord]]] = {}
        groups: dict[int, list[tuple[int, LogRecord]]] = {}
        for entry in enumerate(records):
            labels = entry[1].labels
            group = by_labels.get(id(labels))
            if group is None:
                sid = self._stream_id(project_id, labels, create)
                if sid is None:
                    return Prepared(project_id, records, None)
                group = by_labels[id(labels)] = groups.setdefault(sid, [])
            group.append(entry)
        return Prepared(project_id, records, _chunked(groups.items()))

    def prepare(self, project_id: str, records: list[LogRecord]) -> Prepared:
        # In the request's thread (see LogStore), never waiting for the database: a new
        # stream is made by the writer, in its transaction.
        return self._encode(project_id, records, create=False)

    def write(self, prepared: list[Prepared]) -> int:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = conn.execute("SELECT value FROM counters WHERE name = 'last_id'").fetchone()[0]
                before = conn.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]
                rows: list[tuple[Any, ...]] = []
                for p in prepared:
                    chunks = p.chunks if p.chunks is not None else self._encode(p.project_id, p.records, True).chunks
                    base = last + 1
                    rows.extend(
                        (sid, base + f, base + lo, base, n, tmin, tmax, meta, text)
                        for sid, f, lo, n, tmin, tmax, meta, text in chunks or ()
                    )
                    last += len(p.records)
                conn.executemany(_INSERT, rows)
                conn.execute("INSERT INTO chunks_fts (rowid, text) SELECT id, text FROM chunks WHERE id > ?", (before,))
                conn.execute("UPDATE counters SET value = ? WHERE name = 'last_id'", (last,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._stream_ids.clear()  # ids made in the rolled-back transaction are gone
                raise
            return int(last)

    def delete_before(self, time_ns: int) -> int:
        """Chunks are stored about in time order: walk from the oldest in groups, remove the
        chunks wholly older than `time_ns` and rewrite those partly older (keeping their id
        bounds), stop at the first group with nothing to remove."""
        removed = 0
        with self._write_lock:
            conn = self._writer
            after = 0
            while True:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = conn.execute(
                        f"SELECT {_CHUNK_COLUMNS} FROM chunks c WHERE c.id > ? ORDER BY c.id LIMIT 500", (after,)
                    ).fetchall()
                    old = [row for row in rows if row[6] < time_ns]
                    for row in old:
                        cid, n, text = row[0], row[5], row[9]
                        conn.execute(
                            "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', ?, ?)", (cid, text)
                        )
                        if row[7] < time_ns:
                            conn.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                            removed += n
                            continue
                        kept = [line for line in _lines_of(row) if line[2] >= time_ns]
                        removed += n - len(kept)
                        first = kept[0][0]
                        times = [line[2] for line in kept]
                        wide = [line[5] for line in kept] if any(line[5] for line in kept) else None
                        meta = orjson.dumps(
                            (
                                [line[0] - first for line in kept],
                                times,
                                [line[3] for line in kept],
                                [len(line[4]) for line in kept],
                                wide,
                            ),
                            default=str,
                        )
                        new_text = "\n".join(line[4] for line in kept)
                        conn.execute(
                            "UPDATE chunks SET first_id = ?, n = ?, min_time = ?, max_time = ?, meta = ?, text = ?"
                            " WHERE id = ?",
                            (first, len(kept), min(times), max(times), meta, new_text, cid),
                        )
                        conn.execute("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", (cid, new_text))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                if not old or len(rows) < 500:
                    return removed
                after = rows[-1][0]

    def maintain(self) -> None:
        with self._write_lock:
            self._writer.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('merge', 200)")

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
            row = conn.execute("SELECT value FROM counters WHERE name = 'last_id'").fetchone()
            return int(row[0]) if row else 0

    def _streams(self, conn: sqlite3.Connection, project_id: str) -> dict[int, dict[str, str]]:
        rows = conn.execute("SELECT id, labels FROM streams WHERE project_id = ?", (project_id,)).fetchall()
        return {sid: orjson.loads(labels) for sid, labels in rows}

    def streams(self, project_id: str) -> dict[int, dict[str, str]]:
        with self._reader() as conn:
            return self._streams(conn, project_id)

    def _candidates(
        self,
        conn: sqlite3.Connection,
        query: LogQuery,
        ids: list[int],
        start_ns: int | None,
        end_ns: int | None,
        after_id: int | None,
        newest_first: bool,
    ) -> Iterator[tuple[Any, ...]]:
        """The chunks that may hold matching lines, by rowid (newest or oldest first)."""
        extra, args = "", []
        if start_ns is not None:
            extra += " AND c.max_time >= ?"
            args.append(start_ns)
        if end_ns is not None:
            extra += " AND c.min_time <= ?"
            args.append(end_ns)
        if after_id is not None:
            low = conn.execute("SELECT min(id) FROM chunks WHERE last_id > ?", (after_id,)).fetchone()[0]
            if low is None:
                return iter(())
            extra += " AND c.id >= ?"
            args.append(low)
        order = "DESC" if newest_first else "ASC"
        if query.has_text and not query.only_negative:
            sql = (
                f"SELECT {_CHUNK_COLUMNS} FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
                " WHERE chunks_fts MATCH ? AND c.stream_id IN (SELECT value FROM json_each(?))"
                f"{extra.replace('c.id >=', 'chunks_fts.rowid >=')} ORDER BY chunks_fts.rowid {order}"
            )
            # Only the words that must occur narrow chunks: a chunk holding an excluded word
            # may still hold lines without it (the line check drops the others).
            positive = tuple(Branch(b.positive) for b in query.branches)
            return iter(conn.execute(sql, [to_fts5(query, positive), orjson.dumps(ids).decode(), *args]))
        # Each selected stream's chunks by its index, merged.
        sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks c WHERE c.stream_id = ?{extra} ORDER BY c.id {order}"
        runs = [conn.execute(sql, [sid, *args]) for sid in ids]
        if len(runs) == 1:
            return iter(runs[0])
        return heapq.merge(*runs, key=lambda row: row[0], reverse=newest_first)

    @staticmethod
    def _keep(
        query: LogQuery, start_ns: int | None, end_ns: int | None, after_id: int | None
    ) -> Callable[[Line], bool] | None:
        match = line_matcher(query)
        low = -(1 << 63) if start_ns is None else start_ns
        high = (1 << 63) if end_ns is None else end_ns
        after = -1 if after_id is None else after_id
        if match is None and start_ns is None and end_ns is None and after_id is None:
            return None

        def keep(line: Line) -> bool:
            return line[0] > after and low <= line[2] <= high and (match is None or match(line[4]))

        return keep

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
            keep = self._keep(query, start_ns, end_ns, after_id)
            patterns, match = _patterns(query), line_matcher(query)
            found: list[Line] = []
            for row in self._candidates(conn, query, ids, start_ns, end_ns, after_id, newest_first):
                if len(found) >= limit:
                    # Every chunk still to read holds ids at most its last_id (newest first),
                    # or at least its request's first id (oldest first).
                    if newest_first and found[-1][0] > row[3]:
                        break
                    if not newest_first and found[-1][0] < row[4]:
                        break
                found.extend(line for line in _lines_of(row, patterns, match) if keep is None or keep(line))
                if len(found) >= limit:
                    found.sort(key=lambda line: line[0], reverse=newest_first)
                    del found[limit:]
            found.sort(key=lambda line: line[0], reverse=newest_first)
            return [self._stored(line, streams) for line in found[:limit]]

    @staticmethod
    def _stored(line: Line, streams: dict[int, dict[str, str]]) -> StoredLog:
        lid, sid, time_ns, level, text, wide = line
        attributes, trace_id, span_id = wide or (None, None, None)
        return StoredLog(
            lid,
            time_ns,
            text,
            dict(streams.get(sid, {})),
            attributes or {},
            level,
            trace_id or "",
            span_id or "",
        )

    def count(self, project_id: str, query: LogQuery, start_ns: int | None, end_ns: int | None) -> int:
        with self._reader() as conn:
            ids = selected_streams(self._streams(conn, project_id), query)
            if not ids:
                return 0
            if not query.has_text and start_ns is None and end_ns is None:
                sql = "SELECT coalesce(sum(n), 0) FROM chunks WHERE stream_id IN (SELECT value FROM json_each(?))"
                return int(conn.execute(sql, (orjson.dumps(ids).decode(),)).fetchone()[0])
            keep = self._keep(query, start_ns, end_ns, None)
            patterns, match = _patterns(query), line_matcher(query)
            total = 0
            for row in self._candidates(conn, query, ids, start_ns, end_ns, None, True):
                if (
                    not query.has_text
                    and (start_ns is None or row[6] >= start_ns)
                    and (end_ns is None or row[7] <= end_ns)
                ):
                    total += row[5]  # wholly inside the range
                else:
                    total += sum(1 for line in _lines_of(row, patterns, match) if keep is None or keep(line))
            return total
