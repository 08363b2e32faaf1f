"""Shared terminals by collaboration role: the host's real bash in a real pty, joined by
participants through `terminal?attach=ID&collab=SESSION` links (in-process, the bridge's
real session bookkeeping and the collaboration `Access` registry of a real `RoomHub`).

Driver and navigator type (free mode); a guest sees the output and its keys and signals are
refused with a message naming the role; pair mode follows the hand-over; removing a
participant or ending the session closes their view while the host's terminal goes on.
Waits are hang guards (`Screen.expect`, `until`), never timed assertions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codeforge.bridge import ptys
from codeforge.bridge import terminal as term
from codeforge.bridge.connect import ConnectOptions, UsageError, _mode
from codeforge.bridge.link import LinkClosed
from codeforge.bridge.sessions import Identity, Session
from codeforge.collab import Participant, RoomHub, SessionState
from tests.bridge.channel_harness import ALICE, GUARD_S, ChannelBridge, until
from tests.bridge.test_terminal import BASH, Screen
from tests.conftest import free_port

BEN = Identity("ben", "developer", "acme")
CARA = Identity("cara", "viewer", "acme")
DAN = Identity("dan", "developer", "acme")  # a member of the organization, not of the session
SID = "5e55" * 8


def _state(*, mode: str = "free", driver: str = "alice", state: str = "active", without: str = "") -> SessionState:
    people = [
        Participant(SID, "alice", role="driver", host=True),
        Participant(SID, "ben", role="navigator"),
        Participant(SID, "cara", role="guest"),
    ]
    return SessionState(
        id=SID,
        project="demo",
        mode=mode,  # type: ignore[arg-type]
        driver=driver,
        state=state,  # type: ignore[arg-type]
        participants=tuple(p for p in people if p.username != without),
    )


@dataclasses.dataclass
class Shared:
    bridge: ChannelBridge
    hub: RoomHub
    host: Session
    host_screen: Screen
    terminal_id: str

    async def join(self, who: Identity, **params: str) -> tuple[Screen, dict[str, Any]]:
        session = self.bridge.session(who)
        params = {"attach": self.terminal_id, "collab": SID, **params}
        screen = Screen(await self.bridge.dial(session, "terminal", params))
        return screen, await screen.control("hello", "error")


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[Shared]:
    # No platform listens at that URL: every seat here is one the registry already knows.
    bridge = ChannelBridge(tmp_path, f"http://127.0.0.1:{free_port()}")
    hub = RoomHub()
    hub.access.update(_state())
    bridge.shared["collab"] = hub
    host = bridge.session(ALICE)
    screen = Screen(await bridge.dial(host, "terminal", {"command": json.dumps(BASH)}))
    hello = await screen.control("hello")
    await screen.expect("bash-")
    yield Shared(bridge, hub, host, screen, hello["id"])
    await bridge.stop()
    await hub.close()


async def _errors(screen: Screen, count: int) -> list[str]:
    """The first `count` error messages the bridge sent on this link."""
    async with asyncio.timeout(GUARD_S):
        while sum(c["type"] == "error" for c in screen.controls) < count:
            await screen._take()
    return [c["message"] for c in screen.controls if c["type"] == "error"]


async def _closed(screen: Screen) -> str:
    """What the bridge said last before the link closed (the link's end is awaited)."""
    try:
        async with asyncio.timeout(GUARD_S):
            while True:
                await screen._take()
    except LinkClosed:
        pass
    errors = [c["message"] for c in screen.controls if c["type"] == "error"]
    return errors[-1] if errors else ""


async def test_a_navigator_types_into_the_hosts_terminal_and_everyone_sees_it(shared: Shared) -> None:
    ben, hello = await shared.join(BEN)
    assert hello["type"] == "hello" and hello["id"] == shared.terminal_id
    assert (hello["collab"], hello["role"], hello["readOnly"]) == (SID, "navigator", False)
    await ben.expect("bash-")  # the scrollback first
    await ben.run("echo from-$((6*7))-ben", "from-42-ben")
    await shared.host_screen.expect("from-42-ben")
    # Ben's session does not own the host's terminal: it is not one of ben's resources.
    assert all(kind != "terminal" for kind, _ in shared.bridge.sessions.by_id[next(
        sid for sid, s in shared.bridge.sessions.by_id.items() if s.user == BEN
    )].resources)  # fmt: skip


async def test_a_guest_watches_and_its_keys_and_signals_are_refused_naming_the_role(
    shared: Shared, tmp_path: Path
) -> None:
    cara, hello = await shared.join(CARA, cols="33", rows="11")
    assert (hello["role"], hello["readOnly"]) == ("guest", True)
    terminal = ptys.registry(shared.bridge.shared).terminals[shared.terminal_id]
    assert (terminal.cols, terminal.rows) == (80, 24)  # a watcher does not resize the host's
    await cara.type("echo guest > guest.txt\r")
    refused = await cara.control("error")
    assert "typing refused" in refused["message"] and "guest" in refused["message"]
    await cara.link.send(json.dumps({"type": "signal", "name": "INT"}))
    await cara.link.send(json.dumps({"type": "resize", "cols": 20, "rows": 5}))
    said = await _errors(cara, 2)
    assert "sending a signal refused" in said[1] and "guest" in said[1]
    # The host's next command runs after whatever cara's keys would have done, and she sees it.
    await shared.host_screen.run("stty size; echo host-$((1+1))", "host-2")
    await cara.expect("host-2")
    assert not (tmp_path / "guest.txt").exists()
    assert b"24 80" in shared.host_screen.out
    assert len(said) == 2  # one message per refusal spell, not one per key


async def test_pair_mode_follows_the_hand_over(shared: Shared, tmp_path: Path) -> None:
    shared.hub.access.update(_state(mode="pair", driver="alice"))
    ben, hello = await shared.join(BEN)
    assert hello["readOnly"] is True
    await ben.type("echo ben > ben.txt\r")
    refused = await ben.control("error")
    assert "pair mode" in refused["message"] and "alice" in refused["message"]
    # The hand-over counts from the next keystroke, on the same link.
    shared.hub.access.update(_state(mode="pair", driver="ben"))
    await ben.run("echo now-$((2*3))-ben", "now-6-ben")
    await shared.host_screen.run("cat ben.txt 2>&1; echo checked", "checked")
    assert not (tmp_path / "ben.txt").exists()


async def test_removing_a_participant_closes_only_their_view(shared: Shared) -> None:
    ben, _ = await shared.join(BEN)
    cara, _ = await shared.join(CARA)
    shared.hub.access.update(_state(without="cara"))
    assert "no longer a participant" in await _closed(cara)
    await ben.run("echo ben-$((3+4))", "ben-7")
    assert shared.terminal_id in ptys.registry(shared.bridge.shared).terminals


async def test_ending_the_session_closes_every_participants_view_and_the_host_carries_on(shared: Shared) -> None:
    ben, _ = await shared.join(BEN)
    cara, _ = await shared.join(CARA)
    shared.hub.access.end(SID)
    assert "the collaboration session ended" in await _closed(ben)
    assert "the collaboration session ended" in await _closed(cara)
    await shared.host_screen.run("echo still-$((4+4))", "still-8")
    # And nobody takes a seat in an ended session.
    _, hello = await shared.join(BEN)
    assert hello["type"] == "error" and "ended" in hello["message"]


async def test_bad_requests_are_refused_with_what_to_do(shared: Shared) -> None:
    # Dan is not among the participants the registry knows; he may have just joined, so the
    # platform is asked, and it is not there (the live admission: test_shared_debug.py).
    _, hello = await shared.join(DAN)
    assert hello["type"] == "error" and "cannot reach the platform" in hello["message"]
    _, hello = await shared.join(BEN, collab="not-a-session")
    assert hello["type"] == "error" and "bad collaboration session id" in hello["message"]
    _, hello = await shared.join(BEN, attach="0123456789ab")
    assert hello["type"] == "error" and "no terminal '0123456789ab' of alice" in hello["message"]
    session = shared.bridge.session(BEN)
    screen = Screen(await shared.bridge.dial(session, "terminal", {"collab": SID}))
    hello = await screen.control("hello", "error")
    assert hello["type"] == "error" and "--collab goes with --attach" in hello["message"]
    # Ben's own terminal is not the host's: --collab does not reach it.
    own = Screen(await shared.bridge.dial(shared.bridge.session(BEN), "terminal", {"command": json.dumps(BASH)}))
    own_id = (await own.control("hello"))["id"]
    _, hello = await shared.join(CARA, attach=own_id)
    assert hello["type"] == "error" and f"no terminal {own_id!r} of alice" in hello["message"]
    # So is a session this bridge has not heard of.
    _, hello = await shared.join(BEN, collab="ab" * 16)
    assert hello["type"] == "error" and "cannot reach the platform" in hello["message"]


async def test_a_bridge_without_collaboration_says_so(tmp_path: Path) -> None:
    bridge = ChannelBridge(tmp_path, f"http://127.0.0.1:{free_port()}")
    try:
        screen = Screen(await bridge.dial(bridge.session(BEN), "terminal", {"attach": "x", "collab": SID}))
        hello = await screen.control("hello", "error")
        assert hello["type"] == "error" and "collaboration is not available" in hello["message"]
    finally:
        await bridge.stop()


async def test_the_client_half_says_the_role_and_why_the_link_ended(shared: Shared) -> None:
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    session = shared.bridge.session(CARA)
    relay = asyncio.create_task(
        term.connect_terminal(
            shared.bridge.dialer(session), shared.terminal_id, None, collab=SID, stdin=stdin_r, stdout=out_w,
            stderr=err_w,
        )
    )  # fmt: skip
    try:
        await until(lambda: bool(shared.hub.access._connections.get(SID)), "the guest never took a seat")
        os.write(stdin_w, b"echo nope\r")
        shared.hub.access.end(SID)
        assert await asyncio.wait_for(relay, GUARD_S) == 1
        said = os.read(err_r, 65536).decode()
        assert f"of collaboration session {SID}: guest, read-only" in said
        assert "the collaboration session ended" in said
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        for fd in (stdin_r, stdin_w, out_r, out_w, err_r, err_w):
            os.close(fd)


@pytest.mark.parametrize(
    "options",
    [
        {"terminal": True, "collab": SID},  # no --attach: which of the host's terminals?
        {"dap": True, "collab": SID},  # no --join
        {"collab": SID},  # the language server: no seat to take
        {"ports": True, "collab": SID},
    ],
)
def test_connect_says_where_collab_goes(options: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="--collab SESSION goes with --terminal --attach ID or --dap --join ID"):
        _mode(ConnectOptions(url="ws://127.0.0.1:1", **options))
    attached = {**options, "attach": "abc"} if options.get("terminal") else {**options, "join": "abc"}
    if options.get("terminal") or options.get("dap"):
        assert _mode(ConnectOptions(url="ws://127.0.0.1:1", **attached)) in ("terminal", "dap")
