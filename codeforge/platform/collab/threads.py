"""Comment threads anchored to text: comment (a new thread), reply, resolve, reopen, list, and
`move`, which the language server calls as edits move a thread's anchor (not audited).

Who may write: a member whose role edits (developer and above), or a participant of the
session a thread belongs to, a read-only guest included (a guest reviews; it does not edit
code). Every member of the organization reads the project's threads, as they read its code.
"""

from __future__ import annotations

from sqlalchemy import func, select

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound, PermissionDenied
from codeforge.platform.auth.models import Project
from codeforge.platform.collab.lookup import (
    active_participants,
    comments_of,
    find_session,
    find_thread,
    me_in,
    require_active,
    thread_out,
)
from codeforge.platform.collab.models import CollabComment, CollabReview, CollabThread
from codeforge.platform.context import Context
from codeforge.platform.registry import implements

__all__ = ["MAX_COMMENTS_PER_THREAD", "check_path"]

# A thread is a conversation, not a chat log: past this, start another.
MAX_COMMENTS_PER_THREAD = 1000


def check_path(path: str, field: str) -> str:
    """A workspace-relative posix path: not absolute, no `..`, no empty or `.` component, no
    control character (a path is shown in editors and the audit log)."""
    parts = path.split("/")
    problem = ""
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        problem = "is absolute"
    elif any(p in ("", ".", "..") for p in parts):
        problem = "has an empty, `.` or `..` component"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        problem = "holds a control character"
    if problem:
        raise BadInput(
            f"path {problem}",
            errors=[
                FieldProblem(field, problem, "give the file's path relative to the workspace root, e.g. src/app.py")
            ],
        )
    return path


def _may_write(ctx: Context, session_id: str | None, what: str) -> None:
    if ctx.actor.can(Permission.EDIT):
        return
    if session_id is not None:
        row, _ = find_session(ctx, session_id)
        if row.state == "active" and me_in(ctx, active_participants(ctx, [row.id])[row.id]) is not None:
            return
    raise PermissionDenied(
        f"your role {ctx.actor.role.value!r} may {what} only in a collaboration session you take part in",
        fix="join the session the thread belongs to, or ask an admin for the developer role",
    )


def _review_in(ctx: Context, project: Project, review_id: str) -> CollabReview:
    review = ctx.session.get(CollabReview, review_id)
    if review is None or review.project_id != project.id:
        raise NotFound(
            f"project {project.slug!r} has no review {review_id!r}",
            fix=f"list its reviews with `codeforge collab reviews --project {project.slug}`",
        )
    return review


def _answer(ctx: Context, row: CollabThread, project: Project) -> catalog.collab.Thread:
    ctx.session.flush()
    return thread_out(row, project, comments_of(ctx, [row.id])[row.id])


@implements(catalog.collab.COMMENT)
def comment(ctx: Context, data: catalog.collab.CommentInput) -> catalog.collab.Thread:
    project = ctx.require_project()
    check_path(data.path, "path")
    if data.session is not None:
        session, _ = find_session(ctx, data.session)
        if session.project_id != project.id:
            raise BadInput(
                f"collaboration session {data.session!r} is not on project {project.slug!r}",
                errors=[FieldProblem("session", "belongs to another project", "name the session's own project")],
            )
        require_active(session)
    _may_write(ctx, data.session, "comment")
    if data.review is not None:
        review = _review_in(ctx, project, data.review)
        if review.state != "open":
            raise Conflict(f"review {review.id!r} is closed", fix="comment on an open review, or open a new one")
    row = CollabThread(
        project_id=project.id,
        session_id=data.session,
        review_id=data.review,
        path=data.path,
        line=data.line,
        anchor=data.anchor,
        quote=data.quote,
        state="open",
        created_by=ctx.actor.username,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.session.add(CollabComment(thread_id=row.id, author=ctx.actor.username, body=data.body))
    return _answer(ctx, row, project)


@implements(catalog.collab.REPLY)
def reply(ctx: Context, data: catalog.collab.ReplyInput) -> catalog.collab.Thread:
    row, project = find_thread(ctx, data.thread)
    _may_write(ctx, row.session_id, "reply")
    count = ctx.session.scalar(select(func.count()).where(CollabComment.thread_id == row.id)) or 0
    if count >= MAX_COMMENTS_PER_THREAD:
        raise Conflict(
            f"thread {row.id!r} holds {count} comments, the most one may",
            fix="resolve it and start a new thread on the same line",
        )
    ctx.session.add(CollabComment(thread_id=row.id, author=ctx.actor.username, body=data.body))
    return _answer(ctx, row, project)


def _set_state(ctx: Context, thread_id: str, state: str, what: str) -> catalog.collab.Thread:
    row, project = find_thread(ctx, thread_id)
    _may_write(ctx, row.session_id, what)
    row.state = state  # twice is the same as once: editors may send it again after a reconnect
    return _answer(ctx, row, project)


@implements(catalog.collab.RESOLVE)
def resolve(ctx: Context, data: catalog.collab.ThreadInput) -> catalog.collab.Thread:
    return _set_state(ctx, data.thread, "resolved", "resolve threads")


@implements(catalog.collab.REOPEN)
def reopen(ctx: Context, data: catalog.collab.ThreadInput) -> catalog.collab.Thread:
    return _set_state(ctx, data.thread, "open", "reopen threads")


@implements(catalog.collab.COMMENTS)
def list_threads(ctx: Context, data: catalog.collab.CommentsInput) -> catalog.collab.ThreadList:
    project = ctx.require_project()
    query = select(CollabThread).where(CollabThread.project_id == project.id)
    if data.path is not None:
        query = query.where(CollabThread.path == check_path(data.path, "path"))
    if data.review is not None:
        query = query.where(CollabThread.review_id == data.review)
    if data.session is not None:
        query = query.where(CollabThread.session_id == data.session)
    if data.state is not None:
        query = query.where(CollabThread.state == data.state)
    rows = list(ctx.session.scalars(query.order_by(CollabThread.created_at.desc(), CollabThread.id).limit(data.limit)))
    comments = comments_of(ctx, [r.id for r in rows])
    return catalog.collab.ThreadList(items=[thread_out(r, project, comments[r.id]) for r in rows])


@implements(catalog.collab.MOVE)
def move(ctx: Context, data: catalog.collab.MoveInput) -> catalog.collab.Moved:
    row, _ = find_thread(ctx, data.thread)
    _may_write(ctx, row.session_id, "move threads")
    row.line = data.line
    return catalog.collab.Moved(thread=row.id, line=row.line)
