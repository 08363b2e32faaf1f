"""The workspace's own language server the way an editor gets it: a raw JSON-RPC client on
the stdio of a real `codeforge connect URL --lsp NAME`, through a real `codeforge bridge`
(websockets, the platform's token check) to basedpyright running beside the files. The
editor's folder is not the workspace's, so every URI crosses `UriMap` both ways."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.bridge.conftest import BridgeProcess, ConnectProcess
from tests.conftest import RunningPlatform

LIB = "def greet(name: str) -> str:\n    return 'hi ' + name\n"
MAIN = "from lib import greet\n\ncount: int = 'three'\nprint(greet('ana'))\n"


@pytest.fixture(scope="module")
def python_files(bridge_folder: Path) -> Path:
    (bridge_folder / "lib.py").write_text(LIB)
    (bridge_folder / "main.py").write_text(MAIN)
    return bridge_folder


def _servers_of(bridge: BridgeProcess) -> list[psutil.Process]:
    assert bridge.process is not None
    return [
        p
        for p in psutil.Process(bridge.process.pid).children(recursive=True)
        if "langserver.index" in " ".join(p.cmdline())
    ]


def test_basedpyright_through_bridge_and_relay(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, python_files: Path, tmp_path: Path
) -> None:
    editor_folder = tmp_path / "laptop" / "my shop"
    connect = ConnectProcess(
        live_bridge.url, live_platform.env, ["--lsp", "python"], stderr_path=tmp_path / "connect.log"
    )
    client = connect.start()
    answer = client.initialize(editor_folder)
    assert "result" in answer, (answer, connect.stderr(), live_bridge.logs())
    main = (editor_folder / "main.py").as_uri()
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": main, "languageId": "python", "version": 1, "text": MAIN}}
    )
    diagnostics = client.wait_notification(
        "textDocument/publishDiagnostics", lambda p: p["uri"] == main and bool(p["diagnostics"])
    )
    assert any("three" in d["message"] for d in diagnostics["diagnostics"]), diagnostics
    position = {"textDocument": {"uri": main}, "position": {"line": 3, "character": 8}}
    hover = client.request("textDocument/hover", position)
    assert "def greet(name: str) -> str" in str(hover["result"]["contents"])
    definition = client.request("textDocument/definition", position)["result"]
    assert definition[0]["uri"] == (editor_folder / "lib.py").as_uri()
    # The server runs on the bridge's host, in the workspace; the editor's folder does not exist.
    [node] = _servers_of(live_bridge)
    assert not editor_folder.exists()

    # A crash on the bridge reaches the editor through the relay; the server comes back.
    node.kill()
    state = client.wait_notification("codeforge/languageServer", lambda p: p["state"] == "running")
    assert state["name"] == "python" and state["restarts"] == 1
    hover = client.request("textDocument/hover", position)
    assert "def greet(name: str) -> str" in str(hover["result"]["contents"])

    client.request("shutdown")
    client.notify("exit")
    assert connect.stop() == 0
    assert not [p for p in _servers_of(live_bridge) if p.is_running() and p.status() != "zombie"]


def test_an_unknown_server_name_is_an_initialize_error(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    connect = ConnectProcess(live_bridge.url, live_platform.env, ["--lsp", "rust"], stderr_path=tmp_path / "c.log")
    client = connect.start()
    answer = client.initialize(tmp_path / "editor")
    message = answer["error"]["message"]
    assert "no language server `rust`" in message and "`pylsp`" in message and "codeforge.yaml" in message
    client.notify("exit")
    connect.stop()
