"""The platform's one way to perform an operation: check permission, resolve the project,
run the service function in a unit of work (or as a job), audit, log and measure.
HTTP routes, and nothing else, call it."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import BaseModel

from codeforge.catalog import JobRef, Operation
from codeforge.catalog.errors import CodeForgeError, PermissionDenied
from codeforge.platform.audit.service import record
from codeforge.platform.auth.service import find_project
from codeforge.platform.auth.tokens import authenticate
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases.backup_service import BackupScheduler
from codeforge.platform.db import Database
from codeforge.platform.jobs.runner import JobReporter, JobRunner
from codeforge.platform.jobs.signals import JobSignals
from codeforge.platform.jobs.store import JobStore
from codeforge.platform.metrics import PlatformMetrics
from codeforge.platform.registry import load_capabilities
from codeforge.platform.settings import Settings

__all__ = ["Platform"]

log = logging.getLogger("codeforge.platform")


def _project_of(data: BaseModel) -> str:
    return str(data.model_dump(include={"project"})["project"])


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)
        self.cipher = Cipher(settings.fernet_key())
        self.signals = JobSignals()
        self.jobs = JobStore(self.db, self.signals)
        self.runner = JobRunner(self.jobs, settings.job_workers)
        self.metrics = PlatformMetrics()
        self.services = load_capabilities()
        # Scheduled backups run in every replica; a claim in the database lets one take each.
        self.backups = BackupScheduler(self.db, settings, self.cipher)

    def start(self) -> None:
        self.db.migrate()
        if failed := self.jobs.recover(self.settings.resolved_instance_id):
            log.warning("marked jobs interrupted by a restart as failed", extra={"jobs": failed})
        if self.settings.bootstrap:
            from codeforge.platform.bootstrap import bootstrap

            bootstrap(self)
        self.backups.start()

    def stop(self) -> None:
        self.backups.stop()
        self.runner.shutdown()
        self.db.dispose()

    def authenticate(self, raw_token: str, source: str) -> Actor:
        with self.db.session() as session:
            return authenticate(session, raw_token, source)

    def _audit(self, actor: Actor, op: Operation[Any, Any], target: str, outcome: str) -> None:
        record(
            self.db,
            org_id=actor.org_id,
            actor=actor.username,
            operation=op.name,
            target=target,
            outcome=outcome,
            source=actor.source,
        )

    def _context(self, session: Any, actor: Actor, op: Operation[Any, Any], data: BaseModel) -> Context:
        ctx = Context(session=session, actor=actor, settings=self.settings, cipher=self.cipher, runner=self.runner)
        if op.project_scoped:
            ctx.project = find_project(session, actor.org_id, _project_of(data))
        return ctx

    def execute(self, op: Operation[Any, Any], data: BaseModel, actor: Actor) -> BaseModel:
        """Perform `op` for `actor`: its output, or a JobRef for a long-running operation."""
        target = op.describe_target(data)
        started = time.perf_counter()
        outcome = "succeeded"
        try:
            if not actor.can(op.permission):
                raise PermissionDenied(
                    f"your role {actor.role.value!r} does not allow {op.name} (needs {op.permission.value!r})",
                    fix=f"ask an admin of organization {actor.org_slug!r} for a role that has it",
                )
            if op.long_running:
                ref = self._submit(op, data, actor, target)
                outcome = f"accepted as job {ref.job_id}"
                return ref
            with self.db.session() as session:
                result = self.services[op.name](self._context(session, actor, op, data), data)
            return op.output.model_validate(result)
        except CodeForgeError as exc:
            outcome = f"{'denied' if isinstance(exc, PermissionDenied) else 'failed'}: {exc.title}"
            raise
        except Exception:
            outcome = "failed: internal error"
            log.exception("operation failed", extra={"operation": op.name, "actor": actor.username})
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._audit(actor, op, target, outcome)
            self.metrics.observe(op.name, outcome.split(":")[0].split(" ")[0], elapsed)
            log.info(
                "operation",
                extra={
                    "operation": op.name,
                    "actor": actor.username,
                    "org": actor.org_slug,
                    "target": target,
                    "outcome": outcome,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    def _submit(self, op: Operation[Any, Any], data: BaseModel, actor: Actor, target: str) -> JobRef:
        project = _project_of(data) if op.project_scoped else None
        if project is not None:  # fail fast on a wrong project, before a job exists
            with self.db.session() as session:
                find_project(session, actor.org_id, project)
        job = self.jobs.create(
            org_id=actor.org_id,
            project=project,
            operation=op.name,
            created_by=actor.username,
            instance_id=self.settings.resolved_instance_id,
        )

        def body(reporter: JobReporter) -> dict[str, Any]:
            outcome = "failed"
            try:
                with self.db.session() as session:
                    ctx = self._context(session, actor, op, data)
                    ctx.job = reporter
                    result = op.output.model_validate(self.services[op.name](ctx, data))
                outcome = "succeeded"
                return result.model_dump(mode="json")
            finally:
                self._audit(actor, op, target, f"job {job.id} {outcome if not reporter.cancelled else 'cancelled'}")

        self.runner.submit(job.id, body)
        return JobRef(
            job_id=job.id, operation=op.name, state=job.state.value, events_url=f"/api/v1/jobs/{job.id}/events"
        )
