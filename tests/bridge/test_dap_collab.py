"""Collaborative debugging and faults on channel `dap`: several real DAP clients on one
debugpy session through in-process links; a crashing debuggee; a killed adapter.

Waits are hang guards (tests/bridge/dap_client.py), never timed assertions.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from codeforge.bridge import dap
from codeforge.bridge.sessions import Identity
from tests.bridge import channel_harness
from tests.bridge.channel_harness import ChannelBridge, until
from tests.bridge.dap_client import DapTestClient
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")
channel_harness.SERVES.setdefault("dap", dap.serve)

ANA, BEN = "/home/ana/proj", "/Users/ben/work/proj"  # two editors, two local folders
PROGRAM = """\
def compute(items):
    total = 0
    for x in items:
        total += x
    return total


print("sum", compute([1, 2, 3, 4]))
"""
CRASH = """\
def fail(reason):
    raise ValueError(reason)


try:
    fail("caught")
except ValueError:
    pass
fail("boom")
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelBridge]:
    workspace = tmp_path_factory.mktemp("dapc") / "workspace"
    workspace.mkdir()
    (workspace / "prog.py").write_text(PROGRAM)
    (workspace / "crash.py").write_text(CRASH)
    b = ChannelBridge(workspace.resolve(), f"http://127.0.0.1:{free_port()}")
    yield b
    await b.stop()


async def _client(bridge: ChannelBridge, root: str, name: str, user: str = "ana", **params: str) -> DapTestClient:
    session = bridge.session(Identity(user, "developer", "acme"))
    link = await bridge.dial(session, "dap", {"local_root": root, **params})
    return DapTestClient.over_link(link, name)


async def _join(bridge: ChannelBridge, debug_id: str, root: str, name: str) -> DapTestClient:
    client = await _client(bridge, root, name, "ben", join=debug_id)
    await client.initialize()
    started, _ = await client.start("attach", {})
    assert (await started)["success"]
    return client


async def test_two_editors_share_stops_variables_steps_and_breakpoints(bridge: ChannelBridge) -> None:
    ana = await _client(bridge, ANA, "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    started, _ = await ana.start(
        "launch", {"program": f"{ANA}/prog.py"},
        {f"{ANA}/prog.py": [{"line": 4, "hitCondition": "3"}, {"line": 3, "logMessage": "at x={x}"}]},
    )  # fmt: skip
    assert (await started)["success"]
    stop = await ana.event("stopped", lambda b: b["reason"] == "breakpoint")
    assert "at x=1" in (await ana.event("output", lambda b: "at x=" in b.get("output", "")))["output"]  # logpoint

    # Ben joins late: he is told where the program stands and which breakpoints exist.
    ben = await _join(bridge, debug_id, BEN, "ben")
    late = await ben.event("stopped")
    assert late["threadId"] == stop["threadId"]
    shared = await ben.event("breakpoint", lambda b: b["breakpoint"].get("line") == 4)
    assert shared["breakpoint"]["source"]["path"] == f"{BEN}/prog.py"  # in his own folder
    frame_a, frame_b = await ana.top_frame(stop["threadId"]), await ben.top_frame(stop["threadId"])
    assert frame_a["source"]["path"] == f"{ANA}/prog.py" and frame_b["source"]["path"] == f"{BEN}/prog.py"
    seen_a, seen_b = await ana.locals(frame_a["id"]), await ben.locals(frame_b["id"])
    assert seen_a["x"]["value"] == seen_b["x"]["value"] == "3"  # the third hit

    # Ben steps; both editors see the program move and stop again.
    await ben.ok("next", {"threadId": stop["threadId"]})
    for client in (ana, ben):
        await client.event("stopped", lambda b: b["reason"] == "step")
    # Ana clears her breakpoints; Ben's own joins the set, and Ana is told of it.
    cleared = await ana.ok("setBreakpoints", {"source": {"path": f"{ANA}/prog.py"}, "breakpoints": []})
    assert cleared["breakpoints"] == []
    mine = await ben.ok("setBreakpoints", {"source": {"path": f"{BEN}/prog.py"}, "breakpoints": [{"line": 4}]})
    assert [bp["line"] for bp in mine["breakpoints"]] == [4]
    await ana.event("breakpoint", lambda b: b["reason"] == "new" and b["breakpoint"].get("line") == 4)
    await ana.ok("continue", {"threadId": stop["threadId"]})
    for client in (ana, ben):
        stopped = await client.event("stopped", lambda b: b["reason"] == "breakpoint")
    frame = await ana.top_frame(stopped["threadId"])
    assert frame["line"] == 4 and (await ana.locals(frame["id"]))["x"]["value"] == "4"  # Ben's breakpoint

    # Ben leaves in the middle of a step: Ana carries on alone to the end.
    await ben.send_raw({"type": "request", "command": "next", "arguments": {"threadId": stop["threadId"]}})
    await ben.send_raw({"type": "request", "command": "disconnect", "arguments": {}})
    await ana.event("stopped", lambda b: b["reason"] == "step")
    await ana.ok("continue", {"threadId": stop["threadId"]})
    assert (await ana.event("exited"))["exitCode"] == 0
    printed = "".join(e["body"].get("output", "") for e in ana.events if e.get("event") == "output")
    assert "sum 10" in printed
    await ana.event("terminated")
    await ana.ok("disconnect", {})
    await until(lambda: debug_id not in bridge.shared["debug_sessions"].by_id, "the session ends with its last client")
    await ana.close()
    await ben.close()


async def test_a_crashing_debuggee_reaches_every_client(bridge: ChannelBridge) -> None:
    ana = await _client(bridge, ANA, "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    launched, _ = await ana.start("launch", {"program": f"{ANA}/crash.py"})
    assert (await launched)["success"]
    ben = await _join(bridge, debug_id, BEN, "ben")
    await ben.ok("setExceptionBreakpoints", {"filters": ["uncaught"]})
    stop = await ana.event("stopped", lambda b: b["reason"] == "exception")
    await ben.event("stopped", lambda b: b["reason"] == "exception")
    info = await ben.ok("exceptionInfo", {"threadId": stop["threadId"]})
    assert "boom" in info["description"]
    await ana.ok("continue", {"threadId": stop["threadId"]})
    for client in (ana, ben):
        assert (await client.event("exited"))["exitCode"] == 1
        await client.event("terminated")
    for client in (ben, ana):
        await client.request("disconnect", {})
        await client.close()
    await until(lambda: debug_id not in bridge.shared["debug_sessions"].by_id, "the session ends")


async def test_a_dead_adapter_tells_every_client_and_ends_the_session(bridge: ChannelBridge) -> None:
    ana = await _client(bridge, ANA, "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    launched, _ = await ana.start("launch", {"program": f"{ANA}/prog.py"}, {f"{ANA}/prog.py": [{"line": 4}]})
    assert (await launched)["success"]
    await ana.event("stopped")
    ben = await _join(bridge, debug_id, BEN, "ben")
    session = bridge.shared["debug_sessions"].by_id[debug_id]
    assert session.adapter is not None and session.adapter.process is not None
    os.killpg(session.adapter.process.pid, signal.SIGKILL)
    for client in (ana, ben):
        said = await client.event("output", lambda b: "debug adapter stopped" in b.get("output", ""))
        assert said["category"] == "important"
        await client.event("terminated")
    await until(lambda: debug_id not in bridge.shared["debug_sessions"].by_id, "the session ends")
    await until(lambda: ana.closed and ben.closed, "the clients' links end")
    # The bridge carries on: a new session works.
    again = await _client(bridge, ANA, "again")
    assert (await again.initialize())["supportsConfigurationDoneRequest"]
    await again.request("disconnect", {})
    await again.close()
    await asyncio.sleep(0)


async def test_steps_in_and_out_move_both_the_resource_moves_and_a_participant_terminates(
    bridge: ChannelBridge,
) -> None:
    ana_session = bridge.session(Identity("ana", "developer", "acme"))
    ben_session = bridge.session(Identity("ben", "developer", "acme"))
    ana = DapTestClient.over_link(await bridge.dial(ana_session, "dap", {"local_root": ANA}), "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    started, _ = await ana.start("launch", {"program": f"{ANA}/prog.py"}, {f"{ANA}/prog.py": [{"line": 8}]})
    assert (await started)["success"]
    stop = await ana.event("stopped")
    ben = DapTestClient.over_link(await bridge.dial(ben_session, "dap", {"local_root": BEN, "join": debug_id}), "ben")
    await ben.initialize()
    joined, _ = await ben.start("attach", {})
    assert (await joined)["success"]
    await ben.event("stopped")

    await ben.ok("stepIn", {"threadId": stop["threadId"]})
    for client in (ana, ben):
        await client.event("stopped", lambda b: b["reason"] == "step")
    inside = await ana.top_frame(stop["threadId"])
    assert inside["name"] == "compute" and inside["line"] == 2
    await ana.ok("stepOut", {"threadId": stop["threadId"]})
    for client in (ana, ben):
        await client.event("stopped", lambda b: b["reason"] == "step")
    assert (await ben.top_frame(stop["threadId"]))["source"]["path"] == f"{BEN}/prog.py"

    # The session is Ana's resource; when she leaves, Ben's session holds it.
    assert ("debug", debug_id) in ana_session.resources
    await ana.ok("disconnect", {})
    await until(lambda: ("debug", debug_id) in ben_session.resources, "the resource moves to Ben's session")
    assert ("debug", debug_id) not in ana_session.resources
    # Ben ends the program for everyone left.
    await ben.ok("terminate", {})
    await ben.event("terminated")
    await ben.request("disconnect", {})
    await until(lambda: debug_id not in bridge.shared["debug_sessions"].by_id, "the session ends")
    await until(lambda: ("debug", debug_id) not in ben_session.resources, "and is no longer listed")
    await ana.close()
    await ben.close()


async def test_links_that_end_without_disconnect_leave_and_the_last_ends_the_debuggee(bridge: ChannelBridge) -> None:
    ana = await _client(bridge, ANA, "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    started, _ = await ana.start("launch", {"program": f"{ANA}/prog.py"}, {f"{ANA}/prog.py": [{"line": 4}]})
    assert (await started)["success"]
    stop = await ana.event("stopped")
    ben = await _join(bridge, debug_id, BEN, "ben")
    await ben.event("stopped")
    await ben.send_raw({"type": "request", "command": "next", "arguments": {"threadId": stop["threadId"]}})
    await ben.link.close("the editor was killed")  # type: ignore[attr-defined]
    await ana.event("stopped", lambda b: b["reason"] == "step")  # Ana carries on
    session = bridge.shared["debug_sessions"].by_id[debug_id]
    await until(lambda: len(session.clients) == 1, "Ben's client is gone")
    threads = await ana.ok("threads")
    assert [t["id"] for t in threads["threads"]] == [stop["threadId"]]
    await ana.link.close("the editor was killed")  # type: ignore[attr-defined]
    await asyncio.wait_for(session.wait_ended(), 30)  # hang guard: the last link's end ends the session
    assert session.adapter is not None and session.adapter.exited
    await ana.close()
    await ben.close()


async def test_the_holders_bridge_session_ending_leaves_the_others_debugging(bridge: ChannelBridge) -> None:
    ana_session = bridge.session(Identity("ana", "developer", "acme"))
    ben_session = bridge.session(Identity("ben", "developer", "acme"))
    ana = DapTestClient.over_link(await bridge.dial(ana_session, "dap", {"local_root": ANA}), "ana")
    await ana.initialize()
    debug_id = (await ana.event(dap.SESSION_EVENT))["id"]
    started, _ = await ana.start("launch", {"program": f"{ANA}/prog.py"}, {f"{ANA}/prog.py": [{"line": 4}]})
    assert (await started)["success"]
    stop = await ana.event("stopped")
    ben = DapTestClient.over_link(await bridge.dial(ben_session, "dap", {"local_root": BEN, "join": debug_id}), "ben")
    await ben.initialize()
    joined, _ = await ben.start("attach", {})
    assert (await joined)["success"]
    await ben.event("stopped")
    await bridge.sessions.end(ana_session, "grace period over")  # Ana's laptop never came back
    assert ("debug", debug_id) in ben_session.resources
    await ben.ok("next", {"threadId": stop["threadId"]})
    await ben.event("stopped", lambda b: b["reason"] == "step")
    # An operation closing it (Ben's session is alive) stops it for everyone.
    await bridge.sessions.close_resource(ben_session, "debug", debug_id)
    await ben.event("terminated")
    assert debug_id not in bridge.shared["debug_sessions"].by_id
    await ana.close()
    await ben.close()
