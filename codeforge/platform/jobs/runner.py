"""Runs jobs on a pool of worker threads, reporting progress and honouring cancellation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import JobState
from codeforge.platform.jobs.store import JobStore

__all__ = ["JobCancelled", "JobReporter", "JobRunner"]

log = logging.getLogger("codeforge.jobs")

_PROGRESS_EVERY = 0.1  # seconds between persisted progress events: a stream, not a firehose
_POLL_CANCEL_EVERY = 1.0  # seconds between checks for a cancel sent to another replica


class JobCancelled(Exception):
    pass


class JobReporter:
    """Handed to a job's service function as `ctx.job`."""

    def __init__(self, store: JobStore, job_id: str, cancel: threading.Event) -> None:
        self.store = store
        self.job_id = job_id
        self._cancel = cancel
        self._last_progress = 0.0
        self._last_poll = time.monotonic()

    def progress(self, fraction: float | None, message: str) -> None:
        now = time.monotonic()
        if fraction is not None and fraction < 1.0 and now - self._last_progress < _PROGRESS_EVERY:
            return
        self._last_progress = now
        clamped = None if fraction is None else max(0.0, min(1.0, fraction))
        self.store.event(self.job_id, "progress", progress=clamped, message=message)

    def log(self, line: str) -> None:
        self.store.event(self.job_id, "log", message=line)

    @property
    def cancelled(self) -> bool:
        if self._cancel.is_set():
            return True
        now = time.monotonic()
        if now - self._last_poll >= _POLL_CANCEL_EVERY:
            self._last_poll = now
            if self.store.cancel_requested(self.job_id):
                self._cancel.set()
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Call between steps; raises JobCancelled so the service can stop and undo."""
        if self.cancelled:
            raise JobCancelled()


JobBody = Callable[[JobReporter], dict[str, Any]]


class JobRunner:
    def __init__(self, store: JobStore, workers: int) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codeforge-job")
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def submit(self, job_id: str, body: JobBody) -> None:
        with self._lock:
            self._cancels[job_id] = threading.Event()
        self._pool.submit(self._run, job_id, body)

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop. Queued jobs stop at once; running ones at their next check."""
        self.store.request_cancel(job_id)
        with self._lock:
            event = self._cancels.get(job_id)
        if event:
            event.set()
        self.store.transition(
            job_id, JobState.CANCELLED, message="cancelled before it started", only_from=frozenset({JobState.QUEUED})
        )

    def _run(self, job_id: str, body: JobBody) -> None:
        cancel = self._cancels[job_id]
        try:
            if not self.store.transition(
                job_id, JobState.RUNNING, message="running", only_from=frozenset({JobState.QUEUED})
            ):
                return  # cancelled while queued
            result = body(JobReporter(self.store, job_id, cancel))
            self.store.transition(job_id, JobState.SUCCEEDED, message="done", result=result)
        except JobCancelled:
            self.store.transition(job_id, JobState.CANCELLED, message="cancelled; nothing was changed")
        except CodeForgeError as exc:
            self.store.transition(job_id, JobState.FAILED, message="failed", error=exc.message)
        except Exception as exc:
            log.exception("job failed", extra={"job_id": job_id})
            self.store.transition(
                job_id,
                JobState.FAILED,
                message="failed",
                error=f"internal error ({type(exc).__name__}); see the platform log",
            )
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)

    def shutdown(self) -> None:
        with self._lock:
            events = list(self._cancels.values())
        for event in events:
            event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
