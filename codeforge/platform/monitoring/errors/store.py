"""Error groups: every exception seen in a project's logs and traces, grouped by fingerprint
(fingerprint.py), with first and last seen, a count, a triage state, the latest event's stack
and its newest events.

States: `unresolved` (new), `resolved` (someone says it is fixed), `regressed` (an event came
after the resolve), `ignored` (counted, never announced). A new group and a regression are
announced through the Notifier (editor feed, webhooks, email).

Several threads (the log writer, OTLP requests) and, on PostgreSQL, several replicas observe
at once: a group is made with INSERT … ON CONFLICT DO NOTHING, so exactly one observer makes
it (and announces it), and the others lock the row and add to it."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codeforge.platform.monitoring.errors.backend import Backend, Tx
from codeforge.platform.monitoring.errors.extract import from_log, from_span
from codeforge.platform.monitoring.errors.fingerprint import culprit, fingerprint
from codeforge.platform.monitoring.records import ExceptionEvent, LogRecord, Span, StackFrame

if TYPE_CHECKING:
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["STATES", "TRIAGE_STATES", "ErrorGroup", "ErrorStore", "StoredEvent"]

log = logging.getLogger("codeforge.monitoring.errors")

STATES = ("unresolved", "resolved", "ignored", "regressed")
TRIAGE_STATES = ("unresolved", "resolved", "ignored")
RECENT_EVENTS = 20  # events kept per group, newest first
_MAX_TEXT = 8_000  # a message's characters kept
_MAX_STACK = 64_000  # a stack trace's characters kept
_SCHEMA_VERSION = 1

_GROUP_COLUMNS = (
    "id, type, message, culprit, frames, services, first_seen, last_seen, times_seen, state, resolved_at, resolved_by"
)
_EVENT_COLUMNS = "time_ns, type, message, service, trace_id, span_id, source, labels, frames, stacktrace"


@dataclass(slots=True)
class StoredEvent:
    time_ns: int
    type: str
    message: str
    service: str
    trace_id: str
    span_id: str
    source: str
    labels: dict[str, str]
    frames: list[StackFrame]
    stacktrace: str


@dataclass(slots=True)
class ErrorGroup:
    id: str
    type: str
    message: str
    culprit: str
    frames: list[StackFrame]  # of the latest event, outermost first
    services: list[str]
    first_seen_ns: int
    last_seen_ns: int
    count: int
    state: str
    resolved_at_ns: int | None
    resolved_by: str | None
    events: list[StoredEvent] = field(default_factory=list)  # filled by `group()` only


def _frames_json(frames: Sequence[StackFrame]) -> str:
    return json.dumps(
        [{"path": f.path, "line": f.line, "function": f.function, "in_app": f.in_app, "code": f.code} for f in frames]
    )


def _frames(text: str) -> list[StackFrame]:
    return [StackFrame(f["path"], f["line"], f["function"], f["in_app"], f.get("code", "")) for f in json.loads(text)]


def _group(row: Sequence[Any]) -> ErrorGroup:
    return ErrorGroup(
        id=row[0],
        type=row[1],
        message=row[2],
        culprit=row[3],
        frames=_frames(row[4]),
        services=json.loads(row[5]),
        first_seen_ns=int(row[6]),
        last_seen_ns=int(row[7]),
        count=int(row[8]),
        state=row[9],
        resolved_at_ns=None if row[10] is None else int(row[10]),
        resolved_by=row[11],
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(slots=True)
class _Announcement:
    kind: str  # new | regressed
    group: ErrorGroup


class ErrorStore:
    """Part `errors` of `Monitoring`."""

    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring
        self._db = Backend(monitoring.home, "errors")
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        # Groups this store announced, by kind (new, regressed): one per transition however
        # many threads or replicas observed it.
        self.announced: Counter[str] = Counter()
        self._migrate()

    # ---- schema ------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._db.transaction() as tx:
            if tx.postgres:
                # Replicas starting together: one makes the tables, the others wait for it.
                tx.rows("SELECT pg_advisory_xact_lock(hashtext('codeforge.monitoring.errors'))")
                tx.execute("CREATE TABLE IF NOT EXISTS errors_schema (version INTEGER NOT NULL)")
                found = tx.rows("SELECT version FROM errors_schema")
                version = int(found[0][0]) if found else 0
            else:
                version = int(tx.rows("PRAGMA user_version")[0][0])
            if version >= _SCHEMA_VERSION:
                return
            serial = "BIGSERIAL PRIMARY KEY" if tx.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
            tx.execute(
                "CREATE TABLE IF NOT EXISTS error_groups ("
                " project_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL,"
                " culprit TEXT NOT NULL, frames TEXT NOT NULL, services TEXT NOT NULL,"
                " first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, times_seen BIGINT NOT NULL,"
                " state TEXT NOT NULL, resolved_at BIGINT, resolved_by TEXT, PRIMARY KEY (project_id, id))"
            )
            tx.execute("CREATE INDEX IF NOT EXISTS error_groups_recent ON error_groups (project_id, last_seen)")
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS error_events (seq {serial},"
                " project_id TEXT NOT NULL, group_id TEXT NOT NULL, time_ns BIGINT NOT NULL, type TEXT NOT NULL,"
                " message TEXT NOT NULL, service TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,"
                " source TEXT NOT NULL, labels TEXT NOT NULL, frames TEXT NOT NULL, stacktrace TEXT NOT NULL)"
            )
            tx.execute("CREATE INDEX IF NOT EXISTS error_events_group ON error_events (project_id, group_id, time_ns)")
            if tx.postgres:
                tx.execute("DELETE FROM errors_schema")
                tx.execute("INSERT INTO errors_schema (version) VALUES (?)", (_SCHEMA_VERSION,))
            else:
                tx.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    # ---- observing ---------------------------------------------------------------------

    def observe_logs(self, project_id: str, records: Iterable[LogRecord]) -> int:
        """Groups the exceptions these log records carry; the number of events."""
        events: list[ExceptionEvent] = []
        for record in records:
            try:
                event = from_log(record)
            except Exception:  # a stack no parser foresaw must not stop the log writer
                self._warn_once("extract", "an exception's stack could not be parsed", exc_info=True)
                continue
            if event is not None:
                events.append(event)
        return self.observe(project_id, events) if events else 0

    def observe_spans(self, project_id: str, spans: Iterable[Span]) -> int:
        """Groups the exceptions these spans recorded; the number of events."""
        events = [event for span in spans if span.events for event in from_span(span)]
        return self.observe(project_id, events) if events else 0

    def observe(self, project_id: str, events: Sequence[ExceptionEvent]) -> int:
        by_group: dict[str, list[ExceptionEvent]] = {}
        for event in events:
            by_group.setdefault(fingerprint(event), []).append(event)
        announcements: list[_Announcement] = []
        for group_id, grouped in by_group.items():
            grouped.sort(key=lambda e: e.time_ns)
            with self._db.transaction() as tx:
                found = self._add(tx, project_id, group_id, grouped)
            if found is not None:
                announcements.append(found)
        for announcement in announcements:  # after the commit: a slow channel holds no lock
            with self._warn_lock:
                self.announced[announcement.kind] += 1
            self._announce(project_id, announcement)
        return len(events)

    def _add(self, tx: Tx, project_id: str, group_id: str, events: list[ExceptionEvent]) -> _Announcement | None:
        latest = events[-1]
        services = sorted({e.service for e in events if e.service})
        values = (
            latest.type[:_MAX_TEXT],
            latest.message[:_MAX_TEXT],
            culprit(latest.frames),
            _frames_json(latest.frames),
        )
        made = tx.execute(
            f"INSERT INTO error_groups (project_id, {_GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (project_id, id) DO NOTHING",
            (
                project_id,
                group_id,
                *values,
                json.dumps(services),
                events[0].time_ns,
                latest.time_ns,
                len(events),
                "unresolved",
                None,
                None,
            ),
        )
        announce: str | None = "new" if made else None
        if not made:
            row = tx.rows(
                f"SELECT {_GROUP_COLUMNS} FROM error_groups WHERE project_id = ? AND id = ?{tx.for_update}",
                (project_id, group_id),
            )[0]
            group = _group(row)
            state = group.state
            if state == "resolved" and any(e.time_ns > (group.resolved_at_ns or 0) for e in events):
                state, announce = "regressed", "regressed"
            if latest.time_ns < group.last_seen_ns:  # a late event: the group keeps its latest stack
                values = (group.type, group.message, group.culprit, _frames_json(group.frames))
            tx.execute(
                "UPDATE error_groups SET type = ?, message = ?, culprit = ?, frames = ?, services = ?,"
                " first_seen = ?, last_seen = ?, times_seen = times_seen + ?, state = ? WHERE project_id = ? AND id = ?",
                (
                    *values,
                    json.dumps(sorted(set(group.services) | set(services))),
                    min(group.first_seen_ns, events[0].time_ns),
                    max(group.last_seen_ns, latest.time_ns),
                    len(events),
                    state,
                    project_id,
                    group_id,
                ),
            )
        for event in events[-RECENT_EVENTS:]:
            tx.execute(
                f"INSERT INTO error_events (project_id, group_id, {_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    group_id,
                    event.time_ns,
                    event.type[:_MAX_TEXT],
                    event.message[:_MAX_TEXT],
                    event.service,
                    event.trace_id,
                    event.span_id,
                    event.source,
                    json.dumps(event.labels),
                    _frames_json(event.frames),
                    event.stacktrace[:_MAX_STACK],
                ),
            )
        tx.execute(
            "DELETE FROM error_events WHERE project_id = ? AND group_id = ? AND seq NOT IN"
            " (SELECT seq FROM error_events WHERE project_id = ? AND group_id = ? ORDER BY time_ns DESC, seq DESC LIMIT ?)",
            (project_id, group_id, project_id, group_id, RECENT_EVENTS),
        )
        if announce is None:
            return None
        rows = tx.rows(
            f"SELECT {_GROUP_COLUMNS} FROM error_groups WHERE project_id = ? AND id = ?", (project_id, group_id)
        )
        group = _group(rows[0])
        return None if group.state == "ignored" else _Announcement(announce, group)

    # ---- notifications -----------------------------------------------------------------

    def _announce(self, project_id: str, announcement: _Announcement) -> None:
        from codeforge.platform.monitoring.alerts.notify import Notification  # alerts import the stores

        notifier = self.monitoring.notifier
        group = announcement.group
        verb = "New error" if announcement.kind == "new" else "Regressed error"
        where = f" at {group.culprit}" if group.culprit else ""
        try:
            notifier.notify(
                project_id,
                Notification(
                    kind=f"error.{announcement.kind}",  # error.new | error.regressed
                    title=f"{verb}: {group.type}",
                    message=f"{group.message}{where} ({group.count} seen)"[:1000],  # the title names the type
                    pane="error",
                    item=group.id,
                    labels={
                        "error": group.id,
                        "type": group.type,
                        "state": announcement.kind,
                        **({"service": ",".join(group.services)} if group.services else {}),
                    },
                ),
            )
        except Exception:  # a failing channel must not lose the events, nor stop ingestion
            log.exception("error notification failed", extra={"project_id": project_id, "error": group.id})

    def _warn_once(self, key: str, message: str, *, exc_info: bool = False) -> None:
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(message, exc_info=exc_info)

    # ---- reading and triage ------------------------------------------------------------

    def groups(
        self,
        project_id: str,
        *,
        state: str | None = None,
        service: str | None = None,
        query: str | None = None,
        since_ns: int | None = None,
        limit: int = 50,
    ) -> list[ErrorGroup]:
        """The project's groups, the most recently seen first."""
        where: list[str] = ["project_id = ?"]
        params: list[Any] = [project_id]
        if state:
            where.append("state = ?")
            params.append(state)
        if service:
            where.append("services LIKE ? ESCAPE '\\'")
            params.append(_like(json.dumps(service)))
        if query:
            where.append("(LOWER(type) LIKE ? ESCAPE '\\' OR LOWER(message) LIKE ? ESCAPE '\\')")
            params += [_like(query), _like(query)]
        if since_ns is not None:
            where.append("last_seen >= ?")
            params.append(since_ns)
        sql = (
            f"SELECT {_GROUP_COLUMNS} FROM error_groups WHERE {' AND '.join(where)} ORDER BY last_seen DESC, id LIMIT ?"
        )
        with self._db.transaction(write=False) as tx:
            return [_group(row) for row in tx.rows(sql, (*params, limit))]

    def group(self, project_id: str, group_id: str) -> ErrorGroup | None:
        """One group with its newest events (newest first), or None."""
        with self._db.transaction(write=False) as tx:
            rows = tx.rows(
                f"SELECT {_GROUP_COLUMNS} FROM error_groups WHERE project_id = ? AND id = ?", (project_id, group_id)
            )
            if not rows:
                return None
            group = _group(rows[0])
            events = tx.rows(
                f"SELECT {_EVENT_COLUMNS} FROM error_events WHERE project_id = ? AND group_id = ?"
                " ORDER BY time_ns DESC, seq DESC LIMIT ?",
                (project_id, group_id, RECENT_EVENTS),
            )
        group.events = [
            StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), _frames(r[8]), r[9]) for r in events
        ]
        return group

    def triage(self, project_id: str, group_id: str, state: str, username: str) -> ErrorGroup | None:
        """Sets a group's state (one of TRIAGE_STATES); resolving records who and when. None
        when the project has no such group."""
        if state not in TRIAGE_STATES:
            raise ValueError(f"state must be one of {', '.join(TRIAGE_STATES)}, not {state!r}")
        resolved = (time.time_ns(), username) if state == "resolved" else (None, None)
        with self._db.transaction() as tx:
            changed = tx.execute(
                "UPDATE error_groups SET state = ?, resolved_at = ?, resolved_by = ? WHERE project_id = ? AND id = ?",
                (state, *resolved, project_id, group_id),
            )
        return self.group(project_id, group_id) if changed else None
