"""Calls in collaboration sessions: start, show, mute, end, and the bridge's join and report.

The media runs in the bridge (docs/voice.md); the platform keeps who may be in a call, the
call's life and the bridge's last report. Who may do what:

- only participants of the session take part; a guest (read only) joins to listen and watch
  but never starts a call: with no call going, its join answers 409;
- anyone mutes themselves; the host mutes others, and only mutes (unmuting is the
  participant's own). A mute is stored as pending and handed to the bridge in the answer to
  its next report (≤ 2 s), then forgotten; the reports after show it applied;
- the host, or an admin of the organization, ends the call; ending the session ends it too.

The platform never reaches into a bridge: the bridge learns of mutes and ends from the
answers to its reports, as it learns of close requests from `bridges.report`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from codeforge.catalog import Permission
from codeforge.catalog import calls as api
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, Gone, NotFound, PermissionDenied
from codeforge.platform.collab.lookup import (
    active_participants,
    find_session,
    participant_out,
    require_active,
    require_participant,
)
from codeforge.platform.collab.models import CollabCall, CollabCallMute, CollabParticipant, CollabSession
from codeforge.platform.context import Context
from codeforge.platform.db import new_id, upsert, utcnow
from codeforge.platform.registry import implements

__all__ = ["call_out", "end_active_call"]

_ACTIVE = select(CollabCall).where(CollabCall.active_session == bindparam("session_id"))
_LATEST = (
    select(CollabCall)
    .where(CollabCall.session_id == bindparam("session_id"))
    .order_by(CollabCall.started_at.desc(), CollabCall.id.desc())
    .limit(1)
)
_PENDING = (
    select(CollabCallMute).where(CollabCallMute.call_id == bindparam("call_id")).order_by(CollabCallMute.requested_at)
)
# A request made again while a report takes the older one is a new value: only the row the
# report saw (same id, same request time) goes.
_MUTES = cast(Table, CollabCallMute.__table__)
_TAKEN = delete(_MUTES).where(_MUTES.c.id == bindparam("taken_id"), _MUTES.c.requested_at == bindparam("taken_at"))
_MUTE_KEY = ("call_id", "username")
_MUTE_UPDATED = ("muted", "requested_by", "requested_at")
_START_KEY = ("active_session",)


# ---- lookups and answers ------------------------------------------------------------------


def _active(session: Session, session_id: str) -> CollabCall | None:
    return session.scalar(_ACTIVE, {"session_id": session_id})


def _latest(session: Session, session_id: str) -> CollabCall | None:
    """The active call, else the last one that ended; None when the session never had one."""
    return _active(session, session_id) or session.scalar(_LATEST, {"session_id": session_id})


def _no_call(row: CollabSession) -> NotFound:
    return NotFound(
        f"collaboration session {row.id!r} has no call",
        fix=f"start one with `codeforge collab call-start {row.id}` (or join it from your editor)",
    )


def _ended(row: CollabSession, call: CollabCall) -> Gone:
    ended = call.ended_at.isoformat(timespec="seconds") if call.ended_at else "earlier"
    return Gone(
        f"the call of collaboration session {row.id!r} ended ({ended})",
        fix=f"start a new one with `codeforge collab call-start {row.id}`",
    )


def _require_call(ctx: Context, row: CollabSession) -> CollabCall:
    """The session's active call: 404 when it never had one, 410 when the last one ended."""
    call = _latest(ctx.session, row.id)
    if call is None:
        raise _no_call(row)
    if call.state != "active":
        raise _ended(row, call)
    return call


def _pending(session: Session, call: CollabCall) -> list[CollabCallMute]:
    return list(session.scalars(_PENDING, {"call_id": call.id})) if call.state == "active" else []


def call_out(
    call: CollabCall, participants: Iterable[CollabParticipant], pending: Sequence[CollabCallMute] = ()
) -> api.Call:
    """The call as people see it: the bridge's last report of who is in it, with each
    person's name, colour, role and host flag as the session has them now. Someone the
    report names who is no longer in the session (removed since) is left out."""
    people = {p.username: p for p in participants}
    listed: list[api.CallParticipant] = []
    for entry in call.participants if call.state == "active" else ():
        person = people.get(entry.get("username", ""))
        if person is None:
            continue
        watching = entry.get("watching")
        listed.append(
            api.CallParticipant(
                username=person.username,
                name=person.username,  # the platform has no display names
                color=person.color,
                role=person.role,
                host=person.host,
                muted=bool(entry.get("muted")),
                muted_by_host=bool(entry.get("muted_by_host")),
                talking=bool(entry.get("talking")),
                sharing=entry.get("sharing"),
                watching=watching if watching in people else None,
                joined_at=entry["joined_at"],
            )
        )
    return api.Call(
        session=call.session_id,
        state=call.state,
        started_by=call.started_by,
        started_at=call.started_at,
        ended_at=call.ended_at,
        participants=listed,
        reported_at=call.reported_at,
        pending_mutes=[api.MuteRequest(username=m.username, muted=m.muted) for m in pending],
    )


def _answer(ctx: Context, call: CollabCall, participants: Iterable[CollabParticipant]) -> api.Call:
    ctx.session.flush()
    return call_out(call, participants, _pending(ctx.session, call))


def _start(ctx: Context, row: CollabSession) -> CollabCall:
    """The session's active call, started by the caller if there is none. Two first joins at
    once both get the same call: the insert does nothing when one is active already."""
    ctx.session.flush()
    values = {
        "id": new_id(),
        "session_id": row.id,
        "state": "active",
        "active_session": row.id,
        "started_by": ctx.actor.username,
        "started_at": utcnow(),
        "ended_at": None,
        "ended_by": None,
        "participants": [],
        "reported_at": None,
        "bridge": None,
    }
    ctx.session.execute(upsert(ctx.session, CollabCall, key=_START_KEY, update=()), [values])
    call = _active(ctx.session, row.id)
    assert call is not None  # just inserted, or the one that was there
    return call


def end_active_call(session: Session, session_id: str, *, by: str, now: datetime | None = None) -> CollabCall | None:
    """End the session's active call, if any (also when the session ends): its pending
    mutes go, and the bridge's next report is answered `ended`."""
    call = _active(session, session_id)
    if call is None:
        return None
    call.state, call.active_session = "ended", None
    call.ended_at, call.ended_by = now or utcnow(), by
    call.participants = []  # nobody is in an ended call
    session.execute(delete(CollabCallMute).where(CollabCallMute.call_id == call.id))
    return call


def _require_may_talk(row: CollabSession, me: CollabParticipant) -> None:
    if me.role == "guest":
        raise PermissionDenied(
            f"you ({me.username!r}) are a guest of collaboration session {row.id!r}: guests listen and watch, "
            "they do not start calls",
            fix=f"ask a participant to start the call, or ask the host ({row.host!r}) for another role",
        )


# ---- operations ---------------------------------------------------------------------------


@implements(api.CALL_START)
def call_start(ctx: Context, data: api.CallInput) -> api.Call:
    row, _ = find_session(ctx, data.session)
    require_active(row)
    participants = active_participants(ctx, [row.id])[row.id]
    me = require_participant(ctx, row, participants, or_permission=None)
    assert me is not None
    _require_may_talk(row, me)
    return _answer(ctx, _start(ctx, row), participants)


@implements(api.CALL_SHOW)
def call_show(ctx: Context, data: api.CallInput) -> api.Call:
    row, _ = find_session(ctx, data.session)
    participants = active_participants(ctx, [row.id])[row.id]
    require_participant(ctx, row, participants, or_permission=Permission.MANAGE)
    call = _latest(ctx.session, row.id)
    if call is None:
        raise _no_call(row)
    return _answer(ctx, call, participants)


@implements(api.CALL_MUTE)
def call_mute(ctx: Context, data: api.MuteInput) -> api.Call:
    row, _ = find_session(ctx, data.session)
    require_active(row)
    participants = active_participants(ctx, [row.id])[row.id]
    me = require_participant(ctx, row, participants, or_permission=None)
    assert me is not None
    if data.username != me.username:
        if not me.host:
            raise PermissionDenied(
                f"only the host of collaboration session {row.id!r} ({row.host!r}) mutes others",
                fix=f"mute yourself (`codeforge collab call-mute {row.id} {me.username}`), or ask {row.host!r}",
            )
        if not data.muted:
            raise PermissionDenied(
                f"only {data.username!r} unmutes themselves: the host mutes, never unmutes",
                fix=f"ask {data.username!r} to unmute",
            )
    if not any(p.username == data.username for p in participants):
        raise NotFound(
            f"{data.username!r} is not a participant of collaboration session {row.id!r}",
            fix=f"see who is in the call with `codeforge collab call-show {row.id}`",
        )
    call = _require_call(ctx, row)
    request = {
        "id": new_id(),
        "call_id": call.id,
        "username": data.username,
        "muted": data.muted,
        "requested_by": me.username,
        "requested_at": utcnow(),
    }
    ctx.session.execute(upsert(ctx.session, CollabCallMute, key=_MUTE_KEY, update=_MUTE_UPDATED), [request])
    return _answer(ctx, call, participants)


@implements(api.CALL_END)
def call_end(ctx: Context, data: api.CallInput) -> api.Call:
    """Ending an ended call answers it as it is (the bridge or an editor may retry)."""
    row, _ = find_session(ctx, data.session)
    if row.host != ctx.actor.username and not ctx.actor.can(Permission.MANAGE):
        raise PermissionDenied(
            f"only the host of collaboration session {row.id!r} ({row.host!r}) or an admin may end its call",
            fix=f"leave the call yourself, or ask {row.host!r} or an admin of organization {ctx.actor.org_slug!r}",
        )
    participants = active_participants(ctx, [row.id])[row.id]
    call = end_active_call(ctx.session, row.id, by=ctx.actor.username) or _latest(ctx.session, row.id)
    if call is None:
        raise _no_call(row)
    return _answer(ctx, call, participants)


@implements(api.CALL_JOIN)
def call_join(ctx: Context, data: api.CallInput) -> api.CallJoined:
    """404 unknown (or another organization's), 410 the session ended, 403 not a
    participant, 409 a guest with no call going; else the member, and the call (started by
    the joining user when none is going)."""
    row, _ = find_session(ctx, data.session)
    require_active(row)
    participants = active_participants(ctx, [row.id])[row.id]
    me = require_participant(ctx, row, participants, or_permission=None)
    assert me is not None
    call = _active(ctx.session, row.id)
    if call is None:
        if me.role == "guest":
            raise Conflict(
                f"collaboration session {row.id!r} has no call going, and a guest cannot start one",
                fix="wait for a participant who may talk to start it, then join again",
            )
        call = _start(ctx, row)
    return api.CallJoined(member=participant_out(me), call=_answer(ctx, call, participants))


def _check_report(data: api.CallReportInput) -> None:
    seen: set[str] = set()
    for i, person in enumerate(data.participants):
        if person.username in seen:
            raise BadInput(
                f"{person.username!r} is reported twice",
                errors=[
                    FieldProblem(
                        f"participants.{i}.username",
                        f"{person.username!r} appears twice",
                        "report each participant once (a newer client replaces the older one)",
                    )
                ],
            )
        seen.add(person.username)


@implements(api.CALL_REPORT)
def call_report(ctx: Context, data: api.CallReportInput) -> api.CallReported:
    """Stores who is in the call and hands over (and forgets) the mutes waiting for the
    bridge; `ended` when the call (or its session) ended here, which the bridge applies."""
    _check_report(data)
    row, _ = find_session(ctx, data.session)
    call = _active(ctx.session, row.id)
    if call is None:
        if _latest(ctx.session, row.id) is None:
            raise NotFound(
                f"collaboration session {row.id!r} never had a call on the platform",
                fix="the bridge starts a call with `collab.call_join` as the first user who joins",
            )
        return api.CallReported(state="ended", mutes=[])
    call.participants = [p.model_dump(mode="json") for p in data.participants]
    call.reported_at, call.bridge = utcnow(), data.bridge
    ctx.session.flush()
    pending = _pending(ctx.session, call)
    if pending:
        # Core, row by row (an ORM bulk DELETE takes no parameter sets).
        ctx.session.connection().execute(_TAKEN, [{"taken_id": m.id, "taken_at": m.requested_at} for m in pending])
        for m in pending:
            ctx.session.expunge(m)
    return api.CallReported(
        state="active", mutes=[api.MuteRequest(username=m.username, muted=m.muted) for m in pending]
    )
