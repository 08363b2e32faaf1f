"""The CodeForge language server through the bridge: a real `codeforge connect` subprocess
relaying a raw JSON-RPC client (as an editor is) to a real `codeforge bridge`, against the
live platform. The editor's folder is not the workspace's: every URI is rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.conftest import BridgeProcess, ConnectProcess, LspPipe
from tests.conftest import RunningPlatform

BAD_YAML = "project: demo\nnot_a_section: 1\n"


@pytest.fixture(scope="module")
def editor_folder(tmp_path_factory: pytest.TempPathFactory, live_platform: RunningPlatform) -> Path:
    folder = tmp_path_factory.mktemp("laptop") / "shop"
    folder.mkdir()
    (folder / "codeforge.yaml").write_text(f"project: {live_platform.project}\n")
    return folder


@pytest.fixture(scope="module")
def relay(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, editor_folder: Path
) -> Iterator[tuple[ConnectProcess, LspPipe]]:
    process = ConnectProcess(live_bridge.url, live_platform.env, stderr_path=editor_folder.parent / "connect.log")
    client = process.start()
    answer = client.initialize(editor_folder, {"url": "http://editor-only:1", "showResults": "none"})
    assert "result" in answer, answer
    yield process, client
    client.request("shutdown")
    client.notify("exit")
    assert process.stop() == 0


def test_the_session_acts_as_the_user_on_the_bridges_platform(
    relay: tuple[ConnectProcess, LspPipe], live_platform: RunningPlatform
) -> None:
    _, client = relay
    status = client.request("codeforge/status", {})["result"]
    # The editor's initializationOptions named its own platform URL: the bridge's wins.
    assert status["platform"] == live_platform.url
    assert status["connected"] and status["username"] == "owner" and status["project"] == live_platform.project
    answer = client.request("workspace/executeCommand", {"command": "codeforge.auth.whoami", "arguments": [{}]})
    assert "error" not in answer, answer


def test_diagnostics_come_back_with_the_editors_uri(
    relay: tuple[ConnectProcess, LspPipe], editor_folder: Path, bridge_folder: Path
) -> None:
    _, client = relay
    uri = (editor_folder / "codeforge.yaml").as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": BAD_YAML}},
    )
    published = client.wait_notification(
        "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"]
    )
    assert "not_a_section" in str(published["diagnostics"])
    # Nothing the editor sees names the workspace's own folder.
    assert str(bridge_folder) not in str(client.notifications)


def test_an_incremental_change_reaches_the_server(relay: tuple[ConnectProcess, LspPipe], editor_folder: Path) -> None:
    _, client = relay
    uri = (editor_folder / "svc" / "codeforge.yaml").as_uri()  # its own document: no order between tests
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": BAD_YAML}},
    )
    client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"])
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [
                {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}, "text": ""}
            ],
        },
    )
    published = client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert published["diagnostics"] == []
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}
    )
    assert "error" not in hover, hover


def test_an_unknown_method_is_the_servers_error_not_the_relays(relay: tuple[ConnectProcess, LspPipe]) -> None:
    _, client = relay
    answer = client.request("codeforge/noSuchThing", {})
    assert answer["error"]["code"] == -32601  # method not found, from pygls on the bridge


async def test_the_server_sees_the_workspace_and_the_editor_its_own_folder(
    live_platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, to look inside the session's pygls server: it knows the workspace's paths
    only, while every URI the editor gets back names the editor's folder."""
    import asyncio
    import json

    import codeforge.lsp.server as lsp_server
    from codeforge.bridge import lsp
    from codeforge.bridge.link import memory_pair
    from codeforge.bridge.sessions import ChannelContext, Identity, Session
    from codeforge.client import AsyncPlatformClient

    built: list[Any] = []
    real_build = lsp_server.build_server

    def build(*args: Any, **kwargs: Any) -> Any:
        built.append(real_build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(lsp_server, "build_server", build)
    workspace, laptop = tmp_path / "srv" / "ws", tmp_path / "home" / "ana" / "shop"
    for folder in (workspace, laptop):
        folder.mkdir(parents=True)
    platform = AsyncPlatformClient(live_platform.url, live_platform.token)
    session = Session("s1", Identity("owner", "owner", "default"), live_platform.token, platform)
    editor, bridge_end = memory_pair()
    ctx = ChannelContext(session, workspace, live_platform.project, platform, {}, {})
    served = asyncio.ensure_future(lsp.serve(bridge_end, ctx))

    async def ask(message: dict[str, Any]) -> dict[str, Any]:
        await editor.send(json.dumps({"jsonrpc": "2.0", **message}))
        while True:
            answer = json.loads(await asyncio.wait_for(editor.receive(), 30))
            if answer.get("id") == message.get("id") and "method" not in answer:
                return dict(answer)

    try:
        await ask({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": laptop.as_uri(), "capabilities": {}}})  # fmt: skip
        uri = (laptop / "codeforge.yaml").as_uri()
        await editor.send(json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": BAD_YAML}}}))  # fmt: skip
        published: dict[str, Any] = {}
        while not published.get("diagnostics"):
            note = json.loads(await asyncio.wait_for(editor.receive(), 30))
            if note.get("method") == "textDocument/publishDiagnostics":
                published = note["params"]
        server = built[0]
        assert server.workspace.root_path == str(workspace)
        assert list(server.workspace.text_documents) == [(workspace / "codeforge.yaml").as_uri()]
        assert published["uri"] == uri
        await editor.send(json.dumps({"jsonrpc": "2.0", "method": "exit"}))
        await asyncio.wait_for(served, 30)  # `exit` ends this session's server, not the process
        assert bridge_end.closed
    finally:
        served.cancel()
        await platform.aclose()


def test_a_document_too_large_for_the_link_is_said_and_the_session_goes_on(
    relay: tuple[ConnectProcess, LspPipe], editor_folder: Path
) -> None:
    _, client = relay
    huge = "x" * (17 * 2**20)
    client.notify(
        "textDocument/didOpen",
        {
            "textDocument": {
                "uri": (editor_folder / "huge.txt").as_uri(),
                "languageId": "text",
                "version": 1,
                "text": huge,
            }
        },
    )
    shown = client.wait_notification("window/showMessage", lambda p: "remote link" in p["message"])
    assert "textDocument/didOpen is 17 MiB" in shown["message"]
    assert client.request("codeforge/status", {})["result"]["connected"]


def test_a_secret_revealed_through_the_bridge_never_reaches_its_log(
    relay: tuple[ConnectProcess, LspPipe], live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    """pygls logs every message at INFO; the bridge's default level is INFO, and a revealed
    secret travels in a response."""
    secret = "s3cr3t-through-the-bridge-0815"
    with live_platform.client() as platform:
        platform.call(
            "env.set", {"project": live_platform.project, "name": "BRIDGE_SECRET", "value": secret, "secret": True}
        )
    _, client = relay
    answer = client.request(
        "workspace/executeCommand",
        {"command": "codeforge.env.reveal", "arguments": [{"project": live_platform.project, "name": "BRIDGE_SECRET"}]},
    )
    assert secret in str(answer)  # the editor asked for it and got it
    logged = live_bridge.log_path.read_text(errors="replace")
    assert "env.reveal" in logged or "session" in logged  # the log is being written
    assert secret not in logged
