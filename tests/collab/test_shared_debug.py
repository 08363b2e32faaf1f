"""Shared debugging by collaboration role: the host's real debugpy session, joined by
participants through `dap?join=ID&collab=SESSION` links.

In process (the bridge's real session bookkeeping and the `Access` registry of a real
`RoomHub`): a navigator steps and sets breakpoints; a guest sees the stops, stack and
variables, and its steps, breakpoints and expressions are refused with an error response
naming the role; pair mode follows the hand-over; ending the session detaches the
participants (their editors get `terminated`) while the host carries on.

Through a real `codeforge bridge` and the live platform: the seat is admitted with
`collab.admit` (the participants joined with real invitations), and `collab.end` on the
platform ends the participants' debugging without anyone telling the bridge.

Waits are hang guards (tests/bridge/dap_client.py, `until`), never timed assertions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from codeforge.bridge import dap
from codeforge.bridge.sessions import Identity
from codeforge.client import PlatformClient
from codeforge.collab import Participant, RoomHub, SessionState
from tests.bridge import channel_harness
from tests.bridge.channel_harness import ChannelBridge, until
from tests.bridge.conftest import BridgeProcess, connected, member_token
from tests.bridge.dap_client import DapTestClient
from tests.conftest import RunningPlatform, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")
channel_harness.SERVES.setdefault("dap", dap.serve)

SID = "deb0" * 8
HOST, NAV, GUEST = "/home/alice/proj", "/home/ben/proj", "/home/cara/proj"  # each editor's own folder
ALICE = Identity("alice", "developer", "acme")
BEN = Identity("ben", "developer", "acme")
CARA = Identity("cara", "viewer", "acme")
PROGRAM = """\
def compute(items):
    total = 0
    for x in items:
        total += x
    return total


print("sum", compute([1, 2, 3, 4]))
"""


def _state(*, mode: str = "free", driver: str = "alice", state: str = "active") -> SessionState:
    return SessionState(
        id=SID,
        project="demo",
        mode=mode,  # type: ignore[arg-type]
        driver=driver,
        state=state,  # type: ignore[arg-type]
        participants=(
            Participant(SID, "alice", role="driver", host=True),
            Participant(SID, "ben", role="navigator"),
            Participant(SID, "cara", role="guest"),
        ),
    )


@dataclasses.dataclass
class Debugging:
    bridge: ChannelBridge
    hub: RoomHub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def debugging(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Debugging]:
    workspace = tmp_path_factory.mktemp("shared-debug") / "workspace"
    workspace.mkdir()
    (workspace / "prog.py").write_text(PROGRAM)
    bridge = ChannelBridge(workspace.resolve(), f"http://127.0.0.1:{free_port()}")  # no platform there
    hub = RoomHub()
    bridge.shared["collab"] = hub
    yield Debugging(bridge, hub)
    await bridge.stop()
    await hub.close()


async def _host(d: Debugging) -> tuple[DapTestClient, str, int]:
    """Alice debugs prog.py, stopped on line 4 (`total += x`, x == 1)."""
    d.hub.access.update(_state())
    alice = DapTestClient.over_link(await d.bridge.dial(d.bridge.session(ALICE), "dap", {"local_root": HOST}), "alice")
    await alice.initialize()
    debug_id = (await alice.event(dap.SESSION_EVENT))["id"]
    started, _ = await alice.start("launch", {"program": f"{HOST}/prog.py"}, {f"{HOST}/prog.py": [{"line": 4}]})
    assert (await started)["success"]
    stop = await alice.event("stopped", lambda b: b["reason"] == "breakpoint")
    return alice, debug_id, stop["threadId"]


async def _participant(d: Debugging, who: Identity, root: str, debug_id: str, **params: str) -> DapTestClient:
    session = d.bridge.session(who)
    link = await d.bridge.dial(session, "dap", {"local_root": root, "join": debug_id, "collab": SID, **params})
    client = DapTestClient.over_link(link, who.username)
    await client.initialize()
    started, _ = await client.start("attach", {})
    assert (await started)["success"]
    return client


def _refused(answer: dict[str, Any], *words: str) -> str:
    assert answer["success"] is False, answer
    message = str(answer["message"])
    assert all(word in message for word in words), message
    return message


async def test_a_navigator_steps_and_a_guest_watches_with_its_control_refused(debugging: Debugging) -> None:
    d = debugging
    alice, debug_id, thread = await _host(d)
    ben = await _participant(d, BEN, NAV, debug_id)
    cara = await _participant(d, CARA, GUEST, debug_id)
    for client in (ben, cara):
        await client.event("stopped")  # the late joiners are told where it stands

    # The guest sees the stack and the variables, in her own folder.
    frame = await cara.top_frame(thread)
    assert frame["source"]["path"] == f"{GUEST}/prog.py" and frame["line"] == 4
    assert (await cara.locals(frame["id"]))["x"]["value"] == "1"

    # ... and may not move, stop, break or evaluate: each refused with her role named.
    for command, arguments in (
        ("next", {"threadId": thread}),
        ("continue", {"threadId": thread}),
        ("pause", {"threadId": thread}),
        ("setVariable", {"variablesReference": 1, "name": "x", "value": "99"}),
        ("evaluate", {"expression": "__import__('os').getpid()", "frameId": frame["id"], "context": "repl"}),
        ("setBreakpoints", {"source": {"path": f"{GUEST}/prog.py"}, "breakpoints": [{"line": 2}]}),
        ("setExceptionBreakpoints", {"filters": ["raised"]}),
        ("terminate", {}),
    ):
        _refused(await cara.request(command, arguments), f"{command} refused", "guest", SID)
    # Clearing breakpoints she never had changes nothing: answered, no error (editors send it).
    assert await cara.ok("setBreakpoints", {"source": {"path": f"{GUEST}/prog.py"}, "breakpoints": []}) == {
        "breakpoints": []
    }
    frame = await alice.top_frame(thread)
    assert frame["line"] == 4 and (await alice.locals(frame["id"]))["x"]["value"] == "1"  # nothing moved

    # The navigator steps and sets a breakpoint; everyone sees the program move.
    await ben.ok("next", {"threadId": thread})
    for client in (alice, ben, cara):
        await client.event("stopped", lambda b: b["reason"] == "step")
    mine = await ben.ok("setBreakpoints", {"source": {"path": f"{NAV}/prog.py"}, "breakpoints": [{"line": 5}]})
    assert [bp["line"] for bp in mine["breakpoints"]] == [5]
    await cara.event("breakpoint", lambda b: b["reason"] == "new" and b["breakpoint"].get("line") == 5)

    # Pair mode with Alice driving: Ben watches now; the hand-over gives him the controls.
    d.hub.access.update(_state(mode="pair", driver="alice"))
    _refused(await ben.request("next", {"threadId": thread}), "pair mode", "alice")
    d.hub.access.update(_state(mode="pair", driver="ben"))
    await ben.ok("continue", {"threadId": thread})
    for client in (alice, ben, cara):
        await client.event("stopped", lambda b: b["reason"] == "breakpoint")
    frame = await cara.top_frame(thread)
    assert frame["line"] == 4 and (await cara.locals(frame["id"]))["x"]["value"] == "2"

    # Ending the collaboration session detaches both participants; Alice debugs on.
    d.hub.access.end(SID)
    for client in (ben, cara):
        said = await client.event("output", lambda b: "collaboration session ended" in b.get("output", ""))
        assert said["category"] == "important"
        await client.event("terminated")
    session = d.bridge.shared["debug_sessions"].by_id[debug_id]
    await until(lambda: [c.label for c in session.clients] == ["alice"], "the participants are detached")
    await alice.ok("setBreakpoints", {"source": {"path": f"{HOST}/prog.py"}, "breakpoints": []})
    await alice.ok("continue", {"threadId": thread})
    assert (await alice.event("exited"))["exitCode"] == 0
    await alice.event("terminated")
    await alice.ok("disconnect", {})
    for client in (alice, ben, cara):
        await client.close()


async def test_seats_that_cannot_be_taken_are_refused_with_what_to_do(debugging: Debugging) -> None:
    d = debugging
    alice, debug_id, _ = await _host(d)

    async def first_answer(who: Identity, **params: str) -> dict[str, Any]:
        link = await d.bridge.dial(d.bridge.session(who), "dap", {"local_root": NAV, **params})
        client = DapTestClient.over_link(link, who.username)
        answer = await client.request("initialize", {"adapterID": "debugpy"})
        await client.close()
        return answer

    _refused(await first_answer(BEN, collab=SID), "--collab goes with --join")
    _refused(await first_answer(BEN, collab="nope", join=debug_id), "bad collaboration session id")
    _refused(await first_answer(BEN, collab=SID, join="000000000000"), "no debug session '000000000000' of alice")
    # Dan is not among the participants the bridge knows: the platform is asked, and is away.
    _refused(await first_answer(Identity("dan", "developer", "acme"), collab=SID, join=debug_id), "cannot reach")

    # Ben's own debug session is not the host's: --collab does not reach it.
    ben = DapTestClient.over_link(await d.bridge.dial(d.bridge.session(BEN), "dap", {"local_root": NAV}), "ben")
    await ben.initialize()
    own = (await ben.event(dap.SESSION_EVENT))["id"]
    _refused(await first_answer(CARA, collab=SID, join=own), f"no debug session {own!r} of alice")
    await ben.ok("disconnect", {})
    await ben.close()
    # A guest cannot start a session that has not started yet (it would launch her config).
    waiting = DapTestClient.over_link(
        await d.bridge.dial(d.bridge.session(ALICE), "dap", {"local_root": HOST}), "alice-2"
    )
    await waiting.initialize()
    unstarted = (await waiting.event(dap.SESSION_EVENT))["id"]
    cara = DapTestClient.over_link(
        await d.bridge.dial(d.bridge.session(CARA), "dap", {"local_root": GUEST, "join": unstarted, "collab": SID}),
        "cara",
    )
    await cara.initialize()
    _refused(await cara.request("attach", {}), "attach refused", "guest")
    await cara.close()
    await waiting.ok("disconnect", {})
    await waiting.close()
    await alice.ok("terminate", {})
    await alice.event("terminated")
    await alice.request("disconnect", {})
    await alice.close()


# -- through a real bridge, admitted by the live platform -------------------------------------------


def _call(platform: RunningPlatform, token: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
    import codeforge.catalog.collab  # noqa: F401  (declares the collab.* operations)

    with PlatformClient(platform.url, token) as client:
        return dict(client.call(op, body).model_dump(mode="json"))


async def test_the_platform_admits_the_seat_and_its_end_detaches_the_participants(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    (live_bridge.folder / "prog.py").write_text(PROGRAM)
    host_token = live_platform.token
    session = _call(live_platform, host_token, "collab.start", {"project": live_platform.project, "title": "debug"})
    sid = session["id"]
    nav_token = member_token(live_platform, "shared-debug-ben", "developer")
    # A developer of the organization, a guest of this session (an organization viewer opens no
    # bridge session at all: `bridges.attach` needs `edit`).
    guest_token = member_token(live_platform, "shared-debug-cara", "developer")
    for token, role in ((nav_token, "navigator"), (guest_token, "guest")):
        invitation = _call(live_platform, host_token, "collab.invite", {"session": sid, "role": role})
        _call(live_platform, token, "collab.join", {"invitation": invitation["token"]})
    async with (
        connected(live_bridge.url, host_token) as host,
        connected(live_bridge.url, nav_token) as nav,
        connected(live_bridge.url, guest_token) as guest,
    ):
        alice = DapTestClient.over_link(await host.dial("dap", {"local_root": HOST}), "host")
        await alice.initialize()
        debug_id = (await alice.event(dap.SESSION_EVENT))["id"]
        started, _ = await alice.start("launch", {"program": f"{HOST}/prog.py"}, {f"{HOST}/prog.py": [{"line": 4}]})
        assert (await started)["success"]
        stop = await alice.event("stopped")
        clients = {}
        for name, connection, root in (("ben", nav, NAV), ("cara", guest, GUEST)):
            client = DapTestClient.over_link(
                await connection.dial("dap", {"local_root": root, "join": debug_id, "collab": sid}), name
            )
            await client.initialize()
            joined, _ = await client.start("attach", {})
            assert (await joined)["success"]
            await client.event("stopped")
            clients[name] = client
        ben, cara = clients["ben"], clients["cara"]
        _refused(await cara.request("next", {"threadId": stop["threadId"]}), "next refused", "guest")
        await ben.ok("next", {"threadId": stop["threadId"]})
        for client in (alice, ben, cara):
            await client.event("stopped", lambda b: b["reason"] == "step")
        # The host ends the session on the platform; the bridge hears it when it asks again.
        _call(live_platform, host_token, "collab.end", {"session": sid})
        for client in (ben, cara):
            await client.event("output", lambda b: "ended" in b.get("output", ""))
            await client.event("terminated")
        await alice.ok("continue", {"threadId": stop["threadId"]})
        await alice.event("stopped", lambda b: b["reason"] == "breakpoint")  # still Alice's to debug
        await alice.ok("terminate", {})
        await alice.event("terminated")
        await alice.request("disconnect", {})
        for client in (alice, ben, cara):
            await client.close()
