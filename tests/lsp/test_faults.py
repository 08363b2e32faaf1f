"""Faults: the platform dying under a running job, no token, the other entry point."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import RunningPlatform
from tests.lsp import conftest as lsp_conftest
from tests.lsp.conftest import run, start_client, stop_client, wait_until

REQUEST_FAILED = -32803


@pytest.mark.slow
async def test_platform_dying_under_a_job_ends_the_progress_with_the_reason(
    platform_factory: Callable[..., RunningPlatform], tmp_path: Path
) -> None:
    platform = platform_factory()
    folder = tmp_path / "ws"
    folder.mkdir()
    client = await start_client(platform.env, folder)
    try:
        content = "".join(f"BULK_{i}=value-{i}\n" for i in range(200_000))
        task = asyncio.ensure_future(run(client, "codeforge.env.import", {"content": content}))

        def reporting() -> bool:
            return task.done() or any(
                isinstance(r, types.WorkDoneProgressReport)
                for reports in client.progress_reports.values()
                for r in reports
            )

        await wait_until(reporting)
        assert not task.done()
        platform.kill()
        with pytest.raises(JsonRpcException) as info:
            await task
    finally:
        await stop_client(client)
    assert info.value.code == REQUEST_FAILED
    assert "cannot reach the platform" in info.value.message and "codeforge up" in info.value.message
    [reports] = list(client.progress_reports.values())
    end = reports[-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message is not None
    assert end.message.startswith("stopped following the job")


async def test_no_token_says_how_to_get_one(live_platform: RunningPlatform, tmp_path: Path) -> None:
    config = tmp_path / "empty-config"
    config.mkdir()
    (config / "credentials.json").write_text(json.dumps({"url": live_platform.url}))
    folder = tmp_path / "ws"
    folder.mkdir()
    client = await start_client({**live_platform.env, "CODEFORGE_CONFIG_DIR": str(config)}, folder, {"project": "demo"})
    try:
        with pytest.raises(JsonRpcException) as info:
            await run(client, "codeforge.env.list", {})
    finally:
        await stop_client(client)
    assert info.value.code == REQUEST_FAILED
    assert "no API token" in info.value.message and "CODEFORGE_TOKEN" in info.value.message


async def test_python_m_codeforge_lsp_serves_too(
    live_platform: RunningPlatform, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lsp_conftest, "SERVER", [sys.executable, "-m", "codeforge.lsp"])
    client: LanguageClient = await start_client(live_platform.env, workspace)
    try:
        listed = await run(client, "codeforge.env.list", {})
    finally:
        await stop_client(client)
    assert isinstance(listed["items"], list)
    await wait_until(lambda: bool(client.messages))
