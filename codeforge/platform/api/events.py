"""A job's events as Server-Sent Events: the history first, then live, until the job ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from codeforge.catalog import Permission
from codeforge.catalog.errors import BadRequest, NotFound, PermissionDenied
from codeforge.catalog.jobs import TERMINAL, JobState
from codeforge.platform.api.deps import CurrentActor, PlatformDep
from codeforge.platform.api.problems import problem_responses

__all__ = ["events_router"]

_MAX_SEQ = 2**63 - 1  # event numbers are BIGINT-sized; anything larger is not one of ours


async def visible_job(job_id: str, actor: CurrentActor, platform: PlatformDep) -> str:
    """Checked before the stream starts, so a refusal is a plain problem response."""
    if "\x00" in job_id:
        raise BadRequest("the job id holds a NUL character", fix="use a job id from `codeforge jobs list`")
    row = await run_in_threadpool(platform.jobs.get, job_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound(f"no job {job_id!r} in your organization", fix="list jobs with `codeforge jobs list`")
    if not actor.can(Permission.VIEW):
        raise PermissionDenied("your role cannot view jobs", fix="ask an admin for the viewer role")
    return job_id


def resume_point(
    last_event_id: Annotated[
        str, Header(description="Resume after this event number (the `id` of the last event received).")
    ] = "",
) -> int:
    """The event number to resume after: a header, so bad values are a 400, not a field's 422."""
    value = last_event_id.strip()
    if not value:
        return 0
    if not value.isdigit() or not value.isascii() or int(value) > _MAX_SEQ:
        raise BadRequest(
            "Last-Event-ID is not an event number of this stream",
            fix="send the `id` of the last event received, or no Last-Event-ID to start from the beginning",
        )
    return int(value)


# Each event of the stream (OpenAPI 3.2 `itemSchema`): `data` is a JobEvent as JSON.
_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The job's events, as Server-Sent Events, until the job ends",
        "content": {
            "text/event-stream": {
                "itemSchema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "event": {"type": "string", "enum": ["state", "progress", "log"]},
                        "id": {"type": "string", "pattern": "^[0-9]+$"},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": "#/components/schemas/JobEvent"},
                        },
                        "retry": {"type": "integer", "minimum": 0},
                    },
                }
            }
        },
    },
}


def events_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get(
        "/jobs/{job_id}/events",
        response_class=EventSourceResponse,
        tags=["jobs"],
        responses={**_EVENT_STREAM, **problem_responses(400, 401, 403, 404, 422, 429)},
    )
    async def job_events(
        job_id: Annotated[str, Depends(visible_job)],
        platform: PlatformDep,
        seq: Annotated[int, Depends(resume_point)],
    ) -> AsyncIterator[ServerSentEvent]:
        """Stream a job's events; reconnect with Last-Event-ID to resume."""
        poll = platform.settings.job_events_poll_seconds  # events of other replicas arrive this often
        with platform.signals.listen(job_id) as listener:
            while True:
                listener.clear()  # before reading: a wake-up from here on is kept for wait()
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
                    await listener.wait(poll)

    return router
