"""Intents: what an operation under way has made so far, kept in the platform's database
(docs/workspaces.md, "Crash safety"), so that nothing is left half-made — neither when a step
fails (the operation undoes what it made, newest first) nor when the process dies (the crash
cleanup finds the intent and undoes it).

An operation names each thing *before* making it (`intent.making(kind, ref)`), so a death
between the two leaves a record of something that may not exist: every undo must therefore
take "already gone" as done. The journal knows no kind: `undo(kind, ref)` is given by the
caller (the service: trees, containers, branches, ports, mounts), and an undo that fails,
or a kind it does not know, keeps the intent for the next sweep.

An intent belongs to `owner`, "<instance>/<boot>": a process of the same instance with another
boot id is a restart, so its predecessor's intents are dead at once; another instance's are
dead once their lease has passed (renewed at each step).
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from codeforge.platform.db import utcnow
from codeforge.platform.workspaces.models import WorkspaceIntent

__all__ = ["BOOT", "Intent", "Journal", "Sessions", "Undo"]

log = logging.getLogger("codeforge.workspaces.journal")

BOOT = uuid.uuid4().hex[:12]  # this process: another boot of the same instance is a restart

Undo = Callable[[str, str], None]  # (kind, ref): remove it; gone already is fine


class Sessions(Protocol):
    """Units of work committed when their block ends: the platform's Database, or a side
    session of an operation (access.Side)."""

    def session(self) -> AbstractContextManager[Session]: ...


class Intent:
    """One operation's record; `making` before each step."""

    def __init__(self, journal: Journal, row_id: str, operation: str) -> None:
        self._journal, self.id, self.operation = journal, row_id, operation
        self.made: list[tuple[str, str]] = []

    def making(self, kind: str, ref: str) -> None:
        """Say what the next step makes, before it makes it (and renew the lease)."""
        _crash_point(self.operation, kind)
        self.made.append((kind, ref))
        with self._journal.db.session() as session:
            row = session.get(WorkspaceIntent, self.id)
            if row is not None:
                row.made = [list(item) for item in self.made]
                row.lease_until = utcnow() + timedelta(seconds=self._journal.lease_s)


class Journal:
    def __init__(self, db: Sessions, instance: str, *, lease_s: float = 600.0, boot: str = BOOT) -> None:
        self.db, self.instance, self.lease_s = db, instance, lease_s
        self.owner = f"{instance}/{boot}"

    @contextmanager
    def intent(self, operation: str, project_id: str, undo: Undo) -> Iterator[Intent]:
        """The block's steps under one intent: kept while it runs, removed when it succeeds;
        when it raises, what it made is undone newest first and the error goes on."""
        with self.db.session() as session:
            row = WorkspaceIntent(
                operation=operation,
                project_id=project_id,
                owner=self.owner,
                made=[],
                lease_until=utcnow() + timedelta(seconds=self.lease_s),
            )
            session.add(row)
            session.flush()
            row_id = row.id
        intent = Intent(self, row_id, operation)
        try:
            yield intent
        except BaseException:
            if _undo_all(intent.made, undo, operation):
                self._forget(row_id)
            else:  # left for the sweeper, as a dead process's would be
                self._abandon(row_id)
            raise
        self._forget(row_id)

    def sweep(self, undo: Undo, now: datetime | None = None) -> list[str]:
        """Undo the intents of dead processes: this instance's earlier boots at once, others'
        once their lease has passed. What each removed, for the log."""
        now = now or utcnow()
        with self.db.session() as session:
            rows = session.scalars(select(WorkspaceIntent)).all()
            dead = [
                (row.id, row.operation, [(str(k), str(r)) for k, r in row.made])
                for row in rows
                if row.owner != self.owner and (_instance(row.owner) == self.instance or row.lease_until <= now)
            ]
        swept: list[str] = []
        for row_id, operation, made in dead:
            if _undo_all(made, undo, operation):
                self._forget(row_id)
                swept.append(f"{operation}: {', '.join(f'{k} {r}' for k, r in reversed(made)) or 'nothing made'}")
        return swept

    def _abandon(self, row_id: str) -> None:
        with self.db.session() as session:
            row = session.get(WorkspaceIntent, row_id)
            if row is not None:
                row.owner, row.lease_until = f"{self.instance}/abandoned", utcnow()

    def _forget(self, row_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(WorkspaceIntent).where(WorkspaceIntent.id == row_id))


def _crash_point(operation: str, kind: str) -> None:
    """Fault injection for the crash tests: with CODEFORGE_WORKSPACES_CRASH_AT=<operation>:<kind>
    the process kills itself (SIGKILL, as the OOM killer would) just before recording that
    step, every earlier step made. Unset in production."""
    if os.environ.get("CODEFORGE_WORKSPACES_CRASH_AT") == f"{operation}:{kind}":
        log.critical("CODEFORGE_WORKSPACES_CRASH_AT: killing this process before %s:%s", operation, kind)
        os.kill(os.getpid(), signal.SIGKILL)


def _instance(owner: str) -> str:
    return owner.rsplit("/", 1)[0]


def _undo_all(made: list[tuple[str, str]], undo: Undo, operation: str) -> bool:
    """Undo newest first; False (the intent is kept for the next sweep) when one failed."""
    whole = True
    for kind, ref in reversed(made):
        try:
            undo(kind, ref)
        except Exception:
            whole = False
            log.exception("could not undo a half-made step", extra={"operation": operation, "kind": kind, "ref": ref})
    return whole
