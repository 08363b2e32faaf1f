"""The log store (part `logs`): a bounded queue in front of one writer thread, full-text
search, counts and a long-polled tail, and retention.

`ingest` only queues: a request answers as soon as its lines are parsed, encoded for the
backend (`Backend.prepare`: streams looked up, rows encoded; on SQLite, cut into chunks) and
counted in, so that Python work runs in the request's thread beside the writer, whose work is
mostly inside SQLite (the GIL released). The writer takes everything queued (up to 200,000 lines) as one
batch and one transaction, so the busier ingestion gets, the larger and cheaper its batches.
The queue is bounded by lines (`ingest_queue_lines`): past it `ingest` refuses the whole call with RateLimited (429
and Retry-After over HTTP) and counts the refused lines; memory stays bounded and nothing
crashes. After each batch the writer wakes tails waiting for new lines and hands the batch's
records that may carry an exception (attributes, or a line of several lines: a stack) to
error tracking (`monitoring.errors.observe_logs`)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any, NamedTuple

from codeforge.catalog.errors import RateLimited
from codeforge.platform.monitoring.logs.backend import Backend, StoredLog
from codeforge.platform.monitoring.logs.query import LogQuery, parse
from codeforge.platform.monitoring.records import LogRecord

if TYPE_CHECKING:
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["LogStore", "StoredLog"]

log = logging.getLogger("codeforge.monitoring.logs")

MAX_BATCH_LINES = 200_000
MAX_LIMIT = 5000


class _Queued(NamedTuple):
    project_id: str
    lines: int
    prepared: Any  # what Backend.prepare made of the request's records
    suspects: list[LogRecord]  # the records that may carry an exception, for error tracking


class LogStore:
    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring
        self.config = monitoring.config
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()
        self._cond = threading.Condition()  # guards the queue; signals the writer and flushers
        self._queue: deque[_Queued] = deque()
        self._queued = 0  # lines queued or being written
        self._stored = threading.Condition()  # notified after each batch is committed
        self._last_id = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.refused = 0  # lines refused because the queue was full
        self.stored = 0  # lines stored by this process
        self._rate = 100_000.0  # lines/s the writer managed lately, for Retry-After
        self.writer_cpu_s = 0.0  # CPU time the writer thread spent storing (the serial part)

    # ---- lifecycle ----

    @property
    def backend(self) -> Backend:
        with self._backend_lock:
            if self._backend is None:
                if self.monitoring.home.postgres:
                    from codeforge.platform.monitoring.logs.store_postgres import PostgresBackend

                    self._backend = PostgresBackend(self.monitoring.home)
                else:
                    from codeforge.platform.monitoring.logs.store_sqlite import SqliteBackend

                    self._backend = SqliteBackend(self.monitoring.home)
                self._last_id = self._backend.last_id()
            return self._backend

    def start(self) -> None:
        _ = self.backend  # tables made now, not on the first request
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="monitoring-logs-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def close(self) -> None:
        with self._backend_lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    # ---- ingestion ----

    def ingest(self, project_id: str, records: list[LogRecord]) -> int:
        """Queue the records; RateLimited (nothing queued) when they do not fit."""
        if not records:
            return 0
        n = len(records)
        self._refuse_if_full(n)  # before encoding: a flood costs little to refuse
        prepared = self.backend.prepare(project_id, records)
        # Error tracking finds exceptions only in a stack (a line of several lines) or in
        # attributes: the others are left out here, in the request's thread, not by the writer.
        suspects = [r for r in records if r.attributes or "\n" in r.line]
        with self._cond:
            self._refuse_if_full(n)
            self._queue.append(_Queued(project_id, n, prepared, suspects))
            self._queued += n
            self._cond.notify_all()
        if self._thread is None:  # no loop running (a platform built by hand): store now
            self._drain_once()
        return n

    def _refuse_if_full(self, n: int) -> None:
        with self._cond:
            if self._queued + n > self.config.ingest_queue_lines:
                self.refused += n
                wait = math.ceil((self._queued + n - self.config.ingest_queue_lines) / max(self._rate, 1.0))
                raise RateLimited(
                    f"the log queue is full ({self._queued:,} lines waiting to be stored); {n:,} line(s) refused",
                    fix="send again after Retry-After seconds, or in smaller, spaced batches",
                    retry_after=min(max(wait, 1), 30),
                )

    @property
    def queued(self) -> int:
        return self._queued

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every line queued so far is stored; False on timeout."""
        if self._thread is None:
            while self._drain_once():
                pass
            return True
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _take(self) -> list[_Queued]:
        batch: list[_Queued] = []
        lines = 0
        while self._queue and lines < MAX_BATCH_LINES:
            batch.append(self._queue.popleft())
            lines += batch[-1].lines
        return batch

    def _drain_once(self) -> bool:
        with self._cond:
            batch = self._take()
        if not batch:
            return False
        self._write(batch)
        return True

    def _write(self, batch: list[_Queued]) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        lines = sum(q.lines for q in batch)
        try:
            last_id = self.backend.write([q.prepared for q in batch])
        except Exception:
            # A batch the store cannot take (disk full, database gone) is dropped and counted,
            # not retried forever while the queue fills behind it.
            log.exception("log batch not stored", extra={"lines": lines})
            self.refused += lines
            last_id = self._last_id
        else:
            self.stored += lines
            took = time.perf_counter() - started
            self._rate = 0.7 * self._rate + 0.3 * (lines / max(took, 1e-6))
        with self._cond:
            self._queued -= lines
            self._cond.notify_all()
        with self._stored:
            self._last_id = max(self._last_id, last_id)
            self._stored.notify_all()
        self._observe(batch)
        self.writer_cpu_s += time.thread_time() - cpu

    def _observe(self, batch: list[_Queued]) -> None:
        errors = self.monitoring.errors
        by_project: dict[str, list[LogRecord]] = defaultdict(list)
        for q in batch:
            if q.suspects:
                by_project[q.project_id].extend(q.suspects)
        for project_id, records in by_project.items():
            try:
                errors.observe_logs(project_id, records)
            except Exception:
                log.exception("error tracking failed on a log batch", extra={"project_id": project_id})

    def _loop(self) -> None:
        next_retention = time.monotonic() + min(self.config.retention_interval_s, 5.0)
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    left = next_retention - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._take()
                stopping = self._stopping
            if batch:
                self._write(batch)
                continue
            if stopping:
                return
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + self.config.retention_interval_s
                self._retention()

    def _retention(self) -> None:
        cutoff = time.time_ns() - int(self.config.log_retention_d * 86400 * 1e9)
        try:
            removed = self.backend.delete_before(cutoff)
            self.backend.maintain()
        except Exception:
            log.exception("log retention failed")
            return
        if removed:
            log.info("log retention", extra={"removed": removed})

    # ---- reading ----

    @staticmethod
    def _query(query: str | LogQuery) -> LogQuery:
        return parse(query) if isinstance(query, str) else query

    def search(
        self,
        project_id: str,
        query: str | LogQuery,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredLog]:
        """Lines matching the query (a LogQueryError when it does not parse), newest first."""
        parsed = self._query(query)
        return self.backend.search(project_id, parsed, start_ns, end_ns, min(limit, MAX_LIMIT), newest_first)

    def count(
        self, project_id: str, query: str | LogQuery, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        return self.backend.count(project_id, self._query(query), start_ns, end_ns)

    def tail(
        self, project_id: str, query: str | LogQuery, after_id: int | None, wait_s: float = 0.0, limit: int = 100
    ) -> tuple[list[StoredLog], int]:
        """Lines stored after the cursor `after_id`, oldest first, and the next cursor.
        Without a cursor: the latest `limit` lines. With one and nothing new yet: waits up to
        `wait_s` for lines to arrive (woken by the writer; other replicas' lines on
        PostgreSQL are seen within a second)."""
        parsed = self._query(query)
        limit = max(1, min(limit, MAX_LIMIT))
        backend = self.backend
        if after_id is None:
            cursor = backend.last_id()
            latest = backend.search(project_id, parsed, None, None, limit, True, None)
            return list(reversed(latest)), max(cursor, latest[0].id if latest else 0)
        deadline = time.monotonic() + max(0.0, wait_s)
        cursor = after_id
        while True:
            seen = backend.last_id()
            found = backend.search(project_id, parsed, None, None, limit, False, cursor)
            if found:
                # A full page: the next starts after its last line; else after all seen.
                return found, found[-1].id if len(found) == limit else max(found[-1].id, seen)
            cursor = max(cursor, seen)
            left = deadline - time.monotonic()
            if left <= 0:
                return [], cursor
            with self._stored:
                if self._last_id <= seen:
                    self._stored.wait(min(left, 1.0))
