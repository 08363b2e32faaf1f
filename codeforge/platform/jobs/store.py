"""Jobs and their events, persisted: any replica can stream any job, late readers get history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from codeforge.catalog.errors import scrub_secrets
from codeforge.catalog.jobs import TERMINAL, Job, JobEvent, JobState
from codeforge.platform.db import Database, utcnow
from codeforge.platform.jobs.models import JobEventRow, JobRow
from codeforge.platform.jobs.signals import JobSignals

__all__ = ["JobStore", "job_out"]


def job_out(row: JobRow) -> Job:
    return Job(
        id=row.id,
        operation=row.operation,
        project=row.project,
        state=JobState(row.state),
        progress=row.progress,
        message=row.message,
        error=row.error,
        result=row.result,
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


class JobStore:
    def __init__(self, db: Database, signals: JobSignals) -> None:
        self.db = db
        self.signals = signals

    def create(self, *, org_id: str, project: str | None, operation: str, created_by: str, instance_id: str) -> Job:
        with self.db.session() as s:
            row = JobRow(
                org_id=org_id,
                project=project,
                operation=operation,
                state=JobState.QUEUED.value,
                message="queued",
                created_by=created_by,
                instance_id=instance_id,
            )
            s.add(row)
            s.flush()
            self._append(s, row.id, "state", {"state": JobState.QUEUED.value, "message": "queued"})
            return job_out(row)

    def _append(self, s: Any, job_id: str, kind: str, data: dict[str, Any]) -> None:
        # Sequence numbers come from the job row, whose update serializes writers of one job.
        seq = s.scalar(
            update(JobRow).where(JobRow.id == job_id).values(next_seq=JobRow.next_seq + 1).returning(JobRow.next_seq)
        )
        s.add(JobEventRow(job_id=job_id, seq=seq - 1, kind=kind, data=data))

    def event(self, job_id: str, kind: str, *, progress: float | None = None, message: str = "") -> None:
        """A progress or log event of a running job."""
        message = scrub_secrets(message)  # a job's log line may quote a URL with its password
        with self.db.session() as s:
            data: dict[str, Any] = {"message": message}
            values: dict[str, Any] = {}
            if kind == "progress":
                data["progress"] = progress
                values = {"progress": progress, "message": message}
            self._append(s, job_id, kind, data)
            if values:
                s.execute(update(JobRow).where(JobRow.id == job_id).values(**values))
        self.signals.notify(job_id)

    def transition(
        self,
        job_id: str,
        state: JobState,
        *,
        message: str = "",
        result: dict[str, Any] | None = None,
        error: str | None = None,
        only_from: frozenset[JobState] | None = None,
    ) -> bool:
        """Move a job to `state`; False (and nothing written) if it is not in `only_from`."""
        message, error = scrub_secrets(message), None if error is None else scrub_secrets(error)
        # One conditional UPDATE decides: of two writers ending one job at once (it finishes as
        # a shutdown cancels it), exactly one wins. Reading the state first let both win on
        # SQLite, which has no SELECT … FOR UPDATE.
        values: dict[str, Any] = {"state": state.value, "message": message or state.value}
        now = utcnow()
        if state == JobState.RUNNING:
            values["started_at"] = now
        if state in TERMINAL:
            values.update(finished_at=now, result=result, error=error)
            if state == JobState.SUCCEEDED:
                values["progress"] = 1.0
        stmt = update(JobRow).where(JobRow.id == job_id)
        if only_from is not None:
            stmt = stmt.where(JobRow.state.in_(sorted(st.value for st in only_from)))
        with self.db.session() as s:
            if s.execute(stmt.values(**values).returning(JobRow.id)).first() is None:
                return False
            data = {"state": state.value, "message": values["message"], "result": result, "error": error}
            self._append(s, job_id, "state", data)
        self.signals.notify(job_id)
        return True

    def request_cancel(self, job_id: str) -> None:
        with self.db.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(cancel_requested=True))

    def cancel_requested(self, job_id: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def get(self, job_id: str) -> JobRow | None:
        with self.db.session() as s:
            return s.get(JobRow, job_id)

    def events_after(self, job_id: str, seq: int) -> list[JobEvent]:
        with self.db.session() as s:
            rows = s.scalars(
                select(JobEventRow).where(JobEventRow.job_id == job_id, JobEventRow.seq > seq).order_by(JobEventRow.seq)
            )
            return [JobEvent(seq=r.seq, kind=r.kind, time=r.time, **r.data) for r in rows]

    def recover(self, instance_id: str) -> int:
        """Jobs this instance was running when it stopped can never finish: fail them, saying why."""
        with self.db.session() as s:
            ids = list(
                s.scalars(
                    select(JobRow.id).where(
                        JobRow.instance_id == instance_id,
                        JobRow.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                    )
                )
            )
        for job_id in ids:
            self.transition(
                job_id,
                JobState.FAILED,
                message="interrupted by a platform restart",
                error="the platform restarted while this job was running; nothing it did was kept, run it again",
                only_from=frozenset({JobState.QUEUED, JobState.RUNNING}),
            )
        return len(ids)
