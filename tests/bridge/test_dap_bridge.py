"""Debugging through a real `codeforge bridge` and a real `codeforge connect --dap` process,
as nvim-dap, LSP4IJ and VS Code run it: Content-Length framed DAP on the relay's stdio.
The debug session is listed by `bridges.list` and stopped by `bridges.close`.

Waits are hang guards, never timed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest

from codeforge.bridge.connect import ConnectOptions, UsageError, _mode
from tests.bridge.conftest import BridgeProcess
from tests.bridge.dap_client import GUARD_S, DapTestClient
from tests.conftest import ROOT, RunningPlatform

PROGRAM = "def main():\n    answer = {'value': 41}\n    answer['value'] += 1\n    return answer\n\n\nmain()\n"


async def test_connect_dap_relays_a_debug_session_that_operations_list_and_close(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    (live_bridge.folder / "debugged.py").write_text(PROGRAM)
    local = tmp_path / "editor-copy"  # the editor's folder: another path than the workspace
    local.mkdir()
    stderr_path = tmp_path / "connect.err"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--dap", "--local-root", str(local),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=live_platform.env, cwd=ROOT,
        )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    client = DapTestClient.over_streams(process.stdout, process.stdin, "editor")
    try:
        await client.initialize()
        started, bps = await client.start(
            "launch", {"program": f"{local}/debugged.py"}, {f"{local}/debugged.py": [{"line": 3}]}
        )
        assert bps[f"{local}/debugged.py"][0]["verified"]
        assert (await started)["success"]
        stop = await client.event("stopped")
        frame = await client.top_frame(stop["threadId"])
        assert frame["source"]["path"] == f"{local}/debugged.py" and frame["line"] == 3
        answer = (await client.locals(frame["id"]))["answer"]
        inner = await client.ok("variables", {"variablesReference": answer["variablesReference"]})
        assert any(v["name"] == "'value'" and v["value"] == "41" for v in inner["variables"])
        said = stderr_path.read_text()
        debug_id = said.split("debug session ", 1)[1].split(":", 1)[0]

        # An operator sees the debug session and stops it; the editor is told.
        platform = live_platform.client()
        project = live_platform.project
        async with asyncio.timeout(GUARD_S):
            while True:
                listed = await asyncio.to_thread(platform.call, "bridges.list", {"project": project})
                if any(r.id == debug_id for s in listed.items for r in s.debug):
                    break
                await asyncio.sleep(0.2)
        closed = await asyncio.to_thread(
            platform.call, "bridges.close", {"project": project, "kind": "debug", "id": debug_id}
        )
        assert closed.requested
        await client.event("output", lambda b: "debug session was stopped" in b.get("output", ""))
        await client.event("terminated")
        async with asyncio.timeout(GUARD_S):
            assert await process.wait() == 0
    finally:
        await client.close()
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), 10)


async def test_joining_an_unknown_debug_session_through_connect_is_answered_with_the_reason(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--dap", "--join", "nope",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=live_platform.env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    client = DapTestClient.over_streams(process.stdout, process.stdin, "editor")
    try:
        answer = await client.request("initialize", {"adapterID": "codeforge"})
        assert answer["success"] is False and "no debug session 'nope'" in answer["message"]
    finally:
        await client.close()
        process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)


def test_connect_dap_usage_errors() -> None:
    with pytest.raises(UsageError, match="--join and --local-root go with --dap"):
        _mode(ConnectOptions(url="ws://h:1", join="abc"))
    with pytest.raises(UsageError, match="choose one of"):
        _mode(ConnectOptions(url="ws://h:1", dap=True, ssh=True))
    with pytest.raises(UsageError, match="--lsp relays a language server"):
        _mode(ConnectOptions(url="ws://h:1", dap=True, lsp="python"))
    assert _mode(ConnectOptions(url="ws://h:1", dap=True, join="abc")) == "dap"
