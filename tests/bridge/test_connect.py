"""`codeforge connect`: its usage errors and refusals as a user sees them (exit codes, one
clear line, never the token), the relay's framing and document tracking (incremental edits
in UTF-16 and the other encodings), and sync running beside the language server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codeforge.bridge.connect import ConnectOptions, normalize_url, run_connect
from codeforge.bridge.framing import FramingError, frame, read_message
from codeforge.bridge.relay import Documents, apply_change
from tests.bridge.conftest import BridgeProcess, ConnectProcess
from tests.conftest import ROOT, RunningPlatform, free_port


def _connect(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", *args],
        env=env, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"attach": "t1"}, "--attach goes with --terminal"),
        ({"terminal": True, "ports": True}, "choose one of"),
        ({"ports": True, "lsp": "pylsp"}, "--lsp relays a language server"),
        ({"once": True}, "--once goes with --sync"),
        ({"command": ["htop"]}, "goes with --terminal only"),
        ({"url": "ftp://127.0.0.1:1"}, "not a bridge URL"),
        ({"sync": Path("/no/such/folder")}, "not a folder"),
    ],
)
def test_usage_errors_say_what_to_do(options: dict[str, Any], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    # In process: these are decided before anything is dialled (the CLI's path is checked below).
    given = {"url": "ws://127.0.0.1:1", "token": "cf_x", **options}
    assert run_connect(ConnectOptions(**given)) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and "cf_x" not in err


def test_the_command_line_reports_usage_errors(live_platform: RunningPlatform) -> None:
    done = _connect(live_platform.env, "ws://127.0.0.1:1", "--terminal", "--ports")
    assert done.returncode == 2 and "choose one of --terminal" in done.stderr and "Traceback" not in done.stderr


def test_no_token_anywhere_is_a_clear_error(live_platform: RunningPlatform, tmp_path: Path) -> None:
    env = {**live_platform.env, "CODEFORGE_CONFIG_DIR": str(tmp_path)}
    done = _connect(env, "ws://127.0.0.1:1")
    assert done.returncode == 2 and "no platform token" in done.stderr


def test_a_refused_token_exits_1_without_echoing_it(live_bridge: BridgeProcess, live_platform: RunningPlatform) -> None:
    secret = "cf_definitely-not-valid-0123456789"
    done = _connect(live_platform.env, live_bridge.url, "--token", secret)
    assert done.returncode == 1
    assert "refused the connection: 401" in done.stderr and secret not in done.stderr + done.stdout


def test_an_unreachable_bridge_exits_1(live_platform: RunningPlatform) -> None:
    done = _connect(live_platform.env, f"127.0.0.1:{free_port()}")
    assert done.returncode == 1 and "cannot reach the bridge at ws://127.0.0.1:" in done.stderr


def test_urls_people_paste_are_understood() -> None:
    assert normalize_url("http://host:8471/") == "ws://host:8471"
    assert normalize_url("https://host") == "wss://host"
    assert normalize_url("host:8471") == "ws://host:8471"
    with pytest.raises(ValueError, match="names no host"):
        normalize_url("ws://")


async def test_framing_reads_messages_split_anywhere() -> None:
    reader = asyncio.StreamReader()
    data = frame(b'{"a":1}') + b"Content-Type: x\r\n" + frame(b'{"b":"\xc3\xa9"}')[:-3]
    for i in range(0, len(data), 3):
        reader.feed_data(data[i : i + 3])
    reader.feed_data(frame(b'{"b":"\xc3\xa9"}')[-3:])
    reader.feed_eof()
    assert await read_message(reader, limit=1 << 20) == b'{"a":1}'
    assert await read_message(reader, limit=1 << 20) == b'{"b":"\xc3\xa9"}'
    assert await read_message(reader, limit=1 << 20) is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello from print()\n", "not a header line"),
        (b"Content-Length: twelve\r\n\r\n{}", "bad Content-Length"),
        (b"Content-Length: 99999999\r\n\r\n{}", "99999999 bytes announced"),
        (b"X-Padding: " + b"x" * 9000 + b"\r\n", "header"),
        (b"Content-Length: 2", "ended inside a message header"),
    ],
)
async def test_framing_refuses_what_is_not_framed(data: bytes, words: str) -> None:
    """The same reader serves the editor's stdio and the servers' and adapters' stdout: what
    is not Content-Length framed is a FramingError that says what, never another error."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    with pytest.raises(FramingError) as refused:
        await read_message(reader, limit=1 << 20)
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("encoding", "character", "expected"),
    [("utf-16", 3, "a😀Xb\n"), ("utf-8", 5, "a😀Xb\n"), ("utf-32", 2, "a😀Xb\n")],
)
def test_incremental_changes_count_in_the_negotiated_encoding(encoding: str, character: int, expected: str) -> None:
    # 😀 is two UTF-16 units and four UTF-8 bytes: the position after it differs per encoding.
    change = {
        "range": {"start": {"line": 0, "character": character}, "end": {"line": 0, "character": character}},
        "text": "X",
    }
    assert apply_change("a😀b\n", change, encoding) == expected


def test_documents_follow_open_change_close() -> None:
    docs = Documents()
    uri = "file:///e/a.py"
    docs.track({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "one\ntwo\n"}}})  # fmt: skip
    docs.track({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 3}}, "text": "TWO"},
        {"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}}, "text": "three\n"},
    ]}})  # fmt: skip
    assert docs.open[uri].text == "one\nTWO\nthree\n" and docs.open[uri].version == 2
    docs.track({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": "all new"}]}})  # fmt: skip
    replay = docs.did_open_all()
    assert replay[0]["params"]["textDocument"] == {"uri": uri, "languageId": "python", "version": 3, "text": "all new"}
    docs.track({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
    assert docs.did_open_all() == []


def test_sync_runs_beside_the_language_server_and_reports_in_the_editor(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path, bridge_folder: Path
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "from-laptop.txt").write_text("hello from the laptop\n")
    process = ConnectProcess(
        live_bridge.url, live_platform.env, ["--sync", str(local)], stderr_path=tmp_path / "connect.log"
    )
    client = process.start()
    try:
        client.initialize(local)
        status = client.wait_notification("codeforge/syncStatus", lambda p: p.get("kind") == "status")
        assert status["message"]
        end = time.monotonic() + 60
        # Both ways: the laptop's file reaches the workspace, the workspace's comes back.
        while not ((bridge_folder / "from-laptop.txt").exists() and (local / "app.py").exists()):
            assert time.monotonic() < end, "the files never crossed"
            time.sleep(0.05)
        assert (local / "app.py").read_text() == (bridge_folder / "app.py").read_text()
        assert client.request("codeforge/status", {})["result"]["connected"]
        client.request("shutdown")
        client.notify("exit")
    finally:
        assert process.stop() == 0, process.stderr()
