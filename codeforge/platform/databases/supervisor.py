"""The databases capability's background service: it keeps the server processes the
platform runs running and sweeps what killed operations left, so that nothing depends on
some later databases command happening to run, and reading (a listing, the pane) never
changes state.

Every `databases_supervise_interval` seconds (and once at once on start), for every
organization with engines:

- `runtime.sweep`: half-made rows, unknown or incomplete branch instances, partial copies;
  a ready branch whose reset was killed is made a fresh copy of its parent again;
- `runtime.supervise`: local clusters and branch instances that stopped outside the platform
  (crash, OOM kill, reboot) are started again;
- PgBouncer is reconciled: it runs exactly when some database is pooled. On its first pass
  a platform adopts the PgBouncer a previous platform process started (its configuration is
  rewritten from the platform's state and reloaded); later, one that stopped is restarted,
  and one that no pooled database needs is stopped.

What it does is recorded as events: the audit log (actor `codeforge`), the platform log and
the databases pane. Backups' leftovers are the capability's crash cleanup (capability.py),
not this pass's. Server processes outlive the platform process by design (apps keep
working while it restarts) and are adopted by the next one: see docs/databases.md.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from codeforge.catalog import Role
from codeforge.platform.context import Actor, Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.databases.pooling import PgBouncer
from codeforge.platform.db import Database
from codeforge.platform.settings import Settings

__all__ = ["DatabaseSupervisor"]

log = logging.getLogger("codeforge.databases.supervisor")


class DatabaseSupervisor:
    def __init__(self, db: Database, settings: Settings, cipher: Cipher, interval: float | None = None) -> None:
        self.db, self.settings, self.cipher = db, settings, cipher
        self.interval = interval or settings.databases_supervise_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._adopted = False
        self._idle_seen = False  # PgBouncer seen running with nothing pooled on the last pass
        self._bouncer: PgBouncer | None = None  # fixed per data dir: not read again every pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="codeforge-databases-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("databases supervisor pass failed")
            self._stop.wait(self.interval)

    def _context(self, session: object, org_id: str) -> Context:
        actor = Actor("", rt.SYSTEM_ACTOR, org_id, "", Role.ADMIN, source="supervisor")
        return Context(session=session, actor=actor, settings=self.settings, cipher=self.cipher)  # type: ignore[arg-type]

    def tick(self) -> list[rt.Event]:
        """One pass; returns what it did."""
        events: list[rt.Event] = []
        with self.db.session() as session:
            orgs = list(session.scalars(select(EngineRow.org_id).distinct()))
        for org in orgs:
            if self._stop.is_set():
                break
            with self.db.session() as session:
                ctx = self._context(session, org)
                events += rt.supervise(ctx)  # first: the sweep's repairs need their parents up
                events += rt.sweep(ctx)
        events += self._pgbouncer()
        return events

    def _pgbouncer(self) -> list[rt.Event]:
        from codeforge.platform.databases.pool_service import configure_pool

        pb = self._bouncer or rt.bouncer(self.settings, self.cipher)
        if not pb.available():
            return []  # looked for again next pass: it may be installed meanwhile
        self._bouncer = pb
        with self.db.session() as session:
            pooled_orgs = sorted(
                set(
                    session.scalars(
                        select(EngineRow.org_id)
                        .join(DatabaseRow, DatabaseRow.engine_id == EngineRow.id)
                        .where(DatabaseRow.pooled, DatabaseRow.state == "ready", EngineRow.kind != "mysql")
                    )
                )
            )
            running = pb.running()
            first, self._adopted = not self._adopted, True
            outcome = ""
            if pooled_orgs and (first or not running):
                configure_pool(self._context(session, pooled_orgs[0]))  # rewrites, reloads or starts it
                if first and running:
                    log.info("adopted the PgBouncer a previous platform process started", extra={"port": pb.port})
                else:
                    outcome = f"{'started' if first else 'restarted'}: PgBouncer on port {pb.port} was not running"
            elif not pooled_orgs and running and (first or self._idle_seen):
                # Twice in a row (or adopted so): a `databases pool` in progress has not committed yet.
                pb.stop()
                outcome = f"stopped: PgBouncer on port {pb.port} was running with no pooled database"
            self._idle_seen = not pooled_orgs and pb.running()
            if not outcome:
                return []
            events = [rt.Event("databases.restart", "PgBouncer", outcome)]
            for org in pooled_orgs or sorted(set(session.scalars(select(EngineRow.org_id)))):
                rt.record_events(self._context(session, org), events)
        return events
