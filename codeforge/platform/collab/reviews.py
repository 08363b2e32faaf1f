"""Reviews of a change set (the diff between the workspace and a git ref, or an agent's
proposal): created whole, listed, shown with their threads, closed by their author or an admin.
The language server computes the hunks; the platform keeps them as given, within limits."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, FieldProblem, NotFound, PermissionDenied
from codeforge.platform.auth.models import Project
from codeforge.platform.collab.lookup import comments_of, find_project, thread_out
from codeforge.platform.collab.models import CollabReview, CollabThread
from codeforge.platform.collab.threads import check_path
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.registry import implements

__all__ = ["MAX_REVIEW_BYTES", "MAX_REVIEW_LINES"]

# A review people read: past these, split the change (a generated file is better left out).
MAX_REVIEW_LINES = 100_000
MAX_REVIEW_BYTES = 8 * 1024 * 1024


def _check_size(files: list[catalog.collab.ReviewFile]) -> None:
    seen: set[str] = set()
    lines = size = 0
    for i, f in enumerate(files):
        check_path(f.path, f"files.{i}.path")
        if f.path in seen:
            raise BadInput(
                f"{f.path!r} is given twice",
                errors=[FieldProblem(f"files.{i}.path", "appears twice", "give each file once, with all its hunks")],
            )
        seen.add(f.path)
        for hunk in f.hunks:
            lines += len(hunk.lines)
            size += sum(len(line.encode()) for line in hunk.lines)
    if lines > MAX_REVIEW_LINES or size > MAX_REVIEW_BYTES:
        raise BadInput(
            f"the change set is too large to review ({lines} lines, {size} bytes)",
            errors=[
                FieldProblem(
                    "files",
                    f"holds over {MAX_REVIEW_LINES} lines or {MAX_REVIEW_BYTES // (1024 * 1024)} MiB",
                    "split the change into smaller reviews, or leave generated files out",
                )
            ],
        )


def _find(ctx: Context, review_id: str) -> tuple[CollabReview, Project]:
    row = ctx.session.get(CollabReview, review_id)
    try:
        if row is not None:
            return row, find_project(ctx, row.project_id)
    except LookupError:
        pass
    raise NotFound(
        f"there is no review {review_id!r} in your organization", fix="list reviews with `codeforge collab reviews`"
    )


def _out(row: CollabReview, project: Project) -> catalog.collab.Review:
    return catalog.collab.Review(
        id=row.id,
        project=project.slug,
        title=row.title,
        base_ref=row.base_ref,
        author=row.author,
        state=row.state,
        created_at=row.created_at,
        closed_at=row.closed_at,
        files=[catalog.collab.ReviewFile.model_validate(f) for f in row.files],
    )


@implements(catalog.collab.REVIEW_CREATE)
def create(ctx: Context, data: catalog.collab.ReviewCreateInput) -> catalog.collab.Review:
    project = ctx.require_project()
    _check_size(data.files)
    row = CollabReview(
        project_id=project.id,
        title=data.title,
        base_ref=data.base_ref,
        author=ctx.actor.username,
        state="open",
        files=[f.model_dump(mode="json") for f in data.files],
    )
    ctx.session.add(row)
    ctx.session.flush()
    return _out(row, project)


@implements(catalog.collab.REVIEWS)
def list_reviews(ctx: Context, data: catalog.collab.ReviewListInput) -> catalog.collab.ReviewList:
    project = ctx.require_project()
    query = select(CollabReview).where(CollabReview.project_id == project.id)
    if data.state is not None:
        query = query.where(CollabReview.state == data.state)
    rows = ctx.session.scalars(query.order_by(CollabReview.created_at.desc(), CollabReview.id).limit(data.limit))
    return catalog.collab.ReviewList(
        items=[
            catalog.collab.ReviewSummary(
                id=r.id,
                project=project.slug,
                title=r.title,
                base_ref=r.base_ref,
                author=r.author,
                state=r.state,
                created_at=r.created_at,
                closed_at=r.closed_at,
                paths=[f["path"] for f in r.files],
            )
            for r in rows
        ]
    )


@implements(catalog.collab.REVIEW_SHOW)
def show(ctx: Context, data: catalog.collab.ReviewInput) -> catalog.collab.ReviewDetail:
    row, project = _find(ctx, data.review)
    threads = list(
        ctx.session.scalars(
            select(CollabThread)
            .where(CollabThread.review_id == row.id)
            .order_by(CollabThread.path, CollabThread.line, CollabThread.created_at)
        )
    )
    comments = comments_of(ctx, [t.id for t in threads])
    return catalog.collab.ReviewDetail(
        **_out(row, project).model_dump(), threads=[thread_out(t, project, comments[t.id]) for t in threads]
    )


@implements(catalog.collab.REVIEW_CLOSE)
def close(ctx: Context, data: catalog.collab.ReviewInput) -> catalog.collab.Review:
    """Closing a closed review answers it as it is."""
    row, project = _find(ctx, data.review)
    if row.author != ctx.actor.username and not ctx.actor.can(Permission.MANAGE):
        raise PermissionDenied(
            f"review {row.id!r} is {row.author!r}'s; closing another member's needs 'manage'",
            fix=f"ask {row.author!r} or an admin of organization {ctx.actor.org_slug!r}",
        )
    if row.state == "open":
        row.state, row.closed_at = "closed", utcnow()
    return _out(row, project)
