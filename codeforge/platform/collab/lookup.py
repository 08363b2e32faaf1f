"""Finding a session, a thread or a review for the caller, and turning rows into answers.

Everything here looks rows up by id and checks they belong to the caller's organization: an id
from another organization is answered exactly like an unknown one (no probing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import Gone, NotFound, PermissionDenied
from codeforge.platform.auth.models import Project
from codeforge.platform.collab.models import CollabComment, CollabParticipant, CollabSession, CollabThread
from codeforge.platform.context import Context

__all__ = [
    "PALETTE",
    "active_participants",
    "comments_of",
    "find_project",
    "find_session",
    "find_thread",
    "me_in",
    "participant_out",
    "require_active",
    "require_participant",
    "session_out",
    "thread_out",
]

# Distinct on light and dark themes alike (Sasha Trubetskoy's list, the hardest to confuse
# first). A session hands them out in order, skipping those in use.
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#469990",
    "#9a6324",
    "#800000",
    "#000075",
)

_PARTICIPANTS = (
    select(CollabParticipant)
    .where(CollabParticipant.session_id.in_(bindparam("ids", expanding=True)), CollabParticipant.left_at.is_(None))
    .order_by(CollabParticipant.host.desc(), CollabParticipant.joined_at, CollabParticipant.username)
)
_COMMENTS = (
    select(CollabComment)
    .where(CollabComment.thread_id.in_(bindparam("ids", expanding=True)))
    .order_by(CollabComment.created_at, CollabComment.id)
)


def _missing_session(session_id: str) -> NotFound:
    return NotFound(
        f"there is no collaboration session {session_id!r} in your organization",
        fix="list the sessions you are in with `codeforge collab list`",
    )


def find_project(ctx: Context, project_id: str) -> Project:
    project = ctx.session.get(Project, project_id)
    if project is None or project.org_id != ctx.actor.org_id:
        raise LookupError(project_id)
    return project


def find_session(ctx: Context, session_id: str) -> tuple[CollabSession, Project]:
    row = ctx.session.get(CollabSession, session_id)
    if row is None:
        raise _missing_session(session_id)
    try:
        return row, find_project(ctx, row.project_id)
    except LookupError:
        raise _missing_session(session_id) from None


def find_thread(ctx: Context, thread_id: str) -> tuple[CollabThread, Project]:
    row = ctx.session.get(CollabThread, thread_id)
    try:
        if row is not None:
            return row, find_project(ctx, row.project_id)
    except LookupError:
        pass
    raise NotFound(
        f"there is no comment thread {thread_id!r} in your organization",
        fix="list threads with `codeforge collab comments`",
    )


def active_participants(ctx: Context, session_ids: Sequence[str]) -> dict[str, list[CollabParticipant]]:
    """Each session's participants now, the host first, then in the order they joined."""
    out: dict[str, list[CollabParticipant]] = {sid: [] for sid in session_ids}
    if session_ids:
        for row in ctx.session.scalars(_PARTICIPANTS, {"ids": list(session_ids)}):
            out[row.session_id].append(row)
    return out


def me_in(ctx: Context, participants: Iterable[CollabParticipant]) -> CollabParticipant | None:
    return next((p for p in participants if p.user_id == ctx.actor.user_id), None)


def require_active(row: CollabSession) -> None:
    if row.state != "active":
        ended = row.ended_at.isoformat(timespec="seconds") if row.ended_at else "earlier"
        raise Gone(
            f"collaboration session {row.id!r} ended ({ended})",
            fix="ask its host to start a new session and invite you",
        )


def require_participant(
    ctx: Context, row: CollabSession, participants: Iterable[CollabParticipant], *, or_permission: Permission | None
) -> CollabParticipant | None:
    """The caller's participant record; with `or_permission`, a caller holding that permission
    passes too (None returned)."""
    me = me_in(ctx, participants)
    if me is None and (or_permission is None or not ctx.actor.can(or_permission)):
        raise PermissionDenied(
            f"you ({ctx.actor.username!r}) are not a participant of collaboration session {row.id!r}",
            fix=f"ask its host ({row.host!r}) for an invitation, then join with it (`codeforge collab join`)",
        )
    return me


def participant_out(p: CollabParticipant) -> catalog.collab.Participant:
    # The platform has no display names: people know each other by username.
    return catalog.collab.Participant(username=p.username, name=p.username, color=p.color, role=p.role, host=p.host)


def session_out(
    row: CollabSession, project: Project, participants: Iterable[CollabParticipant]
) -> catalog.collab.Session:
    return catalog.collab.Session(
        id=row.id,
        project=project.slug,
        title=row.title,
        host=row.host,
        mode=row.mode,
        driver=row.driver,
        state=row.state,
        created_at=row.created_at,
        ended_at=row.ended_at,
        participants=[participant_out(p) for p in participants],
    )


def comments_of(ctx: Context, thread_ids: Sequence[str]) -> dict[str, list[CollabComment]]:
    out: dict[str, list[CollabComment]] = {tid: [] for tid in thread_ids}
    if thread_ids:
        for row in ctx.session.scalars(_COMMENTS, {"ids": list(thread_ids)}):
            out[row.thread_id].append(row)
    return out


def thread_out(row: CollabThread, project: Project, comments: Iterable[CollabComment]) -> catalog.collab.Thread:
    return catalog.collab.Thread(
        id=row.id,
        project=project.slug,
        session=row.session_id,
        review=row.review_id,
        path=row.path,
        line=row.line,
        anchor=row.anchor,
        quote=row.quote,
        state=row.state,
        comments=[
            catalog.collab.Comment(id=c.id, author=c.author, body=c.body, created_at=c.created_at) for c in comments
        ],
        created_at=row.created_at,
    )
