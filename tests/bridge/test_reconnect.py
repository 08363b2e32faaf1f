"""Reconnect, grace and restart: a connection killed mid-session resumes with nothing lost; a
session whose editor does not come back ends cleanly (its language server, resources and
callbacks stopped); a restarted bridge makes the relay open a new session and replay what
the editor said, with nothing duplicated. Operations list and close what a bridge holds."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import codeforge.lsp.server as lsp_server
from codeforge.bridge.channels import CHANNELS
from codeforge.bridge.connect import Connection
from codeforge.bridge.link import DialRefused, Link, LinkClosed
from codeforge.bridge.server import Bridge
from codeforge.bridge.sessions import ChannelContext
from codeforge.client import AsyncPlatformClient
from tests.bridge.conftest import (
    BridgeProcess,
    ConnectProcess,
    LspPipe,
    TcpProxy,
    connected,
    drop,
    make_workspace,
    member_token,
)
from tests.conftest import RunningPlatform

BAD_YAML = "project: demo\nnot_a_section: 1\n"


def _open(client: LspPipe, uri: str, text: str) -> None:
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
    )


def _state(state: str) -> Callable[[Any], bool]:
    return lambda params: params.get("state") == state


@pytest.fixture
def editor(tmp_path: Path) -> Path:
    folder = tmp_path / "laptop" / "shop"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def proxy(live_bridge: BridgeProcess) -> Iterator[TcpProxy]:
    network = TcpProxy(live_bridge.port)
    yield network
    network.close()


def test_a_killed_connection_resumes_with_nothing_lost(
    proxy: TcpProxy, live_platform: RunningPlatform, editor: Path, tmp_path: Path
) -> None:
    process = ConnectProcess(f"ws://127.0.0.1:{proxy.port}", live_platform.env, stderr_path=tmp_path / "connect.log")
    client = process.start()
    try:
        client.initialize(editor)
        uri = (editor / "codeforge.yaml").as_uri()
        _open(client, uri, BAD_YAML)
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"])
        proxy.block()  # the network goes away
        client.wait_notification("codeforge/connection", _state("reconnecting"))
        # The editor keeps working meanwhile: an edit and a request wait in the link.
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [
                    {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}, "text": ""}
                ],
            },
        )
        client.send({"id": "asked-while-away", "method": "codeforge/status", "params": {}})
        proxy.unblock()
        client.wait_notification("codeforge/connection", _state("connected"))
        # The same session answers (a new one would have said ContentModified), and the edit
        # reached it exactly once: the diagnostics are those of the fixed text.
        answer = client.response("asked-while-away")
        assert answer["result"]["connected"] is True, answer
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and not p["diagnostics"])
        assert client.request("codeforge/status", {})["result"]["connected"]
        assert not client._held  # no answer came twice
        client.request("shutdown")
        client.notify("exit")
    finally:
        assert process.stop() == 0, process.stderr()


def test_a_restarted_bridge_gets_a_replay_and_nothing_is_duplicated(
    bridge_factory: Callable[..., BridgeProcess], live_platform: RunningPlatform, editor: Path, tmp_path: Path
) -> None:
    bridge = bridge_factory(make_workspace(tmp_path / "ws", live_platform.project))
    process = ConnectProcess(bridge.url, live_platform.env, stderr_path=tmp_path / "connect.log")
    client = process.start()
    try:
        client.initialize(editor)
        uri = (editor / "codeforge.yaml").as_uri()
        _open(client, uri, "project: demo\n")
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        # The editor edits (incrementally) to a broken file; the bridge has it.
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [
                    {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "not_a_section: 1\n"}
                ],
            },
        )  # fmt: skip
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"])
        bridge.stop(kill=True)  # a crash: no goodbye
        client.wait_notification("codeforge/connection", _state("reconnecting"))
        client.send({"id": "in-flight", "method": "codeforge/status", "params": {}})
        bridge.start()  # the same address, knowing no session
        client.wait_notification("codeforge/connection", _state("connected"))
        # The request the old bridge never answered is answered once, as lost (the editor retries).
        lost = client.response("in-flight")
        assert lost["error"]["code"] == -32801 and "restarted" in lost["error"]["message"]
        # The new session got the document as the editor has it now, so its diagnostics are
        # those of the edited text.
        client.wait_notification(
            "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and "not_a_section" in json.dumps(p)
        )
        status = client.request("codeforge/status", {})
        assert status["result"]["connected"] is True
        hover = client.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}}
        )
        assert "error" not in hover
        assert not client._held  # in particular, the replayed initialize's answer never showed
        # The status bar went reconnecting -> connected once, with no flapping in between.
        assert [n for n in client.notifications if n["method"] == "codeforge/connection"] == []
        client.request("shutdown")
        client.notify("exit")
    finally:
        assert process.stop() == 0, process.stderr()


def test_back_after_the_grace_period_the_relay_starts_over(
    bridge_factory: Callable[..., BridgeProcess], live_platform: RunningPlatform, editor: Path, tmp_path: Path
) -> None:
    bridge = bridge_factory(make_workspace(tmp_path / "ws", live_platform.project), grace=1.0)
    network = TcpProxy(bridge.port)
    process = ConnectProcess(f"ws://127.0.0.1:{network.port}", live_platform.env, stderr_path=tmp_path / "connect.log")
    client = process.start()
    try:
        client.initialize(editor)
        uri = (editor / "codeforge.yaml").as_uri()
        _open(client, uri, BAD_YAML)
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"])
        network.block()
        client.wait_notification("codeforge/connection", _state("reconnecting"))
        time.sleep(3)  # past `--grace 1`: the bridge ends the session meanwhile
        network.unblock()
        client.wait_notification("codeforge/connection", _state("connected"))
        # A new session, told the open document again: its diagnostics come again.
        client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"])
        assert client.request("codeforge/status", {})["result"]["connected"]
        assert not client._held
        client.request("shutdown")
        client.notify("exit")
    finally:
        network.close()
        assert process.stop() == 0, process.stderr()


# -- in process: sessions, grace, resources, operations -------------------------------------


class Probe:
    """A test channel that registers a resource and a session-end callback."""

    def __init__(self) -> None:
        self.resource_closed = asyncio.Event()
        self.session_ended = asyncio.Event()
        self.serve_ended = asyncio.Event()

    async def serve(self, link: Link, ctx: ChannelContext) -> None:
        async def close() -> None:
            self.resource_closed.set()

        async def ended() -> None:
            self.session_ended.set()

        ctx.add_resource("terminal", f"t-{link.link_id[:8]}", "probe shell", close)
        ctx.on_session_end(ended)
        try:
            async for message in link:
                await link.send(f"echo {message!s}")
        finally:
            self.serve_ended.set()


@pytest.fixture
async def bridge(live_platform: RunningPlatform, tmp_path: Path) -> AsyncIterator[tuple[Bridge, Probe]]:
    probe = Probe()
    CHANNELS["probe"] = probe.serve
    running = Bridge(
        make_workspace(tmp_path / "ws", live_platform.project),
        project=live_platform.project,
        platform_url=live_platform.url,
        token=live_platform.token,
        grace=0.5,
    )
    await running.start()
    yield running, probe
    await running.stop()
    del CHANNELS["probe"]


async def _until(check: Callable[[], Any], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def _initialize(link: Link, root: Path) -> dict[str, Any]:
    await link.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}}))  # fmt: skip
    return dict(json.loads(await asyncio.wait_for(link.receive(), 60)))


async def test_after_the_grace_period_the_session_ends_cleanly(
    bridge: tuple[Bridge, Probe], live_platform: RunningPlatform, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, probe = bridge
    servers: list[weakref.ref[Any]] = []
    real_build = lsp_server.build_server

    def build(*args: Any, **kwargs: Any) -> Any:
        server = real_build(*args, **kwargs)
        servers.append(weakref.ref(server))
        return server

    monkeypatch.setattr(lsp_server, "build_server", build)
    async with connected(running.url, live_platform.token) as connection:
        lsp = await connection.dial("lsp", {})
        assert "capabilities" in (await _initialize(lsp, editor))["result"]
        probed = await connection.dial("probe", {})
        await probed.send("hi")
        assert await probed.receive() == "echo hi"
        session = running.sessions.get(connection.session_id)
        assert session is not None and session.state == "connected" and len(running._tasks) == 2
        # The network goes for good: the client never redials.
        for link in (lsp, probed):
            link._mark_closed("gone away")
            drop(link)
        await _until(lambda: session.state == "reconnecting" or session.ended, "the session noticed")
        await _until(lambda: session.ended, "the session ended after its grace period")
        assert session.end_reason == "grace period over"
        assert running.sessions.get(connection.session_id) is None
        # Its language server and channel stopped, its resource was closed, its callback ran.
        await _until(lambda: not running._tasks, "every channel of the session stopped")
        assert probe.resource_closed.is_set() and probe.session_ended.is_set() and probe.serve_ended.is_set()
        # Coming back too late is refused with 410, so the client knows to start over.
        with pytest.raises(DialRefused) as refused:
            await connection._open("lsp", lsp, resume=True)
        assert refused.value.status == 410
    # Nothing keeps the ended session's language server alive (pygls' caches did).
    gc.collect()
    assert len(servers) == 1 and servers[0]() is None


async def test_a_reconnect_within_the_grace_period_keeps_the_session(
    bridge: tuple[Bridge, Probe], live_platform: RunningPlatform
) -> None:
    running, probe = bridge
    async with connected(running.url, live_platform.token) as connection:
        probed = await connection.dial("probe", {})
        for i in range(20):
            await probed.send(f"m{i}")
            if i % 5 == 0:
                drop(probed)  # killed mid-stream, redialled by the connection
        got = [await asyncio.wait_for(probed.receive(), 30) for _ in range(20)]
        assert got == [f"echo m{i}" for i in range(20)]
        assert not probe.session_ended.is_set() and not probe.resource_closed.is_set()
    # The client closed its links: the session ends at once, not after the grace period.
    await _until(lambda: probe.session_ended.is_set(), "the session ended with its last link")


async def test_another_user_cannot_take_over_a_session(
    bridge: tuple[Bridge, Probe], live_platform: RunningPlatform
) -> None:
    running, _ = bridge
    other = member_token(live_platform, "dora-dev", "developer")
    async with connected(running.url, live_platform.token) as connection:
        await connection.dial("probe", {})
        intruder = Connection(running.url, other)
        intruder.session_id = connection.session_id
        with pytest.raises(DialRefused) as refused:
            await intruder.dial("probe", {})
        assert refused.value.status == 403 and "another user" in refused.value.reason


async def test_operations_list_and_close_what_the_bridge_holds(
    bridge: tuple[Bridge, Probe], live_platform: RunningPlatform
) -> None:
    running, probe = bridge
    platform = AsyncPlatformClient(live_platform.url, live_platform.token)
    try:
        async with connected(running.url, live_platform.token) as connection:
            probed = await connection.dial("probe", {})
            terminal = f"t-{probed.link_id[:8]}"

            async def listed() -> dict[str, Any] | None:
                answer = await platform.call("bridges.list", {"project": live_platform.project})
                mine = [s for s in answer.items if s.id == connection.session_id]
                return mine[0].model_dump() if mine else None

            deadline = time.monotonic() + 30
            while not ((seen := await listed()) and seen["terminals"]):
                assert time.monotonic() < deadline, "the session never showed in bridges.list"
                await asyncio.sleep(0.1)
            assert seen["username"] == "owner" and "probe" in seen["channels"]
            assert seen["terminals"][0]["id"] == terminal and seen["terminals"][0]["label"] == "probe shell"
            assert live_platform.token not in json.dumps(seen, default=str)

            await platform.call("bridges.close", {"project": live_platform.project, "kind": "terminal", "id": terminal})
            await asyncio.wait_for(probe.resource_closed.wait(), 30)
            await platform.call(
                "bridges.close", {"project": live_platform.project, "kind": "session", "id": connection.session_id}
            )
            with pytest.raises(LinkClosed) as closed:
                await asyncio.wait_for(probed.receive(), 30)
            assert "bridges.close" in closed.value.reason
    finally:
        await platform.aclose()
