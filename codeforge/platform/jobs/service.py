"""Jobs as operations: show, list, cancel."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.platform.context import Context
from codeforge.platform.jobs.models import JobRow
from codeforge.platform.jobs.store import job_out
from codeforge.platform.registry import implements

__all__ = ["find_job"]


def find_job(ctx: Context, job_id: str) -> JobRow:
    row = ctx.session.get(JobRow, job_id)
    if row is None or row.org_id != ctx.actor.org_id:
        raise NotFound(f"no job {job_id!r} in your organization", fix="list jobs with `codeforge jobs list`")
    return row


@implements(catalog.jobs.GET)
def get_job(ctx: Context, data: catalog.jobs.JobIdInput) -> catalog.jobs.Job:
    return job_out(find_job(ctx, data.id))


@implements(catalog.jobs.LIST)
def list_jobs(ctx: Context, data: catalog.jobs.JobListInput) -> catalog.jobs.JobList:
    query = select(JobRow).where(JobRow.org_id == ctx.actor.org_id)
    if data.project:
        query = query.where(JobRow.project == data.project)
    if data.state:
        query = query.where(JobRow.state == data.state.value)
    rows = ctx.session.scalars(query.order_by(JobRow.created_at.desc()).limit(data.limit))
    return catalog.jobs.JobList(items=[job_out(r) for r in rows])


@implements(catalog.jobs.CANCEL)
def cancel_job(ctx: Context, data: catalog.jobs.JobIdInput) -> catalog.jobs.Job:
    row = find_job(ctx, data.id)
    if ctx.runner is not None and catalog.jobs.JobState(row.state) not in catalog.jobs.TERMINAL:
        ctx.runner.cancel(row.id)
        row = ctx.runner.store.get(row.id) or row  # re-read outside this transaction's snapshot
    return job_out(row)
