"""A long-running operation's job, followed to its end as cancellable work-done progress.

The job's Server-Sent Events become `$/progress` reports (percentage and message) and its
log lines `window/logMessage`; the editor's cancel button (`window/workDoneProgress/cancel`)
cancels the job on the platform, and the command answers when the job has ended.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

from lsprotocol import types
from pydantic import BaseModel
from pygls.exceptions import JsonRpcException

from codeforge.catalog import JobRef, Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import TERMINAL, Job, JobState
from codeforge.lsp.errors import REQUEST_CANCELLED, REQUEST_FAILED
from codeforge.lsp.session import CodeForgeSession

__all__ = ["WorkProgress", "call_operation", "cancel_job_for_token", "follow_job", "work_progress"]

log = logging.getLogger(__name__)


class WorkProgress:
    """Work-done progress (a job's, or a code action's of several steps); silent where the
    client does not support it."""

    def __init__(self, ls: CodeForgeSession, token: str, *, cancellable: bool = True) -> None:
        self.ls = ls
        self.token = token
        self.cancellable = cancellable
        window = ls.client_capabilities.window
        self.enabled = bool(window and window.work_done_progress)
        self.percentage = 0

    async def begin(self, title: str, message: str) -> None:
        if not self.enabled:
            return
        try:
            await self.ls.work_done_progress.create_async(self.token)
        except JsonRpcException as exc:
            # The client refused the token: run without a progress bar.
            log.warning("client refused progress token %s: %s", self.token, exc)
            self.enabled = False
            return
        self.ls.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=title, cancellable=self.cancellable, message=message, percentage=0),
        )

    def report(self, fraction: float | None, message: str) -> None:
        if not self.enabled:
            return
        if fraction is not None:
            # LSP wants whole, non-decreasing percentages.
            self.percentage = max(self.percentage, min(100, max(0, round(fraction * 100))))
        self.ls.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=message or None, percentage=self.percentage)
        )

    def end(self, message: str) -> None:
        if not self.enabled:
            return
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        # pygls keeps a future per token forever; this token is done.
        self.ls.work_done_progress.tokens.pop(self.token, None)


async def follow_job(ls: CodeForgeSession, op: Operation[Any, Any], ref: JobRef) -> dict[str, Any]:
    """Follow the job to its end; its result, or a CodeForgeError/JsonRpcException."""
    token = f"codeforge/job/{ref.job_id}"
    progress = WorkProgress(ls, token)
    ls.job_tokens[token] = ref.job_id
    _cancel_with_request(ls, token)
    try:
        await progress.begin(op.title, f"job {ref.job_id} {ref.state}")
        async for event in ls.platform.events(ref.job_id):
            if event.kind == "log":
                ls.window_log_message(
                    types.LogMessageParams(type=types.MessageType.Info, message=f"[{op.name}] {event.message}")
                )
            elif event.kind == "progress":
                progress.report(event.progress, event.message)
            elif event.state is not None and event.state not in TERMINAL:
                progress.report(event.progress, event.message or event.state.value)
            if event.state in TERMINAL:
                break
        job = await ls.platform.job(ref.job_id)
    except CodeForgeError as exc:
        progress.end(f"stopped following the job: {exc.detail}")
        raise
    finally:
        ls.job_tokens.pop(token, None)
    progress.end(_end_message(job))
    return _outcome(op, job)


@asynccontextmanager
async def work_progress(ls: CodeForgeSession, title: str, message: str = "") -> AsyncIterator[WorkProgress]:
    """`$/progress` around work of several steps (a code action that provisions databases):
    begun before, ended after ("done", or why it failed). Jobs it starts show their own."""
    progress = WorkProgress(ls, f"codeforge/work/{uuid.uuid4().hex[:12]}", cancellable=False)
    await progress.begin(title, message)
    try:
        yield progress
    except CodeForgeError as exc:
        progress.end(f"failed: {exc.detail}")
        raise
    except BaseException:
        progress.end("failed")
        raise
    progress.end("done")


async def call_operation(ls: CodeForgeSession, op: Operation[Any, Any], data: BaseModel | dict[str, Any]) -> Any:
    """One operation's output as JSON; a job is followed to its end with `$/progress`."""
    out = await ls.platform.call(op, data)
    if isinstance(out, JobRef):
        return await follow_job(ls, op, out)
    return out.model_dump(mode="json")


def _end_message(job: Job) -> str:
    if job.state == JobState.SUCCEEDED:
        return job.message or "done"
    if job.state == JobState.CANCELLED:
        return "cancelled"
    return f"failed: {job.error or job.message}"


def _outcome(op: Operation[Any, Any], job: Job) -> dict[str, Any]:
    data = {"job_id": job.id, "state": job.state.value}
    if job.state == JobState.SUCCEEDED:
        return dict(job.result or {})
    if job.state == JobState.CANCELLED:
        raise JsonRpcException(message=f"{op.title}: cancelled (job {job.id})", code=REQUEST_CANCELLED, data=data)
    if job.state == JobState.FAILED:
        raise JsonRpcException(
            message=f"{op.title} failed: {job.error or job.message or 'no reason given'} (job {job.id})",
            code=REQUEST_FAILED,
            data=data,
        )
    # The event stream ended while the job still runs: the platform went away mid-job.
    raise JsonRpcException(
        message=f"{op.title}: lost track of job {job.id} while it was {job.state.value}; "
        f"Fix: check it with `codeforge jobs get {job.id}`",
        code=REQUEST_FAILED,
        data=data,
    )


def _cancel_with_request(ls: CodeForgeSession, token: str) -> None:
    """A client may cancel the command's request itself (`$/cancelRequest`) rather than its
    progress: pygls then answers RequestCancelled, and the job must stop too.

    pygls keeps the request's future by message id; the id is in this task's context."""
    futures: dict[Any, Future[Any]] = getattr(ls.protocol, "_request_futures", {})
    request = futures.get(ls.protocol.msg_id) if ls.protocol.msg_id is not None else None
    if request is None:
        return

    def on_done(future: Future[Any]) -> None:
        if future.cancelled() and token in ls.job_tokens:
            ls.spawn(cancel_job_for_token(ls, token))

    request.add_done_callback(on_done)


async def cancel_job_for_token(ls: CodeForgeSession, token: str | int) -> None:
    """The editor's cancel: cancel the job behind this progress token on the platform."""
    job_id = ls.job_tokens.get(str(token))
    if job_id is None:
        return
    try:
        await ls.platform.cancel(job_id)
    except CodeForgeError as exc:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error, message=f"Could not cancel job {job_id}: {exc.message}"
            )
        )
        return
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=f"cancelling job {job_id}"))
