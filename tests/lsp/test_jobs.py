"""Long-running operations: job events as cancellable work-done progress."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.conftest import run, shown, wait_until

REQUEST_CANCELLED = -32800
REQUEST_FAILED = -32803


def _job_tokens(client: LanguageClient) -> list[str]:
    return [str(t) for t in client.progress_reports if str(t).startswith("codeforge/job/")]


async def test_a_job_is_followed_to_its_end(lsp: LanguageClient) -> None:
    content = "# a comment\nALPHA=1\nBETA=two\n\nGAMMA='three four'\n"
    result = await run(lsp, "codeforge.env.import", {"content": content})
    assert result["imported"] == 3 and sorted(result["names"]) == ["ALPHA", "BETA", "GAMMA"]

    [token] = _job_tokens(lsp)
    reports = lsp.progress_reports[token]
    begin, *middle, end = reports
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.cancellable is True and begin.title == "Import variables from a .env file"
    assert isinstance(end, types.WorkDoneProgressEnd)
    percentages = [
        r.percentage for r in middle if isinstance(r, types.WorkDoneProgressReport) and r.percentage is not None
    ]
    assert percentages == sorted(percentages)
    assert any("writing 3 variable(s)" in m.message for m in lsp.log_messages)
    await shown(lsp, lambda m: m.startswith("Import variables from a .env file: done (imported 3"))

    listed = await run(lsp, "codeforge.env.list", {})
    assert {"ALPHA", "BETA", "GAMMA"} <= {i["name"] for i in listed["items"]}


async def test_cancelling_the_progress_cancels_the_job(lsp: LanguageClient) -> None:
    # Big enough to still be running when its first progress report arrives.
    content = "".join(f"BULK_{i}=value-{i}\n" for i in range(200_000))
    task = asyncio.ensure_future(run(lsp, "codeforge.env.import", {"content": content}))

    def first_report() -> bool:
        return (
            any(isinstance(r, types.WorkDoneProgressReport) for t in _job_tokens(lsp) for r in lsp.progress_reports[t])
            or task.done()
        )

    await wait_until(first_report)
    assert not task.done(), "the import finished before it could be cancelled"
    [token] = _job_tokens(lsp)
    lsp.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))

    with pytest.raises(JsonRpcException) as info:
        await task
    assert info.value.code == REQUEST_CANCELLED
    assert "cancelled" in info.value.message
    end = lsp.progress_reports[token][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "cancelled"

    job_id = token.removeprefix("codeforge/job/")
    job = await run(lsp, "codeforge.jobs.get", {"id": job_id})
    assert job["state"] == "cancelled"
    listed = await run(lsp, "codeforge.env.list", {})
    assert not any(i["name"].startswith("BULK_") for i in listed["items"])


async def test_a_failed_job_is_an_error(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcException) as info:
        await run(lsp, "codeforge.env.import", {"content": "GOOD=1\n9BAD=2\n"})
    assert info.value.code == REQUEST_FAILED
    assert "Import variables from a .env file failed" in info.value.message and "line 2" in info.value.message


async def test_cancelling_the_request_cancels_the_job(lsp: LanguageClient) -> None:
    content = "".join(f"REQ_{i}=value-{i}\n" for i in range(200_000))
    params = types.ExecuteCommandParams(command="codeforge.env.import", arguments=[{"content": content}])
    task = asyncio.ensure_future(
        lsp.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="bulk-import")
    )
    await wait_until(lambda: bool(_job_tokens(lsp)) and len(lsp.progress_reports[_job_tokens(lsp)[0]]) > 0)
    [token] = _job_tokens(lsp)
    lsp.cancel_request(types.CancelParams(id="bulk-import"))
    with pytest.raises(JsonRpcException) as info:
        await task
    assert info.value.code == REQUEST_CANCELLED

    job_id = token.removeprefix("codeforge/job/")

    async def state() -> str:
        return str((await run(lsp, "codeforge.jobs.get", {"id": job_id}))["state"])

    while (current := await state()) in ("queued", "running"):
        await asyncio.sleep(0.05)
    assert current == "cancelled"
