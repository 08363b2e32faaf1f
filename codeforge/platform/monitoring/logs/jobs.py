"""The platform's job output as logs (part `job_output`): every job event with a message (its
log lines, progress messages, the final state and error) becomes a log line of the job's
project, labelled `source="job"`, `operation` and `job` (the job's id).

Job events live in the platform's state (`job_events`, ids increasing); the follower polls
past a cursor it keeps in the log store (`cursors`), so a restart resumes where it stopped and
nothing is ingested twice. A full log queue leaves the cursor where it was: the lines are
taken on a later turn."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from codeforge.catalog.errors import RateLimited
from codeforge.platform.auth.models import Project
from codeforge.platform.jobs.models import JobEventRow, JobRow
from codeforge.platform.monitoring.periodic import Periodic
from codeforge.platform.monitoring.records import LogRecord

if TYPE_CHECKING:
    from codeforge.platform.monitoring.logs.store import LogStore
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["JobOutputFollower"]

log = logging.getLogger("codeforge.monitoring.logs")

CURSOR = "job_events"
POLL_S = 0.5
PAGE = 5000


class JobOutputFollower:
    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        # A full page: the next one at once (a backlog), else after POLL_S.
        self._loop = Periodic(
            "monitoring-job-output",
            "following job output",
            lambda: POLL_S,
            lambda: 0 if self.poll_once() == PAGE else None,
        )

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def poll_once(self) -> int:
        """Ingest the job events past the cursor (a page at most); how many were read."""
        db = self.monitoring.db
        if db is None:
            return 0
        store: LogStore = self.monitoring.logs
        cursor = store.backend.get_cursor(CURSOR)
        with db.session() as s:
            rows = s.execute(
                select(
                    JobEventRow.id,
                    JobEventRow.job_id,
                    JobEventRow.kind,
                    JobEventRow.time,
                    JobEventRow.data,
                    JobRow.operation,
                    JobRow.project,
                    JobRow.org_id,
                )
                .join(JobRow, JobRow.id == JobEventRow.job_id)
                .where(JobEventRow.id > cursor)
                .order_by(JobEventRow.id)
                .limit(PAGE)
            ).all()
            wanted = {(r.org_id, r.project) for r in rows if r.project}
            projects: dict[tuple[str, str], str] = {}
            for org_id in {org for org, _ in wanted}:
                slugs = [slug for org, slug in wanted if org == org_id]
                for pid, slug in s.execute(
                    select(Project.id, Project.slug).where(Project.org_id == org_id, Project.slug.in_(slugs))
                ).all():
                    projects[(org_id, slug)] = pid
        if not rows:
            return 0
        by_project: dict[str, list[LogRecord]] = {}
        for r in rows:
            project_id = projects.get((r.org_id, r.project or ""))
            record = self._record(r.job_id, r.kind, r.time, r.data, r.operation)
            if project_id and record is not None:
                by_project.setdefault(project_id, []).append(record)
        try:
            for project_id, records in by_project.items():
                store.ingest(project_id, records)
        except RateLimited:
            return 0  # the queue is full: the same events again on a later turn
        store.backend.set_cursor(CURSOR, int(rows[-1].id))
        return len(rows)

    def _record(self, job_id: str, kind: str, when: Any, data: Any, operation: str) -> LogRecord | None:
        data = data if isinstance(data, dict) else {}
        message = str(data.get("message") or "")
        level = "info"
        if kind == "state":
            state = str(data.get("state") or "")
            if data.get("error"):
                message = f"{message}: {data['error']}" if message and message != state else str(data["error"])
            if state == "failed":
                level = "error"
            message = f"[{state}] {message}" if message and message != state else f"[{state}]"
        if not message:
            return None
        key = (job_id, operation)
        labels = self._labels.get(key)
        if labels is None:
            if len(self._labels) > 10_000:
                self._labels.clear()
            labels = self._labels[key] = {"source": "job", "operation": operation, "job": job_id}
        time_ns = int(when.timestamp() * 1_000_000) * 1000 if when is not None else 0
        return LogRecord(time_ns, message, labels, {"kind": kind}, level)
