"""Channel `dap`: real debugpy behind the proxy, driven by a real DAP client through
in-process links, from an editor whose folder is not the workspace's path.

Waits are hang guards (tests/bridge/dap_client.py), never timed assertions.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from codeforge.bridge import dap
from codeforge.bridge.sessions import Session
from tests.bridge import channel_harness
from tests.bridge.channel_harness import ChannelBridge, until
from tests.bridge.dap_client import DapTestClient
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")
channel_harness.SERVES.setdefault("dap", dap.serve)

EDITOR = "/home/editor/project"  # the editor's folder: not the workspace's path
PROGRAM = """\
def compute(items):
    total = 0
    data = {"items": items, "nested": {"depth": 2}}
    for x in items:
        total += x
    return total


result = compute([1, 2, 3])
print("result", result)
"""
LOOP_LINE = 5


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelBridge]:
    workspace = tmp_path_factory.mktemp("dap") / "workspace"
    workspace.mkdir()
    (workspace / "prog.py").write_text(PROGRAM)
    b = ChannelBridge(workspace.resolve(), f"http://127.0.0.1:{free_port()}")
    yield b
    await b.stop()
    # Every debug session ended with the bridge, its adapter stopped before that returned.
    assert not b.shared["debug_sessions"].by_id


async def _client(
    bridge: ChannelBridge, session: Session | None = None, name: str = "a", **params: str
) -> DapTestClient:
    params.setdefault("local_root", EDITOR)
    link = await bridge.dial(session or bridge.session(), "dap", params)
    client = DapTestClient.over_link(link, name)
    return client


def _launch(**extra: Any) -> dict[str, Any]:
    return {"program": f"{EDITOR}/prog.py", "justMyCode": True, **extra}


async def _stopped_at(client: DapTestClient, reason: str) -> tuple[int, dict[str, Any]]:
    stop = await client.event("stopped", lambda b: b.get("reason") == reason)
    frame = await client.top_frame(stop["threadId"])
    return stop["threadId"], frame


async def test_launch_stop_read_nested_evaluate_step_and_run_to_the_end(bridge: ChannelBridge) -> None:
    client = await _client(bridge)
    caps = await client.initialize()
    assert caps["supportsConditionalBreakpoints"] is True
    announced = await client.event(dap.SESSION_EVENT)
    started, bps = await client.start(
        "launch", _launch(), {f"{EDITOR}/prog.py": [{"line": LOOP_LINE, "condition": "x == 2"}]}
    )
    assert bps[f"{EDITOR}/prog.py"][0]["verified"] is True
    assert (await asyncio.wait_for(started, 30))["success"]

    thread, frame = await _stopped_at(client, "breakpoint")
    assert frame["line"] == LOOP_LINE and frame["source"]["path"] == f"{EDITOR}/prog.py"  # mapped back
    variables = await client.locals(frame["id"])
    assert variables["x"]["value"] == "2" and variables["total"]["value"] == "1"  # the condition held
    data = (await client.ok("variables", {"variablesReference": variables["data"]["variablesReference"]}))["variables"]
    nested = next(v for v in data if v["name"] == "'nested'")
    inner = (await client.ok("variables", {"variablesReference": nested["variablesReference"]}))["variables"]
    assert any(v["name"] == "'depth'" and v["value"] == "2" for v in inner)
    evaluated = await client.ok(
        "evaluate", {"expression": "total * 100 + x", "frameId": frame["id"], "context": "repl"}
    )
    assert evaluated["result"] == "102"
    changed = await client.ok(
        "setVariable",
        {
            "variablesReference": (await client.ok("scopes", {"frameId": frame["id"]}))["scopes"][0][
                "variablesReference"
            ],
            "name": "total",
            "value": "40",
        },
    )
    assert changed["value"] == "40"

    await client.ok("next", {"threadId": thread})
    _, frame = await _stopped_at(client, "step")
    assert frame["line"] == LOOP_LINE - 1  # back to the loop's head
    listing = json.loads(await _list(bridge))
    assert [s["id"] for s in listing["sessions"]] == [announced["id"]]
    assert listing["sessions"][0]["state"] == "stopped"

    await client.ok("continue", {"threadId": thread})
    assert (await client.event("exited"))["exitCode"] == 0
    printed = "".join(e["body"].get("output", "") for e in client.events if e.get("event") == "output")
    assert "result 45" in printed  # 40 + 2 + 3: the changed variable was used
    await client.event("terminated")
    await client.ok("disconnect", {})
    await until(lambda: not bridge.shared["debug_sessions"].by_id, "the debug session ends with its debuggee")
    await client.close()


async def _list(bridge: ChannelBridge) -> str:
    link = await bridge.dial(bridge.session(), "dap", {"list": "1"})
    text = await link.receive()
    assert isinstance(text, str)
    return text


async def test_attach_to_a_running_debugpy_listener(bridge: ChannelBridge, tmp_path: Path) -> None:
    port = free_port()
    script = bridge.workspace / "server.py"
    script.write_text(
        "import time\n"
        "print('ready', flush=True)\n"
        "def tick(n):\n"
        "    value = {'n': n}\n"
        "    return value\n"
        "for i in range(100000):\n"
        "    tick(i)\n"
        "    time.sleep(0.05)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "debugpy", "--listen", f"127.0.0.1:{port}", str(script)],
        cwd=bridge.workspace, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = await _client(bridge)
        await client.initialize()
        assert process.stdout is not None
        assert b"ready" in await asyncio.to_thread(process.stdout.readline)  # debugpy listens before the script runs
        started, _bps = await client.start(
            "attach", {"connect": {"host": "127.0.0.1", "port": port}},
            {f"{EDITOR}/server.py": [{"line": 5}]},
        )  # fmt: skip
        assert (await asyncio.wait_for(started, 30))["success"]
        thread, frame = await _stopped_at(client, "breakpoint")
        assert frame["source"]["path"] == f"{EDITOR}/server.py" and frame["line"] == 5
        assert "'n'" in (await client.locals(frame["id"]))["value"]["value"]
        # Pause a running program, then leave: the last client leaving an attach detaches.
        await client.ok("setBreakpoints", {"source": {"path": f"{EDITOR}/server.py"}, "breakpoints": []})
        await client.ok("continue", {"threadId": thread})
        await client.ok("pause", {"threadId": thread})
        await client.event("stopped", lambda b: b.get("reason") == "pause")
        await client.ok("disconnect", {})
        await until(lambda: not bridge.shared["debug_sessions"].by_id, "the debug session ends")
        assert process.poll() is None
        await client.close()
    finally:
        process.kill()
        process.wait(10)


async def test_paths_outside_the_workspace_and_bad_messages_get_dap_errors(bridge: ChannelBridge) -> None:
    client = await _client(bridge)
    await client.initialize()
    for outside in ("/etc/passwd", f"{EDITOR}/../../etc/passwd", "../outside.py"):
        answer = await client.request("setBreakpoints", {"source": {"path": outside}, "breakpoints": [{"line": 1}]})
        assert not answer["success"], outside
        assert "outside the workspace" in answer["message"] or "leaves the workspace" in answer["message"]
    answer = await client.request("launch", _launch(program="/etc/passwd"))
    assert not answer["success"] and "/etc/passwd" in answer["message"]
    answer = await client.request("noSuchCommand", {})
    assert not answer["success"]
    await client._send({"not": "dap"})  # type: ignore[arg-type]
    bad = await until_response(client, lambda m: "integer `seq`" in m.get("message", ""))
    assert bad["success"] is False
    link = client.link  # type: ignore[attr-defined]
    await link.send("{not json")
    await until_response(client, lambda m: "not JSON" in m.get("message", ""))
    await client.request("arguments", None)
    answer = await client.request("threads", [1, 2])  # type: ignore[arg-type]
    assert not answer["success"] and "must be an object" in answer["message"]
    # The proxy still relays after all that (debugpy answers: nothing is being debugged yet).
    answer = await client.request("threads")
    assert answer["command"] == "threads" and "Server is not available" in answer["message"]
    await client.ok("disconnect", {})
    await client.close()


async def until_response(client: DapTestClient, check: Any) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [m for m in client.received if m.get("type") == "response" and check(m)]
        return bool(found)

    await until(seen, "a matching response")
    return found[0]


async def test_joining_an_unknown_session_is_refused(bridge: ChannelBridge) -> None:
    client = await _client(bridge, join="nope")
    answer = await client.request("initialize", {"adapterID": "debugpy"})
    assert not answer["success"] and "no debug session 'nope'" in answer["message"]
    await client.close()


async def test_launch_one_pytest_test_as_the_debug_lens_does(bridge: ChannelBridge) -> None:
    tests = bridge.workspace / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_math.py").write_text(
        "def test_sum():\n    numbers = [1, 2, 3]\n    assert sum(numbers) == 6\n\n\ndef test_other():\n    assert False\n"
    )
    client = await _client(bridge)
    await client.initialize()
    config = {
        "type": "codeforge", "request": "launch", "name": "Debug test_sum", "module": "pytest",
        "args": ["tests/test_math.py::test_sum", "-q", "-p", "no:cacheprovider"], "cwd": EDITOR, "justMyCode": False,
    }  # fmt: skip
    started, _ = await client.start("launch", config, {f"{EDITOR}/tests/test_math.py": [{"line": 3}]})
    assert (await started)["success"]
    thread, frame = await _stopped_at(client, "breakpoint")
    assert frame["source"]["path"] == f"{EDITOR}/tests/test_math.py"
    assert (await client.locals(frame["id"]))["numbers"]["value"] == "[1, 2, 3]"
    await client.ok("continue", {"threadId": thread})
    assert (await client.event("exited"))["exitCode"] == 0  # only test_sum ran (test_other would fail)
    await client.event("terminated")
    await client.ok("disconnect", {})
    await client.close()


async def test_requests_the_adapter_does_not_support_are_refused_and_do_not_block_control(
    bridge: ChannelBridge,
) -> None:
    client = await _client(bridge)
    caps = await client.initialize()
    assert not caps.get("supportsRestartRequest") and not caps.get("supportsStepBack")  # debugpy 1.8
    started, _ = await client.start("launch", _launch(), {f"{EDITOR}/prog.py": [{"line": LOOP_LINE}]})
    assert (await started)["success"]
    thread, _ = await _stopped_at(client, "breakpoint")
    for command in ("restart", "stepBack", "reverseContinue"):
        answer = await client.request(command, {"threadId": thread})
        assert not answer["success"] and "not supported by this debug adapter" in answer["message"]
    await client.ok("next", {"threadId": thread})  # control requests still flow
    await _stopped_at(client, "step")
    await client.ok("terminate", {})
    await client.event("terminated")
    await client.request("disconnect", {})
    await client.close()


def _injection_refused() -> str | None:
    """Why debugpy cannot inject itself into a process on this machine, or None. gdb attaching
    is not enough: some kernels (seen on a Firecracker 6.18 guest) refuse the call gdb makes
    inside the traced process (dlopen returns errno 514), which no package installs away."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        done = subprocess.run(
            [sys.executable, "-m", "debugpy", "--listen", "127.0.0.1:0", "--pid", str(sleeper.pid)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        sleeper.kill()
        sleeper.wait()
    if done.returncode == 0:
        return None
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith("OSError")] or lines[-1:] or [f"exit {done.returncode}"]
    return said[-1][:200]


async def test_attach_to_a_running_process_by_its_id(bridge: ChannelBridge) -> None:
    """debugpy injects itself into a plain Python process (gdb and ptrace, as root here)."""
    why = await asyncio.to_thread(_injection_refused)
    if why is not None and shutil.which("gdb"):
        pytest.skip(
            f"this kernel refuses debugpy's injection through gdb ({why}): attach by process id cannot work here"
        )
    script = bridge.workspace / "plain.py"
    script.write_text(
        "import time\n"
        "print('ready', flush=True)\n"
        "def tick(n):\n"
        "    value = {'n': n}\n"
        "    return value\n"
        "for i in range(100000):\n"
        "    tick(i)\n"
        "    time.sleep(0.05)\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=bridge.workspace, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        assert b"ready" in await asyncio.to_thread(process.stdout.readline)
        client = await _client(bridge)
        await client.initialize()
        started, _bps = await client.start("attach", {"processId": process.pid}, {f"{EDITOR}/plain.py": [{"line": 5}]})
        assert (await asyncio.wait_for(started, 60))["success"]
        _thread, frame = await _stopped_at(client, "breakpoint")
        assert frame["source"]["path"] == f"{EDITOR}/plain.py" and frame["line"] == 5
        await client.ok("disconnect", {})
        await client.close()
        assert process.poll() is None  # detached: the process goes on
    finally:
        process.kill()
