"""Collaboration sessions: start, invite, join, roles, pair mode, leave and end; and `admit`,
which the bridge asks on every collab websocket.

Who may do what (docs/collab.md):

- the host (who started it) invites, removes, sets roles and the mode; only the host, so nobody
  grants a role above what they may grant;
- the driver or the host hands the driving over, to a participant who is not a guest;
- the host cannot leave: hosting is not handed over, so the host ends the session (the simplest
  rule that never leaves a session without someone who may end it);
- the host, or an admin of the organization, ends it: every invitation is void, and `admit`
  answers 410 from then on;
- an organization member whose platform role cannot edit (a viewer) takes part as a guest at
  most, whatever the invitation says: a session must not give them the write access the
  platform does not.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from codeforge import catalog
from codeforge.catalog import Permission, Role
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, Gone, NotFound, PermissionDenied
from codeforge.platform.auth.models import Project, User
from codeforge.platform.collab.calls import end_active_call
from codeforge.platform.collab.lookup import (
    PALETTE,
    active_participants,
    find_session,
    me_in,
    participant_out,
    require_active,
    require_participant,
    session_out,
)
from codeforge.platform.collab.models import CollabInvitation, CollabParticipant, CollabSession
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.registry import implements

__all__ = ["INVITATION_PREFIX", "JOIN_LINK", "hash_invitation"]

INVITATION_PREFIX = "cfi_"
JOIN_LINK = "codeforge://collab/join?session={session}&invitation={token}"

_EDITING_ROLES = ("driver", "navigator")


def hash_invitation(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pick_color(taken: list[CollabParticipant]) -> str:
    used = {p.color for p in taken}
    free = [c for c in PALETTE if c not in used]
    return free[0] if free else PALETTE[len(taken) % len(PALETTE)]


def _capped(role: str, platform_role: Role | str) -> str:
    """The role a member gets: a member who cannot edit on the platform is a guest here too."""
    if role in _EDITING_ROLES and Permission.EDIT not in catalog.ROLE_PERMISSIONS[Role(platform_role)]:
        return "guest"
    return role


def _require_host(ctx: Context, row: CollabSession, what: str) -> None:
    if row.host != ctx.actor.username:
        raise PermissionDenied(
            f"only the host of collaboration session {row.id!r} ({row.host!r}) may {what}",
            fix=f"ask {row.host!r} to do it",
        )


def _answer(ctx: Context, row: CollabSession, project: Project) -> catalog.collab.Session:
    ctx.session.flush()
    return session_out(row, project, active_participants(ctx, [row.id])[row.id])


def _participant(row: CollabSession, participants: list[CollabParticipant], username: str) -> CollabParticipant:
    found = next((p for p in participants if p.username == username), None)
    if found is None:
        raise NotFound(
            f"{username!r} is not a participant of collaboration session {row.id!r}",
            fix=f"see who is with `codeforge collab show {row.id}`",
        )
    return found


@implements(catalog.collab.START)
def start(ctx: Context, data: catalog.collab.StartInput) -> catalog.collab.Session:
    project = ctx.require_project()
    me = ctx.actor.username
    row = CollabSession(project_id=project.id, title=data.title, host=me, mode=data.mode, driver=me, state="active")
    ctx.session.add(row)
    ctx.session.flush()
    ctx.session.add(
        CollabParticipant(
            session_id=row.id, user_id=ctx.actor.user_id, username=me, color=PALETTE[0], role="driver", host=True
        )
    )
    return _answer(ctx, row, project)


@implements(catalog.collab.LIST)
def list_sessions(ctx: Context, data: catalog.collab.SessionListInput) -> catalog.collab.SessionList:
    project = ctx.require_project()
    query = select(CollabSession).where(CollabSession.project_id == project.id)
    if not ctx.actor.can(Permission.MANAGE):  # your own sessions; an admin sees them all
        mine = select(CollabParticipant.session_id).where(
            CollabParticipant.user_id == ctx.actor.user_id, CollabParticipant.left_at.is_(None)
        )
        query = query.where(CollabSession.id.in_(mine))
    if data.state:
        query = query.where(CollabSession.state == data.state)
    rows = list(ctx.session.scalars(query.order_by(CollabSession.created_at.desc()).limit(data.limit)))
    participants = active_participants(ctx, [r.id for r in rows])
    return catalog.collab.SessionList(items=[session_out(r, project, participants[r.id]) for r in rows])


@implements(catalog.collab.SHOW)
def show(ctx: Context, data: catalog.collab.SessionInput) -> catalog.collab.Session:
    row, project = find_session(ctx, data.session)
    participants = active_participants(ctx, [row.id])[row.id]
    require_participant(ctx, row, participants, or_permission=Permission.MANAGE)
    return session_out(row, project, participants)


@implements(catalog.collab.ADMIT)
def admit(ctx: Context, data: catalog.collab.AdmitInput) -> catalog.collab.Admitted:
    """404 unknown (or another organization's), 410 ended, 403 not a participant."""
    row, project = find_session(ctx, data.session)
    require_active(row)
    participants = active_participants(ctx, [row.id])[row.id]
    me = require_participant(ctx, row, participants, or_permission=None)
    assert me is not None
    return catalog.collab.Admitted(participant=participant_out(me), session=session_out(row, project, participants))


@implements(catalog.collab.INVITE)
def invite(ctx: Context, data: catalog.collab.InviteInput) -> catalog.collab.Invitation:
    row, _ = find_session(ctx, data.session)
    require_active(row)
    _require_host(ctx, row, "invite")
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    invitation = CollabInvitation(
        session_id=row.id,
        token_hash=hash_invitation(token),
        role=data.role,
        created_by=ctx.actor.username,
        created_at=now,
        expires_at=now + timedelta(minutes=data.expires_in_minutes),
    )
    ctx.session.add(invitation)
    ctx.session.flush()
    return catalog.collab.Invitation(
        id=invitation.id,
        token=token,
        link=JOIN_LINK.format(session=row.id, token=token),
        role=data.role,
        expires_at=invitation.expires_at,
    )


def _token_of(value: str) -> str:
    """The token of an invitation given as itself or as the whole join link."""
    if "://" not in value and "?" not in value:
        return value
    tokens = parse_qs(urlsplit(value).query).get("invitation", [])
    if len(tokens) != 1 or not tokens[0]:
        raise BadInput(
            "the link holds no invitation",
            errors=[
                FieldProblem(
                    "invitation", "no `invitation=` in the link", "paste the whole link the host sent, or the token"
                )
            ],
        )
    return tokens[0]


def _no_invitation() -> NotFound:
    return NotFound(
        "no such invitation in your organization",
        fix="check you copied the whole link or token; else ask the host for a new invitation",
    )


@implements(catalog.collab.JOIN)
def join(ctx: Context, data: catalog.collab.JoinInput) -> catalog.collab.Session:
    invitation = ctx.session.scalar(
        select(CollabInvitation).where(CollabInvitation.token_hash == hash_invitation(_token_of(data.invitation)))
    )
    if invitation is None:
        raise _no_invitation()
    try:
        row, project = find_session(ctx, invitation.session_id)
    except NotFound:  # another organization's: the same answer as none at all
        raise _no_invitation() from None
    require_active(row)
    if invitation.revoked_at is not None:
        raise Gone("this invitation was revoked", fix=f"ask the host ({row.host!r}) for a new invitation")
    if invitation.expires_at <= utcnow():
        raise Gone(
            f"this invitation expired at {invitation.expires_at.isoformat(timespec='seconds')}",
            fix=f"ask the host ({row.host!r}) for a new invitation",
        )
    participants = active_participants(ctx, [row.id])[row.id]
    if me_in(ctx, participants) is not None:  # joining again changes nothing (a host stays host)
        return session_out(row, project, participants)
    role = _capped(invitation.role, ctx.actor.role)
    earlier = ctx.session.scalar(
        select(CollabParticipant).where(
            CollabParticipant.session_id == row.id, CollabParticipant.user_id == ctx.actor.user_id
        )
    )
    if earlier is None:
        ctx.session.add(
            CollabParticipant(
                session_id=row.id,
                user_id=ctx.actor.user_id,
                username=ctx.actor.username,
                color=_pick_color(participants),
                role=role,
                host=False,
            )
        )
        return _answer(ctx, row, project)
    if earlier.removed_at is not None and invitation.created_at <= earlier.removed_at:
        raise PermissionDenied(
            f"the host removed you from collaboration session {row.id!r} after this invitation was made",
            fix=f"ask the host ({row.host!r}) for a new invitation",
        )
    earlier.left_at = earlier.removed_at = None
    earlier.role, earlier.color, earlier.joined_at = role, _pick_color(participants), utcnow()
    return _answer(ctx, row, project)


def _gone_from(row: CollabSession, person: CollabParticipant, *, removed: bool) -> None:
    now = utcnow()
    person.left_at = now
    if removed:
        person.removed_at = now
    if row.driver == person.username:  # the driving goes back to the host
        row.driver = row.host


@implements(catalog.collab.LEAVE)
def leave(ctx: Context, data: catalog.collab.SessionInput) -> catalog.collab.Session:
    row, project = find_session(ctx, data.session)
    require_active(row)
    participants = active_participants(ctx, [row.id])[row.id]
    me = require_participant(ctx, row, participants, or_permission=None)
    assert me is not None
    if me.host:
        raise Conflict(
            f"you host collaboration session {row.id!r}: the host cannot leave it",
            fix=f"end it for everyone with `codeforge collab end {row.id}`",
        )
    _gone_from(row, me, removed=False)
    return _answer(ctx, row, project)


@implements(catalog.collab.REMOVE)
def remove(ctx: Context, data: catalog.collab.ParticipantInput) -> catalog.collab.Session:
    row, project = find_session(ctx, data.session)
    require_active(row)
    _require_host(ctx, row, "remove participants")
    person = _participant(row, active_participants(ctx, [row.id])[row.id], data.username)
    if person.host:
        raise Conflict("the host cannot be removed", fix=f"end the session with `codeforge collab end {row.id}`")
    _gone_from(row, person, removed=True)
    return _answer(ctx, row, project)


@implements(catalog.collab.SET_ROLE)
def set_role(ctx: Context, data: catalog.collab.SetRoleInput) -> catalog.collab.Session:
    row, project = find_session(ctx, data.session)
    require_active(row)
    _require_host(ctx, row, "set roles")
    person = _participant(row, active_participants(ctx, [row.id])[row.id], data.username)
    if person.host and data.role == "guest":
        raise Conflict("the host keeps a role that edits", fix="give the host driver or navigator")
    user = ctx.session.get(User, person.user_id)
    if user is not None and _capped(data.role, user.role) != data.role:
        raise PermissionDenied(
            f"{data.username!r} is a {user.role} of the organization and may only be a guest",
            fix="ask an admin to give them the developer role first (`codeforge members set-role`)",
        )
    person.role = data.role
    if data.role == "guest" and row.driver == person.username:
        row.driver = row.host
    return _answer(ctx, row, project)


@implements(catalog.collab.SET_MODE)
def set_mode(ctx: Context, data: catalog.collab.SetModeInput) -> catalog.collab.Session:
    row, project = find_session(ctx, data.session)
    require_active(row)
    _require_host(ctx, row, "switch the mode")
    row.mode = data.mode
    return _answer(ctx, row, project)


@implements(catalog.collab.HANDOVER)
def handover(ctx: Context, data: catalog.collab.ParticipantInput) -> catalog.collab.Session:
    """The driving goes to `username` (in pair mode the only one who edits). The new driver's
    role becomes driver and the old driver's navigator, so the roles say who drives."""
    row, project = find_session(ctx, data.session)
    require_active(row)
    if ctx.actor.username not in (row.driver, row.host):
        raise PermissionDenied(
            f"only the driver ({row.driver!r}) or the host ({row.host!r}) may hand the driving over",
            fix=f"ask {row.driver!r} to hand it over to you",
        )
    participants = active_participants(ctx, [row.id])[row.id]
    target = _participant(row, participants, data.username)
    if target.role == "guest":
        raise Conflict(
            f"{data.username!r} is a guest (read only) and cannot drive",
            fix=f"the host gives them another role first (`codeforge collab set-role {row.id} {data.username} navigator`)",
        )
    previous = next((p for p in participants if p.username == row.driver), None)
    if previous is not None and previous is not target and previous.role == "driver":
        previous.role = "navigator"
    target.role = "driver"
    row.driver = target.username
    return _answer(ctx, row, project)


@implements(catalog.collab.END)
def end(ctx: Context, data: catalog.collab.SessionInput) -> catalog.collab.Session:
    """Ending an ended session answers it as it is (the language server may retry)."""
    row, project = find_session(ctx, data.session)
    if row.host != ctx.actor.username and not ctx.actor.can(Permission.MANAGE):
        raise PermissionDenied(
            f"only the host of collaboration session {row.id!r} ({row.host!r}) or an admin may end it",
            fix=f"ask {row.host!r} or an admin of organization {ctx.actor.org_slug!r}",
        )
    if row.state == "active":
        now = utcnow()
        row.state, row.ended_at = "ended", now
        ctx.session.execute(
            update(CollabInvitation)
            .where(CollabInvitation.session_id == row.id, CollabInvitation.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        # The call ends with the session: the bridge's next report is answered `ended`.
        end_active_call(ctx.session, row.id, by=ctx.actor.username, now=now)
    return _answer(ctx, row, project)
