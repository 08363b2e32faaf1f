"""Terminals and forwards end to end: a real `codeforge bridge`, and `codeforge connect
--terminal/--ports/--forward` processes as a user runs them (a real local pty for the
terminal). Deadlines below are hang guards, never timed assertions."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import BridgeProcess, connected, drop
from tests.conftest import ROOT, RunningPlatform, free_port

GUARD_S = 30.0
BASH = ["bash", "--norc", "--noprofile", "-i"]


class PtyConnect:
    """`codeforge connect URL --terminal …` in a local pty, as in a terminal emulator."""

    def __init__(self, url: str, env: dict[str, str], args: list[str], log: Path) -> None:
        self.master, slave = os.openpty()
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codeforge", "connect", url, "--terminal", *args],
            env=env, stdin=slave, stdout=slave, stderr=log.open("wb"), cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.shown = b""

    def expect(self, needle: bytes) -> None:
        deadline = time.monotonic() + GUARD_S
        while needle not in self.shown:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{needle!r} never appeared; shown {self.shown[-600:]!r}; stderr {self.log.read_text()!r}")
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.shown += os.read(self.master, 65536)
                except OSError:  # the process ended and closed the pty
                    pytest.fail(f"{needle!r} never appeared before the end; shown {self.shown[-600:]!r}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def terminal_id(self) -> str:
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            found = re.search(r"--attach (\w+)", self.log.read_text())
            if found:
                return found.group(1)
            time.sleep(0.05)
        pytest.fail(f"no terminal id on stderr: {self.log.read_text()!r}")

    def close(self) -> int:
        try:
            return self.process.wait(GUARD_S)
        finally:
            os.close(self.master)


def test_a_terminal_keeps_its_scrollback_across_a_killed_connect(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    first = PtyConnect(live_bridge.url, live_platform.env, ["--", *BASH], tmp_path / "first.log")
    try:
        first.type("echo before-$((6*7)); pwd\r")
        first.expect(b"before-42")
        first.expect(str(live_bridge.folder).encode())  # the shell runs in the workspace
        terminal = first.terminal_id()
    finally:
        first.process.kill()  # the connection dies without a goodbye
        first.close()
    again = PtyConnect(live_bridge.url, live_platform.env, ["--attach", terminal], tmp_path / "again.log")
    try:
        again.expect(b"before-42")  # the scrollback, from the bridge
        again.type("echo after-$((7*7)); exit 5\r")
        again.expect(b"after-49")
    finally:
        code = again.close()
    assert code == 5
    # An ended terminal cannot be attached again, and says so.
    late = PtyConnect(live_bridge.url, live_platform.env, ["--attach", "0123456789ab"], tmp_path / "late.log")
    assert late.close() == 1
    assert "no terminal '0123456789ab'" in (tmp_path / "late.log").read_text()


def test_a_terminal_driven_through_pipes(live_bridge: BridgeProcess, live_platform: RunningPlatform) -> None:
    """Not a tty on either side (a script, an editor's task runner): input as typed, Ctrl-D
    at its end, the remote exit status as connect's."""
    done = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--terminal", "--", *BASH],
        input="echo piped-$((20+1))\nexit 6\n", env=live_platform.env, capture_output=True, text=True,
        cwd=ROOT, timeout=GUARD_S,
    )  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "piped-21" in done.stdout
    assert "--attach" in done.stderr


@pytest.fixture
def web(live_bridge: BridgeProcess) -> Iterator[int]:
    (live_bridge.folder / "page.html").write_text("<h1>from the workspace</h1>\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=live_bridge.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "http.server never answered"
            time.sleep(0.05)
    yield port
    process.kill()
    process.wait()


def test_ports_and_a_forward_through_a_real_bridge(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, web: int, tmp_path: Path
) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--ports", "--json"],
        env=live_platform.env, capture_output=True, text=True, cwd=ROOT, timeout=GUARD_S,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (entry,) = [e for e in json.loads(listed.stdout) if e["port"] == web]
    assert entry["workspace"] is True and "http.server" in entry["cmdline"]

    local = free_port()
    forward = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--forward", f"{web}:{local}"],
        env=live_platform.env, stdout=subprocess.PIPE, stderr=(tmp_path / "forward.log").open("wb"), cwd=ROOT,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline().decode()
        assert line == f"forwarding 127.0.0.1:{local} -> workspace port {web}\n", (tmp_path / "forward.log").read_text()
        page = httpx.get(f"http://127.0.0.1:{local}/page.html", timeout=GUARD_S)
        assert page.status_code == 200 and page.text == "<h1>from the workspace</h1>\n"
    finally:
        forward.send_signal(signal.SIGINT)
        code = forward.wait(GUARD_S)
    assert code == 130  # interrupted by the user, as documented


async def test_a_terminal_link_resumes_over_a_new_websocket(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    """A network loss under a terminal: the link resumes; nothing typed or shown is lost."""
    async with connected(live_bridge.url, live_platform.token) as connection:
        link = await connection.dial("terminal", {"command": json.dumps(BASH)})
        shown = bytearray()
        controls: list[dict[str, Any]] = []

        async def expect(needle: bytes) -> None:
            async with asyncio.timeout(GUARD_S):
                while needle not in shown:
                    message = await link.receive()
                    if isinstance(message, bytes):
                        shown.extend(message)
                    else:
                        controls.append(json.loads(message))

        await link.send(b"echo one-$((1+1))\r")
        await expect(b"one-2")
        drop(link)
        await link.send(b"echo two-$((2+2))\r")  # typed while the websocket is gone
        await expect(b"two-4")
        assert shown.count(b"one-2") == 1  # nothing shown twice after the resume
        await link.send(b"exit 9\r")
        async with asyncio.timeout(GUARD_S):
            while not any(c["type"] == "exit" for c in controls):
                message = await link.receive()
                if isinstance(message, str):
                    controls.append(json.loads(message))
        assert [c["code"] for c in controls if c["type"] == "exit"] == [9]


async def test_terminals_and_forwards_are_listed_and_closed_by_platform_operations(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, web: int
) -> None:
    client = live_platform.client()
    project = live_platform.project

    async def listed(kind: str, id: str) -> None:
        async with asyncio.timeout(GUARD_S):
            while True:
                answer = await asyncio.to_thread(client.call, "bridges.list", {"project": project})
                if any(r.id == id for s in answer.items for r in getattr(s, kind)):
                    return
                await asyncio.sleep(0.2)

    async with connected(live_bridge.url, live_platform.token) as connection:
        terminal = await connection.dial("terminal", {"command": json.dumps(BASH)})
        hello = json.loads(await terminal.receive())
        control = await connection.dial("forward", {"mode": "control", "port": str(web), "local": "18080"})
        ready = json.loads(await control.receive())
        assert ready["type"] == "ready" and ready["listening"] is True
        await listed("terminals", hello["id"])
        await listed("forwards", ready["id"])
        for kind, id in (("terminal", hello["id"]), ("forward", ready["id"])):
            closed = await asyncio.to_thread(client.call, "bridges.close", {"project": project, "kind": kind, "id": id})
            assert closed.requested
        async with asyncio.timeout(GUARD_S):  # applied at the bridge's next report
            while not isinstance(message := await terminal.receive(), str) or json.loads(message)["type"] != "exit":
                pass
            assert json.loads(message)["code"] == 128 + signal.SIGHUP
            assert json.loads(await control.receive()) == {
                "type": "closed",
                "reason": "closed by a bridges.close operation",
            }


async def test_secrets_reach_the_shell_and_never_the_bridge_log(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    secret = "tr0ub4dor-and-3"
    client = live_platform.client()
    await asyncio.to_thread(
        client.call, "env.set", {"project": live_platform.project, "name": "DB_PASS", "value": secret, "secret": True}
    )
    async with connected(live_bridge.url, live_platform.token) as connection:
        link = await connection.dial("terminal", {"command": json.dumps(BASH), "cols": "100"})
        shown = bytearray()
        await link.send(b'[ "$DB_PASS" = "$(printf tr0ub4dor)-and-$((1+2))" ] && echo same-$((5*5))\r')
        async with asyncio.timeout(GUARD_S):
            while b"same-25" not in shown:
                message = await link.receive()
                if isinstance(message, bytes):
                    shown.extend(message)
        await link.send(b"exit\r")
    assert secret.encode() not in shown  # compared in the shell, never printed
    assert secret not in live_bridge.log_path.read_text(errors="replace")
