"""Channels `ports` and `forward`: a real `python -m http.server` in the workspace, real
local TCP listeners and HTTP clients, through in-process links."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from codeforge.bridge import ports
from codeforge.bridge.sessions import Session
from tests.bridge.channel_harness import GUARD_S, ChannelBridge, until
from tests.conftest import free_port


def _http_server(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(int(GUARD_S / 0.05)):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, port
        except httpx.TransportError:
            process.poll()
            assert process.returncode is None, "http.server exited"
            time.sleep(0.05)
    process.kill()
    raise AssertionError("http.server never answered")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ports") / "workspace"
    folder.mkdir()
    (folder / "hello.txt").write_text("hello through the forward\n")
    (folder / "big.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB: many link messages
    return folder


@pytest.fixture(scope="module")
def web(workspace: Path) -> Iterator[int]:
    """http.server in the workspace for the whole module: its port."""
    process, port = _http_server(workspace)
    yield port
    process.kill()
    process.wait()


@pytest.fixture
async def bridge(workspace: Path) -> AsyncIterator[ChannelBridge]:
    b = ChannelBridge(workspace, f"http://127.0.0.1:{free_port()}")
    yield b
    await b.stop()


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _start_forward(
    bridge: ChannelBridge, session: Session, specs: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[asyncio.Task[int], str]:
    """`forward` running, once it printed that each of its listeners is up; and what it printed."""
    task = asyncio.create_task(ports.forward(bridge.dialer(session), specs))
    out: list[str] = []

    def started() -> bool:
        out.append(capsys.readouterr().out)
        return "".join(out).count("forwarding ") == len(specs) or task.done()

    await until(started, "the forwards never started")
    return task, "".join(out)


async def _stop(task: asyncio.Task[int]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_ports_lists_the_http_server_with_its_process(
    bridge: ChannelBridge, web: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # One session each, as each `codeforge connect --ports` is (a session ends with its last link).
    assert await ports.print_ports(bridge.dialer(bridge.session()), as_json=True) == 0
    listed = json.loads(capsys.readouterr().out)
    (entry,) = [e for e in listed if e["port"] == web]
    assert entry["addresses"] == ["127.0.0.1"]
    assert entry["process"].startswith("python") and "http.server" in entry["cmdline"]
    assert entry["workspace"] is True  # started in the workspace folder
    assert await ports.print_ports(bridge.dialer(bridge.session()), as_json=False) == 0
    table = capsys.readouterr().out
    line = next(row for row in table.splitlines() if row.startswith(f"{web} "))
    assert "python" in line and "yes" in line and "http.server" in line


async def test_forward_fetches_pages_through_several_local_ports(
    bridge: ChannelBridge, web: int, capsys: pytest.CaptureFixture[str]
) -> None:
    session = bridge.session()
    first, second = free_port(), free_port()
    task, out = await _start_forward(bridge, session, [f"{web}:{first}", f"{web}:{second}"], capsys)
    try:
        assert f"forwarding 127.0.0.1:{first} -> workspace port {web}\n" in out
        assert f"forwarding 127.0.0.1:{second} -> workspace port {web}\n" in out
        async with httpx.AsyncClient(timeout=GUARD_S) as http:
            pages = await asyncio.gather(
                http.get(f"http://127.0.0.1:{first}/hello.txt"),
                http.get(f"http://127.0.0.1:{second}/hello.txt"),
                http.get(f"http://127.0.0.1:{first}/big.bin"),
            )
        assert [p.status_code for p in pages] == [200, 200, 200]
        assert pages[0].text == pages[1].text == "hello through the forward\n"
        assert pages[2].content == bytes(range(256)) * 8192
        labels = sorted(r.label for (kind, _), r in session.resources.items() if kind == "forward")
        assert labels == sorted(f"workspace port {web} → editor port {p}" for p in (first, second))
    finally:
        await _stop(task)
    await until(lambda: not ports._forwards(bridge.shared), "the bridge kept the forwards after the client stopped")
    assert not await _listening(first) and not await _listening(second)


async def test_a_forward_without_target_says_so(
    bridge: ChannelBridge, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = bridge.session()
    process, remote = _http_server(workspace)
    local = free_port()
    task, _ = await _start_forward(bridge, session, [f"{remote}:{local}"], capsys)
    try:
        async with httpx.AsyncClient(timeout=GUARD_S) as http:
            assert (await http.get(f"http://127.0.0.1:{local}/hello.txt")).status_code == 200
            process.kill()
            process.wait()
            capsys.readouterr()
            with pytest.raises(httpx.TransportError):  # the local client sees the failure
                await http.get(f"http://127.0.0.1:{local}/hello.txt")
        await until(lambda: "connection refused" in capsys.readouterr().err, "the lost target was not reported")
    finally:
        await _stop(task)
    # Started with nothing listening: it starts, and says so.
    nothing = free_port()
    task, out = await _start_forward(bridge, bridge.session(), [f"{nothing}:0"], capsys)
    try:
        assert f"-> workspace port {nothing} (nothing listens there yet)" in out
    finally:
        await _stop(task)


async def test_a_target_that_resets_mid_stream_is_reported(
    bridge: ChannelBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    async def reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n")
        writer.write(b"partial answer")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST: the target died mid-answer

    server = await asyncio.start_server(reset_after_request, "127.0.0.1", 0)
    remote = server.sockets[0].getsockname()[1]
    local = free_port()
    task, _ = await _start_forward(bridge, bridge.session(), [f"{remote}:{local}"], capsys)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(GUARD_S):
                while chunk := await reader.read(1024):
                    received += chunk
        assert received in (b"", b"partial answer")
        await until(lambda: "reset the connection" in capsys.readouterr().err, "the reset was not reported")
    finally:
        await _stop(task)
        server.close()


async def test_closing_the_forward_resource_stops_its_listener(
    bridge: ChannelBridge, web: int, capsys: pytest.CaptureFixture[str]
) -> None:
    session = bridge.session()
    local = free_port()
    task, _ = await _start_forward(bridge, session, [f"{web}:{local}"], capsys)
    (key,) = [k for k in session.resources if k[0] == "forward"]
    assert await bridge.sessions.close_resource(session, *key)
    assert await asyncio.wait_for(task, GUARD_S) == 1  # every forward ended by the bridge
    assert "ended: closed by a bridges.close operation" in capsys.readouterr().err
    assert not await _listening(local)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("http", "bad workspace port 'http'"),
        ("70000", "bad workspace port '70000'"),
        ("٨٠٠٠", "bad workspace port '٨٠٠٠'"),  # Arabic-Indic digits: isdigit() says yes, we say no
        ("8000:", "bad local port ''"),
        ("0", "bad workspace port '0'"),
        ("-1", "bad workspace port '-1'"),
        ("8000:1:2", "bad local port '1:2'"),
    ],
)
async def test_bad_specs_are_refused(
    bridge: ChannelBridge, spec: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await ports.forward(bridge.dialer(bridge.session()), [spec]) == 2
    err = capsys.readouterr().err
    assert says in err and "REMOTE[:LOCAL]" in err
    assert not ports._forwards(bridge.shared)  # nothing was asked of the bridge


async def test_duplicate_local_ports_and_bad_stream_requests_are_refused(
    bridge: ChannelBridge, web: int, capsys: pytest.CaptureFixture[str]
) -> None:
    session = bridge.session()
    assert await ports.forward(bridge.dialer(session), ["8000:9000", "8001:9000"]) == 2
    assert "local port 9000 is already forwarded" in capsys.readouterr().err
    for params, says in [
        ({"port": "x"}, "bad port 'x'"),
        ({"port": str(web), "forward": "nope"}, "no forward 'nope'"),
    ]:
        link = await bridge.dial(session, "forward", params)
        answer = json.loads(await asyncio.wait_for(link.receive(), GUARD_S))
        assert answer["type"] == "error" and says in answer["message"]
