"""A job's events as Server-Sent Events: the history first, then live, until the job ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from codeforge.catalog import Permission
from codeforge.catalog.errors import NotFound, PermissionDenied
from codeforge.catalog.jobs import TERMINAL, JobState
from codeforge.platform.api.deps import CurrentActor, PlatformDep

__all__ = ["events_router"]

_POLL = 1.0  # seconds; events from other replicas arrive at least this often


async def visible_job(job_id: str, actor: CurrentActor, platform: PlatformDep) -> str:
    """Checked before the stream starts, so a refusal is a plain problem response."""
    row = await run_in_threadpool(platform.jobs.get, job_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound(f"no job {job_id!r} in your organization", fix="list jobs with `codeforge jobs list`")
    if not actor.can(Permission.VIEW):
        raise PermissionDenied("your role cannot view jobs", fix="ask an admin for the viewer role")
    return job_id


def events_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/jobs/{job_id}/events", response_class=EventSourceResponse, tags=["jobs"])
    async def job_events(
        job_id: Annotated[str, Depends(visible_job)],
        platform: PlatformDep,
        last_event_id: Annotated[int, Header()] = 0,
    ) -> AsyncIterator[ServerSentEvent]:
        """Stream a job's events; reconnect with Last-Event-ID to resume."""
        seq = last_event_id
        while True:
            events = await run_in_threadpool(platform.jobs.events_after, job_id, seq)
            for event in events:
                seq = event.seq
                yield ServerSentEvent(data=event.model_dump(mode="json"), id=str(event.seq), event=event.kind)
                if event.kind == "state" and event.state in TERMINAL:
                    return
            if not events:
                current = await run_in_threadpool(platform.jobs.get, job_id)
                if current is None or (
                    JobState(current.state) in TERMINAL
                    and not await run_in_threadpool(platform.jobs.events_after, job_id, seq)
                ):
                    return
                await platform.signals.wait(job_id, _POLL)

    return router
