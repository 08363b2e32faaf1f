"""The metrics store's SQL, once per backend: SQLite (its own file, `metrics.db`) and PostgreSQL
(the schema `monitoring` of the platform's database, several replicas sharing it).

Tables (both backends):

- `metrics_series`: one row per (project, label set): the canonical JSON of the labels, its
  hash (unique per project, so a series is found without comparing JSON), the metric name (so a
  selector naming it reads only its series).
- `metrics_samples`: raw samples keyed (series_id, t_ms): a range scan of one series is one
  index range (SQLite: WITHOUT ROWID, the rows are the index).
- `metrics_downsampled`: the same shape, the last sample of each step once raw ones expire.
- `metrics_outbox`: samples waiting for remote-write, in the order they were stored (filled
  only when remote-write is configured; the writer deletes what it sent).

SQLite cannot store NaN (it becomes NULL), so values are nullable and NULL reads back as NaN."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["OutboxRow", "PostgresBackend", "SqliteBackend", "StoreBackend"]

SCHEMA_VERSION = 1
_CHUNK = 500  # ids per IN (...) list on SQLite (its limit on host parameters is 32766)

# (seq, project_id, labels JSON, t_ms, value)
OutboxRow = tuple[int, str, str, int, float]
# A new series: (hash, metric name, canonical labels JSON).
NewSeries = tuple[str, str, str]


class StoreBackend(Protocol):
    def write(
        self,
        project_id: str,
        new_series: Sequence[NewSeries],
        rows: Callable[[dict[str, int]], list[tuple[int, int, float]]],
        outbox: bool,
    ) -> dict[str, int]: ...
    def series_of(self, project_id: str, name: str | None) -> list[tuple[int, str]]: ...
    def samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> Iterator[tuple[int, int, float]]: ...
    def with_samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> set[int]: ...
    def sweep(self, raw_before_ms: int, step_ms: int, downsampled_before_ms: int) -> tuple[int, int, int]: ...
    def outbox_take(self, limit: int) -> tuple[list[OutboxRow], int]: ...
    def outbox_ack(self, through_seq: int) -> None: ...
    def outbox_trim(self, keep: int) -> int: ...
    @contextmanager
    def outbox_turn(self) -> Iterator[bool]: ...
    def close(self) -> None: ...


def _nan_of(value: float | None) -> float:
    return math.nan if value is None else value


class _Pool:
    """Connections handed to one thread at a time, kept for reuse (a few idle at most)."""

    def __init__(self, connect: Callable[[], Any], idle: int = 4) -> None:
        self._connect = connect
        self._idle: list[Any] = []
        self._max_idle = idle
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[Any]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()  # its state is unknown after a failure midway: never reuse it
            raise
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# ---- SQLite -----------------------------------------------------------------------------

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics_series (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, hash TEXT NOT NULL,
    name TEXT NOT NULL, labels TEXT NOT NULL, UNIQUE (project_id, hash));
CREATE INDEX IF NOT EXISTS metrics_series_by_name ON metrics_series (project_id, name);
CREATE TABLE IF NOT EXISTS metrics_samples (
    series_id INTEGER NOT NULL, t_ms INTEGER NOT NULL, value REAL,
    PRIMARY KEY (series_id, t_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics_downsampled (
    series_id INTEGER NOT NULL, t_ms INTEGER NOT NULL, value REAL,
    PRIMARY KEY (series_id, t_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL, t_ms INTEGER NOT NULL, value REAL);
"""

# The last sample of each (series, step) older than the cutoff.
_LAST_OF_STEP = """
SELECT series_id, t_ms, value FROM (
    SELECT series_id, t_ms, value,
           row_number() OVER (PARTITION BY series_id, t_ms / {step} ORDER BY t_ms DESC) AS nth
    FROM metrics_samples WHERE t_ms < {cutoff}) AS ranked
WHERE nth = 1
"""


class SqliteBackend:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._pool = _Pool(connect)
        # One writer at a time in this process: SQLite allows one anyway, and a lock waits
        # without the busy-retry of two connections racing for it.
        self._write_lock = threading.Lock()
        with self._pool.use() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                conn.executescript(_SQLITE_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._pool.use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def write(
        self,
        project_id: str,
        new_series: Sequence[NewSeries],
        rows: Callable[[dict[str, int]], list[tuple[int, int, float]]],
        outbox: bool,
    ) -> dict[str, int]:
        with self._transaction() as conn:
            ids: dict[str, int] = {}
            if new_series:
                conn.executemany(
                    "INSERT OR IGNORE INTO metrics_series (project_id, hash, name, labels) VALUES (?, ?, ?, ?)",
                    [(project_id, h, name, labels) for h, name, labels in new_series],
                )
                hashes = [h for h, _, _ in new_series]
                for i in range(0, len(hashes), _CHUNK):
                    part = hashes[i : i + _CHUNK]
                    marks = ",".join("?" * len(part))
                    ids.update(
                        (h, sid)
                        for sid, h in conn.execute(
                            f"SELECT id, hash FROM metrics_series WHERE project_id = ? AND hash IN ({marks})",
                            [project_id, *part],
                        )
                    )
            samples = rows(ids)
            conn.executemany("INSERT OR REPLACE INTO metrics_samples VALUES (?, ?, ?)", samples)
            if outbox:
                conn.executemany("INSERT INTO metrics_outbox (series_id, t_ms, value) VALUES (?, ?, ?)", samples)
            return ids

    def series_of(self, project_id: str, name: str | None) -> list[tuple[int, str]]:
        with self._pool.use() as conn:
            if name is None:
                cur = conn.execute("SELECT id, labels FROM metrics_series WHERE project_id = ?", (project_id,))
            else:
                cur = conn.execute(
                    "SELECT id, labels FROM metrics_series WHERE project_id = ? AND name = ?", (project_id, name)
                )
            return cur.fetchall()

    def samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> Iterator[tuple[int, int, float]]:
        with self._pool.use() as conn:
            for part in _chunks(ids):
                marks = ",".join("?" * len(part))
                cur = conn.execute(
                    f"SELECT series_id, t_ms, value FROM metrics_downsampled"
                    f" WHERE series_id IN ({marks}) AND t_ms BETWEEN ? AND ?"
                    f" UNION ALL SELECT series_id, t_ms, value FROM metrics_samples"
                    f" WHERE series_id IN ({marks}) AND t_ms BETWEEN ? AND ? ORDER BY 1, 2",
                    [*part, start_ms, end_ms, *part, start_ms, end_ms],
                )
                for sid, t, v in cur:
                    yield sid, t, _nan_of(v)

    def with_samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> set[int]:
        found: set[int] = set()
        with self._pool.use() as conn:
            for part in _chunks(ids):
                marks = ",".join("?" * len(part))
                found.update(
                    sid
                    for (sid,) in conn.execute(
                        f"SELECT id FROM metrics_series AS s WHERE id IN ({marks}) AND ("
                        "EXISTS (SELECT 1 FROM metrics_samples WHERE series_id = s.id AND t_ms BETWEEN ? AND ?) OR "
                        "EXISTS (SELECT 1 FROM metrics_downsampled WHERE series_id = s.id AND t_ms BETWEEN ? AND ?))",
                        [*part, start_ms, end_ms, start_ms, end_ms],
                    )
                )
        return found

    def sweep(self, raw_before_ms: int, step_ms: int, downsampled_before_ms: int) -> tuple[int, int, int]:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO metrics_downsampled "
                + _LAST_OF_STEP.format(step=int(step_ms), cutoff=int(raw_before_ms))
            )
            raw = conn.execute("DELETE FROM metrics_samples WHERE t_ms < ?", (raw_before_ms,)).rowcount
            old = conn.execute("DELETE FROM metrics_downsampled WHERE t_ms < ?", (downsampled_before_ms,)).rowcount
            gone = conn.execute(
                "DELETE FROM metrics_series WHERE NOT EXISTS (SELECT 1 FROM metrics_samples WHERE series_id = id)"
                " AND NOT EXISTS (SELECT 1 FROM metrics_downsampled WHERE series_id = id)"
            ).rowcount
        return raw, old, gone

    def outbox_take(self, limit: int) -> tuple[list[OutboxRow], int]:
        with self._pool.use() as conn:
            rows = conn.execute(
                "SELECT o.seq, s.project_id, s.labels, o.t_ms, o.value FROM"
                " (SELECT * FROM metrics_outbox ORDER BY seq LIMIT ?) AS o"
                " LEFT JOIN metrics_series AS s ON s.id = o.series_id ORDER BY o.seq",
                (limit,),
            ).fetchall()
        last = rows[-1][0] if rows else 0
        return [(q, p, lab, t, _nan_of(v)) for q, p, lab, t, v in rows if p is not None], last

    def outbox_ack(self, through_seq: int) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM metrics_outbox WHERE seq <= ?", (through_seq,))

    def outbox_trim(self, keep: int) -> int:
        with self._transaction() as conn:
            return conn.execute(
                "DELETE FROM metrics_outbox WHERE seq <= (SELECT max(seq) FROM metrics_outbox) - ?", (keep,)
            ).rowcount

    @contextmanager
    def outbox_turn(self) -> Iterator[bool]:
        yield True  # one process owns the SQLite file

    def close(self) -> None:
        self._pool.close()


# ---- PostgreSQL -------------------------------------------------------------------------

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics_series (
    id BIGSERIAL PRIMARY KEY, project_id TEXT NOT NULL, hash TEXT NOT NULL,
    name TEXT NOT NULL, labels TEXT NOT NULL, UNIQUE (project_id, hash));
CREATE INDEX IF NOT EXISTS metrics_series_by_name ON metrics_series (project_id, name);
CREATE TABLE IF NOT EXISTS metrics_samples (
    series_id BIGINT NOT NULL, t_ms BIGINT NOT NULL, value DOUBLE PRECISION,
    PRIMARY KEY (series_id, t_ms));
CREATE TABLE IF NOT EXISTS metrics_downsampled (
    series_id BIGINT NOT NULL, t_ms BIGINT NOT NULL, value DOUBLE PRECISION,
    PRIMARY KEY (series_id, t_ms));
CREATE TABLE IF NOT EXISTS metrics_outbox (
    seq BIGSERIAL PRIMARY KEY, series_id BIGINT NOT NULL, t_ms BIGINT NOT NULL, value DOUBLE PRECISION);
"""
# Advisory lock keys: schema creation, and the remote writer's turn (one replica sends).
_SCHEMA_LOCK = 0x6D65747269637301
_OUTBOX_LOCK = 0x6D65747269637302


class PostgresBackend:
    def __init__(self, connect: Callable[[], Any]) -> None:
        self._pool = _Pool(connect)
        with self._pool.use() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_PG_SCHEMA)
            conn.execute(
                "INSERT INTO metrics_meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )

    def write(
        self,
        project_id: str,
        new_series: Sequence[NewSeries],
        rows: Callable[[dict[str, int]], list[tuple[int, int, float]]],
        outbox: bool,
    ) -> dict[str, int]:
        with self._pool.use() as conn, conn.transaction():
            ids: dict[str, int] = {}
            if new_series:
                hashes = [h for h, _, _ in new_series]
                conn.execute(
                    "INSERT INTO metrics_series (project_id, hash, name, labels)"
                    " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[])"
                    " ON CONFLICT (project_id, hash) DO NOTHING",
                    (project_id, hashes, [n for _, n, _ in new_series], [lab for _, _, lab in new_series]),
                )
                ids.update(
                    (h, sid)
                    for sid, h in conn.execute(
                        "SELECT id, hash FROM metrics_series WHERE project_id = %s AND hash = ANY(%s)",
                        (project_id, hashes),
                    )
                )
            # One statement per table; a (series, time) twice in it would be refused
            # ("cannot affect row a second time"): the last value wins, as on SQLite.
            unique = {(sid, t): v for sid, t, v in rows(ids)}
            columns = ([k[0] for k in unique], [k[1] for k in unique], list(unique.values()))
            conn.execute(
                "INSERT INTO metrics_samples SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::float8[])"
                " ON CONFLICT (series_id, t_ms) DO UPDATE SET value = EXCLUDED.value",
                columns,
            )
            if outbox:
                conn.execute(
                    "INSERT INTO metrics_outbox (series_id, t_ms, value)"
                    " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::float8[])",
                    columns,
                )
            return ids

    def series_of(self, project_id: str, name: str | None) -> list[tuple[int, str]]:
        with self._pool.use() as conn:
            if name is None:
                cur = conn.execute("SELECT id, labels FROM metrics_series WHERE project_id = %s", (project_id,))
            else:
                cur = conn.execute(
                    "SELECT id, labels FROM metrics_series WHERE project_id = %s AND name = %s", (project_id, name)
                )
            return [(int(sid), str(labels)) for sid, labels in cur.fetchall()]

    def samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> Iterator[tuple[int, int, float]]:
        with self._pool.use() as conn:
            cur = conn.execute(
                "SELECT series_id, t_ms, value FROM metrics_downsampled"
                " WHERE series_id = ANY(%(ids)s) AND t_ms BETWEEN %(start)s AND %(end)s"
                " UNION ALL SELECT series_id, t_ms, value FROM metrics_samples"
                " WHERE series_id = ANY(%(ids)s) AND t_ms BETWEEN %(start)s AND %(end)s ORDER BY 1, 2",
                {"ids": list(ids), "start": start_ms, "end": end_ms},
            )
            for sid, t, v in cur:
                yield int(sid), int(t), _nan_of(v)

    def with_samples(self, ids: Sequence[int], start_ms: int, end_ms: int) -> set[int]:
        with self._pool.use() as conn:
            cur = conn.execute(
                "SELECT id FROM metrics_series AS s WHERE id = ANY(%(ids)s) AND ("
                "EXISTS (SELECT 1 FROM metrics_samples WHERE series_id = s.id AND t_ms BETWEEN %(start)s AND %(end)s) OR "
                "EXISTS (SELECT 1 FROM metrics_downsampled WHERE series_id = s.id AND t_ms BETWEEN %(start)s AND %(end)s))",
                {"ids": list(ids), "start": start_ms, "end": end_ms},
            )
            return {int(sid) for (sid,) in cur}

    def sweep(self, raw_before_ms: int, step_ms: int, downsampled_before_ms: int) -> tuple[int, int, int]:
        with self._pool.use() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO metrics_downsampled "
                + _LAST_OF_STEP.format(step=int(step_ms), cutoff=int(raw_before_ms))
                + " ON CONFLICT (series_id, t_ms) DO UPDATE SET value = EXCLUDED.value"
            )
            raw = conn.execute("DELETE FROM metrics_samples WHERE t_ms < %s", (raw_before_ms,)).rowcount
            old = conn.execute("DELETE FROM metrics_downsampled WHERE t_ms < %s", (downsampled_before_ms,)).rowcount
            gone = conn.execute(
                "DELETE FROM metrics_series AS s WHERE NOT EXISTS (SELECT 1 FROM metrics_samples WHERE series_id = s.id)"
                " AND NOT EXISTS (SELECT 1 FROM metrics_downsampled WHERE series_id = s.id)"
            ).rowcount
        return raw, old, gone

    def outbox_take(self, limit: int) -> tuple[list[OutboxRow], int]:
        with self._pool.use() as conn:
            rows = conn.execute(
                "SELECT o.seq, s.project_id, s.labels, o.t_ms, o.value FROM"
                " (SELECT * FROM metrics_outbox ORDER BY seq LIMIT %s) AS o"
                " LEFT JOIN metrics_series AS s ON s.id = o.series_id ORDER BY o.seq",
                (limit,),
            ).fetchall()
        last = int(rows[-1][0]) if rows else 0
        return [(int(q), p, lab, int(t), _nan_of(v)) for q, p, lab, t, v in rows if p is not None], last

    def outbox_ack(self, through_seq: int) -> None:
        with self._pool.use() as conn:
            conn.execute("DELETE FROM metrics_outbox WHERE seq <= %s", (through_seq,))

    def outbox_trim(self, keep: int) -> int:
        with self._pool.use() as conn:
            return int(
                conn.execute(
                    "DELETE FROM metrics_outbox WHERE seq <= (SELECT max(seq) FROM metrics_outbox) - %s", (keep,)
                ).rowcount
            )

    @contextmanager
    def outbox_turn(self) -> Iterator[bool]:
        """Whether this replica holds the remote writer's turn (a session advisory lock held
        while it takes, sends and acknowledges), so two replicas never send the same rows."""
        with self._pool.use() as conn:
            got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (_OUTBOX_LOCK,)).fetchone()[0])
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_OUTBOX_LOCK,))

    def close(self) -> None:
        self._pool.close()
