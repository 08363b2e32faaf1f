"""Runs jobs on a pool of worker threads, reporting progress and honouring cancellation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
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

_RUNNING = frozenset({JobState.RUNNING})
_QUEUED = frozenset({JobState.QUEUED})
_CANCELLED = "cancelled; nothing was changed"
# After the grace period, how long cancelled jobs get to undo their work and stop.
_CANCEL_WAIT = 5.0


class JobRunner:
    def __init__(self, store: JobStore, workers: int) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codeforge-job")
        self._cancels: dict[str, threading.Event] = {}
        self._futures: dict[str, Future[None]] = {}
        self._reasons: dict[str, str] = {}  # why a job was cancelled, when not by a person
        self._lock = threading.Lock()
        self._draining = False

    def submit(self, job_id: str, body: JobBody) -> None:
        with self._lock:
            if self._draining:  # the dispatcher refuses first; this closes the race
                raise RuntimeError("the job runner is shutting down")
            self._cancels[job_id] = threading.Event()
            self._futures[job_id] = self._pool.submit(self._run, job_id, body)

    def cancel(self, job_id: str, reason: str = "") -> None:
        """Ask a job to stop. Queued jobs stop at once; running ones at their next check."""
        self.store.request_cancel(job_id)
        with self._lock:
            event = self._cancels.get(job_id)
            if reason:
                self._reasons[job_id] = reason
        if event:
            event.set()
        self.store.transition(
            job_id, JobState.CANCELLED, message=reason or "cancelled before it started", only_from=_QUEUED
        )

    def _run(self, job_id: str, body: JobBody) -> None:
        cancel = self._cancels[job_id]
        try:
            if cancel.is_set() or not self.store.transition(
                job_id, JobState.RUNNING, message="running", only_from=_QUEUED
            ):
                return  # cancelled while queued
            result = body(JobReporter(self.store, job_id, cancel))
            self.store.transition(job_id, JobState.SUCCEEDED, message="done", result=result, only_from=_RUNNING)
        except JobCancelled:
            with self._lock:
                reason = self._reasons.get(job_id, _CANCELLED)
            self.store.transition(job_id, JobState.CANCELLED, message=reason, only_from=_RUNNING)
        except CodeForgeError as exc:
            self.store.transition(job_id, JobState.FAILED, message="failed", error=exc.message, only_from=_RUNNING)
        except Exception as exc:
            log.exception("job failed", extra={"job_id": job_id})
            self.store.transition(
                job_id,
                JobState.FAILED,
                message="failed",
                error=f"internal error ({type(exc).__name__}); see the platform log",
                only_from=_RUNNING,
            )
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)
                self._futures.pop(job_id, None)
                self._reasons.pop(job_id, None)

    @property
    def active(self) -> list[str]:
        """Ids of the jobs this process has queued or running."""
        with self._lock:
            return list(self._futures)

    def drain(self, grace: float, reason: str) -> list[str]:
        """Take no more jobs; give the running ones `grace` seconds to finish, then cancel the
        rest with `reason` (their final state says it) and wait a little for them to undo
        their work. Jobs that still do not stop are marked failed, so no stream waits on
        them. Returns the ids of the jobs it interrupted."""
        with self._lock:
            self._draining = True
            futures = dict(self._futures)
        if not futures:
            return []
        for job_id in futures:
            self.store.event(
                job_id, "log", message=f"the platform is shutting down: {grace:g} s to finish before it is cancelled"
            )
        _, pending = wait(futures.values(), timeout=grace)
        late = [job_id for job_id, future in futures.items() if future in pending]
        for job_id in late:
            self.cancel(job_id, reason)
        _, stuck = wait([futures[j] for j in late], timeout=_CANCEL_WAIT)
        for job_id in (j for j in late if futures[j] in stuck):
            log.error("job did not stop when cancelled at shutdown", extra={"job_id": job_id})
            self.store.transition(
                job_id, JobState.FAILED, message=reason, error=f"{reason}; it did not stop in time", only_from=_RUNNING
            )
        return late

    def shutdown(self) -> None:
        """Stop at once: cancel every job (`drain` first for a graceful stop)."""
        with self._lock:
            self._draining = True
            events = list(self._cancels.values())
        for event in events:
            event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
