"""TraceStore (part `traces`): spans by project and trace, a summary per trace kept current on
ingest so search reads one small row per trace, and the retention sweep.

Spans of one trace arrive in any order and in several requests (each service exports its own
batches), and an exporter that timed out sends the same batch again. So a span is stored once
(its ids are the key), and a trace's summary is folded in from the spans a batch added: the
earliest start and latest end, counts, and the root (the span without a parent) when it comes.
When a batch repeats spans already stored, the summaries it touches are recomputed from the
spans instead, so a retry never counts twice.

SQLite: `data_dir/monitoring/traces.db` (WAL; one writer at a time, readers never wait).
PostgreSQL: tables `trace_*` in the schema `monitoring`, shared by the platform's replicas."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from codeforge.platform.monitoring.periodic import Periodic
from codeforge.platform.monitoring.records import Span, SpanEvent

if TYPE_CHECKING:
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["SCHEMA_VERSION", "TraceStore", "TraceSummary"]

log = logging.getLogger("codeforge.monitoring.traces")

SCHEMA_VERSION = 1
_POOL_SIZE = 4  # connections per backend: the threads that ingest and search at once
_RETENTION_CHUNK = 500  # traces deleted per transaction, so a sweep never holds the writer long

_TABLES = """
CREATE TABLE IF NOT EXISTS trace_spans (
    project_id TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL, service TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL, status TEXT NOT NULL, status_message TEXT NOT NULL,
    attributes TEXT NOT NULL, resource TEXT NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (project_id, trace_id, span_id)
);
CREATE TABLE IF NOT EXISTS trace_summaries (
    project_id TEXT NOT NULL, trace_id TEXT NOT NULL,
    has_root INTEGER NOT NULL, root_service TEXT NOT NULL, root_name TEXT NOT NULL,
    start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL, duration_ns BIGINT NOT NULL,
    span_count INTEGER NOT NULL, error_count INTEGER NOT NULL,
    PRIMARY KEY (project_id, trace_id)
);
CREATE INDEX IF NOT EXISTS trace_summaries_by_start ON trace_summaries (project_id, start_ns);
CREATE INDEX IF NOT EXISTS trace_summaries_by_age ON trace_summaries (start_ns);
CREATE TABLE IF NOT EXISTS trace_operations (
    project_id TEXT NOT NULL, service TEXT NOT NULL, name TEXT NOT NULL, last_seen_ns BIGINT NOT NULL,
    PRIMARY KEY (project_id, service, name)
);
"""

_SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, status, status_message, "
    "attributes, resource, events"
)
_SUMMARY_COLUMNS = "trace_id, has_root, root_service, root_name, start_ns, duration_ns, span_count, error_count"


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    has_root: bool  # False while the root span has not arrived (or never will: a broken trace)
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int


@dataclass(slots=True)
class _Fold:
    """What one batch adds to a trace's summary."""

    start_ns: int
    end_ns: int
    spans: int = 0
    errors: int = 0
    root: Span | None = None


class _Pool:
    """A few connections reused by the threads that ingest and search (worker threads of the
    HTTP server, the operations' threads); a connection that failed is dropped, not reused."""

    def __init__(self, connect: Callable[[], Any], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()
        self._all: list[Any] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self._size
                self._made += make
            if make:
                try:
                    conn = self._connect()
                except BaseException:
                    with self._lock:
                        self._made -= 1
                    raise
                with self._lock:
                    self._all.append(conn)
            else:
                conn = self._idle.get()
        try:
            yield conn
        except BaseException:
            if getattr(conn, "closed", False) or getattr(conn, "broken", False):
                with self._lock:
                    self._made -= 1
                    self._all.remove(conn)
                raise
            self._idle.put(conn)
            raise
        self._idle.put(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # closing on the way out: nothing left to do about it
                    log.debug("closing a traces connection failed", exc_info=True)
            self._all.clear()


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TraceStore:
    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring
        home = monitoring.home
        self.postgres = home.postgres
        self._pool = _Pool(home.pg if self.postgres else lambda: home.sqlite("traces"), _POOL_SIZE)
        # Two-argument min/max: SQLite's scalar min()/max(), PostgreSQL's LEAST/GREATEST.
        self._least, self._greatest = ("LEAST", "GREATEST") if self.postgres else ("min", "max")
        self._retention = Periodic(
            "monitoring-traces-retention",
            "the traces retention sweep",
            lambda: self.monitoring.config.retention_interval_s,
            self._retain,
            join_s=30,
        )
        self._migrate()

    # ---- plumbing --------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            if self.postgres:
                with conn.transaction():
                    yield conn.cursor()
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.cursor()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            return list(conn.execute(self._sql(sql), params).fetchall())

    def _migrate(self) -> None:
        with self._transaction() as cur:
            if self.postgres:
                # Replicas starting together: one makes the tables, the others wait for it.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('codeforge.monitoring.traces'))")
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (store TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
                row = cur.execute("SELECT version FROM schema_version WHERE store = 'traces'").fetchone()
            else:
                row = cur.execute("PRAGMA user_version").fetchone()
                row = row if row and row[0] else None
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the traces store is at schema version {version}, newer than this platform's {SCHEMA_VERSION}: "
                    "upgrade the platform"
                )
            for statement in filter(str.strip, _TABLES.split(";")):
                cur.execute(statement)
            if self.postgres:
                cur.execute(
                    "INSERT INTO schema_version (store, version) VALUES ('traces', %s) "
                    "ON CONFLICT (store) DO UPDATE SET version = excluded.version",
                    (SCHEMA_VERSION,),
                )
            else:
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---- ingest ----------------------------------------------------------------------------

    def ingest(self, project_id: str, spans: Iterable[Span]) -> int:
        """Store the spans (one row per span id; a repeated one is kept once), fold them into
        their traces' summaries, then hand them to error tracking. Returns how many were new."""
        unique = {(s.trace_id, s.span_id): s for s in spans}
        if not unique:
            return 0
        batch = list(unique.values())
        resources: dict[int, str] = {}  # spans of one resource share its dict: serialise it once
        rows = [
            (
                project_id,
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.service,
                s.name,
                s.kind,
                s.start_ns,
                s.end_ns,
                s.status,
                s.status_message,
                _json(s.attributes),
                resources.get(id(s.resource)) or resources.setdefault(id(s.resource), _json(s.resource)),
                _json([(e.time_ns, e.name, e.attributes) for e in s.events]),
            )
            for s in batch
        ]
        folds = self._fold(batch)
        operations = sorted({(s.service, s.name): s.start_ns for s in batch}.items())
        with self._transaction() as cur:
            cur.executemany(
                self._sql(
                    f"INSERT INTO trace_spans (project_id, {_SPAN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (project_id, trace_id, span_id) DO NOTHING"
                ),
                rows,
            )
            added = cur.rowcount
            if added == len(rows):
                self._merge_summaries(cur, project_id, folds)
            else:  # some were stored already (a retried export): count from what is stored
                self._recompute_summaries(cur, project_id, sorted(folds))
            g = self._greatest
            cur.executemany(
                self._sql(
                    "INSERT INTO trace_operations (project_id, service, name, last_seen_ns) VALUES (?,?,?,?) "
                    "ON CONFLICT (project_id, service, name) DO UPDATE SET "
                    f"last_seen_ns = {g}(trace_operations.last_seen_ns, excluded.last_seen_ns)"
                ),
                [(project_id, service, name, seen) for (service, name), seen in operations],
            )
        self._observe(project_id, batch)
        return max(added, 0)

    @staticmethod
    def _fold(spans: Sequence[Span]) -> dict[str, _Fold]:
        folds: dict[str, _Fold] = {}
        for s in spans:
            fold = folds.get(s.trace_id)
            if fold is None:
                fold = folds[s.trace_id] = _Fold(s.start_ns, s.end_ns)
            fold.start_ns = min(fold.start_ns, s.start_ns)
            fold.end_ns = max(fold.end_ns, s.end_ns)
            fold.spans += 1
            fold.errors += s.status == "error"
            if not s.parent_span_id and (fold.root is None or s.start_ns < fold.root.start_ns):
                fold.root = s
        return folds

    def _merge_summaries(self, cur: Any, project_id: str, folds: dict[str, _Fold]) -> None:
        least, greatest = self._least, self._greatest
        t = "trace_summaries"
        cur.executemany(
            self._sql(
                "INSERT INTO trace_summaries (project_id, trace_id, has_root, root_service, root_name, start_ns, "
                "end_ns, duration_ns, span_count, error_count) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (project_id, trace_id) DO UPDATE SET "
                f"root_service = CASE WHEN excluded.has_root = 1 THEN excluded.root_service ELSE {t}.root_service END, "
                f"root_name = CASE WHEN excluded.has_root = 1 THEN excluded.root_name ELSE {t}.root_name END, "
                f"has_root = {greatest}({t}.has_root, excluded.has_root), "
                f"start_ns = {least}({t}.start_ns, excluded.start_ns), "
                f"end_ns = {greatest}({t}.end_ns, excluded.end_ns), "
                f"duration_ns = {greatest}({t}.end_ns, excluded.end_ns) - {least}({t}.start_ns, excluded.start_ns), "
                f"span_count = {t}.span_count + excluded.span_count, "
                f"error_count = {t}.error_count + excluded.error_count"
            ),
            [
                (
                    project_id,
                    trace_id,
                    int(f.root is not None),
                    f.root.service if f.root else "",
                    f.root.name if f.root else "",
                    f.start_ns,
                    f.end_ns,
                    f.end_ns - f.start_ns,
                    f.spans,
                    f.errors,
                )
                for trace_id, f in sorted(folds.items())  # one lock order across writers (PostgreSQL)
            ],
        )

    def _recompute_summaries(self, cur: Any, project_id: str, trace_ids: Sequence[str]) -> None:
        for trace_id in trace_ids:
            rows = cur.execute(
                self._sql(
                    "SELECT parent_span_id, service, name, start_ns, end_ns, status FROM trace_spans "
                    "WHERE project_id = ? AND trace_id = ?"
                ),
                (project_id, trace_id),
            ).fetchall()
            spans = [Span(trace_id, "", r[0], r[1], r[2], r[3], r[4], status=r[5]) for r in rows]
            cur.execute(
                self._sql("DELETE FROM trace_summaries WHERE project_id = ? AND trace_id = ?"), (project_id, trace_id)
            )
            self._merge_summaries(cur, project_id, self._fold(spans))

    def _observe(self, project_id: str, spans: list[Span]) -> None:
        """Error tracking reads the exceptions spans recorded; the spans are stored already, so
        a failure there is logged and never fails the ingest."""
        try:
            self.monitoring.errors.observe_spans(project_id, spans)
        except Exception:
            log.exception("error tracking failed on a batch of spans", extra={"project_id": project_id})

    # ---- reading ---------------------------------------------------------------------------

    def search(
        self,
        project_id: str,
        service: str | None = None,
        operation: str | None = None,
        min_duration_ns: int | None = None,
        max_duration_ns: int | None = None,
        error: bool | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 20,
    ) -> list[TraceSummary]:
        """Traces newest first. `service`/`operation` match any span of the trace; durations,
        `error` (the trace has an error span, or has none) and the time range (the trace's
        start, end excluded) are the trace's."""
        where = ["t.project_id = ?"]
        params: list[Any] = [project_id]
        for clause, value in (
            ("t.start_ns >= ?", start_ns),
            ("t.start_ns < ?", end_ns),
            ("t.duration_ns >= ?", min_duration_ns),
            ("t.duration_ns <= ?", max_duration_ns),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if error is not None:
            where.append("t.error_count > 0" if error else "t.error_count = 0")
        if service or operation:
            inner = ["s.project_id = t.project_id", "s.trace_id = t.trace_id"]
            for clause, text in (("s.service = ?", service), ("s.name = ?", operation)):
                if text:
                    inner.append(clause)
                    params.append(text)
            where.append(f"EXISTS (SELECT 1 FROM trace_spans s WHERE {' AND '.join(inner)})")
        params.append(limit)
        rows = self._read(
            f"SELECT {_SUMMARY_COLUMNS} FROM trace_summaries t WHERE {' AND '.join(where)} "
            "ORDER BY t.start_ns DESC, t.trace_id LIMIT ?",
            params,
        )
        return [TraceSummary(r[0], bool(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def summary(self, project_id: str, trace_id: str) -> TraceSummary | None:
        rows = self._read(
            f"SELECT {_SUMMARY_COLUMNS} FROM trace_summaries WHERE project_id = ? AND trace_id = ?",
            (project_id, trace_id),
        )
        return TraceSummary(rows[0][0], bool(rows[0][1]), *rows[0][2:]) if rows else None

    def trace(self, project_id: str, trace_id: str) -> list[Span]:
        """The trace's spans by start time (empty when there is no such trace)."""
        rows = self._read(
            f"SELECT {_SPAN_COLUMNS} FROM trace_spans WHERE project_id = ? AND trace_id = ? ORDER BY start_ns, span_id",
            (project_id, trace_id),
        )
        resources: dict[str, dict[str, Any]] = {}
        return [
            Span(
                trace_id=r[0],
                span_id=r[1],
                parent_span_id=r[2],
                service=r[3],
                name=r[4],
                kind=r[5],
                start_ns=r[6],
                end_ns=r[7],
                status=r[8],
                status_message=r[9],
                attributes=orjson.loads(r[10]),
                resource=resources.get(r[11]) or resources.setdefault(r[11], orjson.loads(r[11])),
                events=[SpanEvent(t, n, a) for t, n, a in orjson.loads(r[12])],
            )
            for r in rows
        ]

    def services(self, project_id: str) -> list[str]:
        rows = self._read(
            "SELECT DISTINCT service FROM trace_operations WHERE project_id = ? ORDER BY service", (project_id,)
        )
        return [r[0] for r in rows]

    def operations(self, project_id: str, service: str | None = None) -> list[str]:
        sql = "SELECT DISTINCT name FROM trace_operations WHERE project_id = ?"
        params: list[Any] = [project_id]
        if service:
            sql += " AND service = ?"
            params.append(service)
        return [r[0] for r in self._read(sql + " ORDER BY name", params)]

    # ---- retention -------------------------------------------------------------------------

    def apply_retention(self, now_ns: int | None = None) -> int:
        """Delete traces that started before the retention window; returns how many."""
        cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(
            self.monitoring.config.trace_retention_d * 86_400e9
        )
        removed = 0
        while True:
            with self._transaction() as cur:
                expired = cur.execute(
                    self._sql("SELECT project_id, trace_id FROM trace_summaries WHERE start_ns < ? LIMIT ?"),
                    (cutoff, _RETENTION_CHUNK),
                ).fetchall()
                keys = [tuple(r) for r in expired]
                cur.executemany(self._sql("DELETE FROM trace_spans WHERE project_id = ? AND trace_id = ?"), keys)
                cur.executemany(self._sql("DELETE FROM trace_summaries WHERE project_id = ? AND trace_id = ?"), keys)
            removed += len(keys)
            if len(keys) < _RETENTION_CHUNK:
                break
        with self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM trace_operations WHERE last_seen_ns < ?"), (cutoff,))
        return removed

    def start(self) -> None:
        self._retention.start()

    def stop(self) -> None:
        self._retention.stop()

    def _retain(self) -> None:
        removed = self.apply_retention()
        if removed:
            log.info("traces past retention removed", extra={"traces": removed})

    def close(self) -> None:
        self._pool.close()
