"""The platform's one way to perform an operation: check permission, resolve the project,
run the service function in a unit of work (or as a job), audit, log and measure.
HTTP routes, and nothing else, call it.

The core knows no capability by name: it runs what the capabilities' manifests declare
(`registry.py` finds them, `lifecycle.py` starts and stops their background services)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codeforge.catalog import JobRef, Operation
from codeforge.catalog.errors import CodeForgeError, PermissionDenied, PlatformUnavailable
from codeforge.catalog.jobs import JobState
from codeforge.platform.audit.service import record
from codeforge.platform.auth.service import find_project
from codeforge.platform.auth.tokens import authenticate, touch_token
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import Database, conflict_of
from codeforge.platform.jobs.runner import JobReporter, JobRunner
from codeforge.platform.jobs.signals import JobSignals
from codeforge.platform.jobs.store import JobStore
from codeforge.platform.lifecycle import Lifecycle
from codeforge.platform.manifest import Runtime
from codeforge.platform.metrics import PlatformMetrics
from codeforge.platform.registry import discover_capabilities, load_capabilities
from codeforge.platform.settings import Settings

__all__ = ["SHUTDOWN_REASON", "Platform", "ShuttingDown", "SignIn"]

# Signs a request in within a given unit of work (the HTTP routes' bearer token check).
SignIn = Callable[[Session, str | None], Actor]  # (unit of work, the project the request names)

log = logging.getLogger("codeforge.platform")

# The final message of a job the platform stopped: what happened and what to do.
SHUTDOWN_REASON = (
    "interrupted by shutdown: the platform stopped before this job finished; nothing was kept, run it again"
)


class ShuttingDown(PlatformUnavailable):
    """An operation that arrives while the platform drains: the answer is 503 with Retry-After."""

    retry_after = 5  # seconds: a restarted platform, or another replica, takes it by then

    def __init__(self) -> None:
        super().__init__(
            "the platform is shutting down and takes no new operations",
            fix="try again in a few seconds, when it (or another replica) is back",
        )


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
        self.capabilities = discover_capabilities(settings.capability_packages)
        self.services = load_capabilities(self.capabilities)
        self.lifecycle = Lifecycle(
            self.capabilities, Runtime(self.db, settings, self.cipher, self.jobs, self.metrics.registry)
        )
        self._lock = threading.Lock()
        self._accepting = True
        self._drained = False

    def start(self) -> None:
        self.db.migrate()
        self.lifecycle.start()  # crash cleanups (interrupted jobs among them), then background services

    @property
    def accepting(self) -> bool:
        return self._accepting

    def drain(self, grace: float | None = None) -> list[str]:
        """Stop taking operations at once (they get 503), give running jobs `grace` seconds
        (CODEFORGE_SHUTDOWN_GRACE_SECONDS) to finish, then cancel the rest saying why. Returns
        the interrupted jobs' ids. Called on SIGTERM, and by `stop` if it was not."""
        with self._lock:
            self._accepting = False
            if self._drained:
                return []
            self._drained = True
        seconds = self.settings.shutdown_grace_seconds if grace is None else grace
        if active := self.runner.active:
            log.warning("shutting down: no new operations", extra={"jobs": active, "grace_s": seconds})
        interrupted = self.runner.drain(seconds, SHUTDOWN_REASON)
        if interrupted:
            log.warning("jobs interrupted by shutdown", extra={"jobs": interrupted})
        return interrupted

    def stop(self) -> None:
        self.drain()
        self.lifecycle.stop()
        self.runner.shutdown()
        self.db.dispose()

    def authenticate(
        self, raw_token: str, source: str, session: Session | None = None, project: str | None = None
    ) -> Actor:
        if session is not None:  # inside an operation's unit of work: `execute` touches the token
            return authenticate(session, raw_token, source, defer_touch=True, project=project)
        with self.db.session() as own:
            return authenticate(own, raw_token, source)

    def _audit(
        self, actor: Actor, op: Operation[Any, Any], target: str, outcome: str, session: Session | None = None
    ) -> None:
        record(
            self.db,
            org_id=actor.org_id,
            actor=actor.username,
            operation=op.name,
            target=target,
            outcome=outcome,
            source=actor.source,
            session=session,
        )

    def _context(self, session: Any, actor: Actor, op: Operation[Any, Any], data: BaseModel) -> Context:
        ctx = Context(session=session, actor=actor, settings=self.settings, cipher=self.cipher, runner=self.runner)
        if op.project_scoped:
            slug = _project_of(data)
            named = actor.named_project
            if named is not None and named[0] == slug and named[1] is not None:
                ctx.project = named[1]  # found with the token (Platform.execute)
            else:
                ctx.project = find_project(session, actor.org_id, slug)  # says why it is not found
        return ctx

    def execute(self, op: Operation[Any, Any], data: BaseModel, sign_in: SignIn) -> BaseModel:
        """Perform `op` for whoever `sign_in` signs in: its output, or a JobRef for a
        long-running operation. Sign-in runs within the operation's unit of work, so a request
        costs one transaction (sign-in, operation and audit) and not two: on PostgreSQL each
        is a connection check-out and a BEGIN/COMMIT round trip."""
        # A failure is audited once its unit has rolled back: the unit still holds its
        # connection, and on SQLite the write lock a new transaction would wait for.
        after: list[Callable[[], None]] = []
        try:
            if op.long_running or not self._accepting:  # a job writes in units of its own
                with self.db.session() as session:
                    actor = sign_in(session, None)
                    if actor.touch_due:
                        touch_token(session, actor.token_id)
                return self._perform(op, data, actor, None, after)
            with self.db.session() as session:
                named = _project_of(data) if op.project_scoped else None
                return self._perform(op, data, sign_in(session, named), session, after)
        finally:
            for audit in after:
                audit()

    def _perform(
        self,
        op: Operation[Any, Any],
        data: BaseModel,
        actor: Actor,
        unit: Session | None,
        after: list[Callable[[], None]],
    ) -> BaseModel:
        """`op` for `actor` in `unit` (None for a job, or while draining: it is refused)."""
        target = op.describe_target(data)
        started = time.perf_counter()
        outcome = "succeeded"
        audited = False
        try:
            if not self._accepting:
                raise ShuttingDown()
            if not actor.can(op.permission):
                raise PermissionDenied(
                    f"your role {actor.role.value!r} does not allow {op.name} (needs {op.permission.value!r})",
                    fix=f"ask an admin of organization {actor.org_slug!r} for a role that has it",
                )
            if op.long_running:
                ref = self._submit(op, data, actor, target)
                outcome = f"accepted as job {ref.job_id}"
                return ref
            assert unit is not None  # draining, the only other way here, was refused above
            result = op.output.model_validate(self.services[op.name](self._context(unit, actor, op, data), data))
            # A success is audited in its own unit of work: one commit per request, not two.
            if op.audit_success:
                self._audit(actor, op, target, outcome, unit)
            if actor.touch_due:  # written last: a unit writes nothing before its operation
                touch_token(unit, actor.token_id)
            try:  # the caller commits: meet a conflict here, while it is counted
                unit.flush()
            except IntegrityError as exc:
                raise (conflict_of(exc) or exc) from exc
            audited = True
            return result
        except CodeForgeError as exc:
            outcome = f"{'denied' if isinstance(exc, PermissionDenied) else 'failed'}: {exc.title}"
            raise
        except Exception:
            outcome = "failed: internal error"
            log.exception("operation failed", extra={"operation": op.name, "actor": actor.username})
            raise
        finally:
            elapsed = time.perf_counter() - started
            if not audited:
                after.append(partial(self._audit, actor, op, target, outcome))
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

        try:
            self.runner.submit(job.id, body)
        except RuntimeError:  # shutdown began after the check in `execute`
            self.jobs.transition(job.id, JobState.CANCELLED, message=SHUTDOWN_REASON)
            raise ShuttingDown() from None
        return JobRef(
            job_id=job.id, operation=op.name, state=job.state.value, events_url=f"/api/v1/jobs/{job.id}/events"
        )
