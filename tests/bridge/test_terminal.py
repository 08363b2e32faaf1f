"""Channel `terminal`: real bash in a real pty, driven through in-process links.

Waits below (`_until`, `Screen.expect`) are hang guards that fail with what was seen, never
timed assertions: each waits for an outcome, however long it takes within the guard.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from codeforge.bridge import ptys
from codeforge.bridge import terminal as term
from codeforge.bridge.link import Link
from codeforge.bridge.sessions import Identity, Session
from tests.bridge.channel_harness import ALICE, GUARD_S, ChannelBridge, until
from tests.conftest import RunningPlatform, free_port

BASH = ["bash", "--norc", "--noprofile", "-i"]


@dataclass
class Screen:
    """The client end of one terminal link: what it has shown and which controls came."""

    link: Link
    out: bytearray = field(default_factory=bytearray)
    controls: list[dict[str, Any]] = field(default_factory=list)

    async def _take(self) -> None:
        message = await self.link.receive()
        if isinstance(message, bytes):
            self.out += message
        else:
            self.controls.append(json.loads(message))

    async def expect(self, needle: str) -> None:
        try:
            async with asyncio.timeout(GUARD_S):
                while needle.encode() not in self.out:
                    await self._take()
        except TimeoutError:
            pytest.fail(f"{needle!r} never appeared; the terminal showed {bytes(self.out[-600:])!r}")

    async def control(self, *kinds: str) -> dict[str, Any]:
        async with asyncio.timeout(GUARD_S):
            while not any(c["type"] in kinds for c in self.controls):
                await self._take()
        return next(c for c in self.controls if c["type"] in kinds)

    async def type(self, text: str) -> None:
        await self.link.send(text.encode())

    async def run(self, command: str, needle: str) -> None:
        await self.type(command + "\r")
        await self.expect(needle)


class Bridge(ChannelBridge):
    def terminal(self, id: str) -> ptys.Terminal:
        return ptys.registry(self.shared).terminals[id]


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    # No platform listens there: terminals must start anyway and say so.
    b = Bridge(tmp_path, f"http://127.0.0.1:{free_port()}")
    yield b
    await b.stop()


async def _open(bridge: Bridge, session: Session, **params: str) -> tuple[Screen, dict[str, Any]]:
    params.setdefault("command", json.dumps(BASH))
    screen = Screen(await bridge.dial(session, "terminal", params))
    hello = await screen.control("hello", "error")
    return screen, hello


async def test_command_output_runs_in_the_workspace_and_says_the_platform_is_unreachable(bridge: Bridge) -> None:
    (bridge.workspace / "marker.txt").write_text("in-the-workspace")
    screen, hello = await _open(bridge, bridge.session())
    assert hello["attached"] is False
    await screen.run("cat marker.txt; echo sum-$((40+2))", "sum-42")
    assert b"in-the-workspace" in screen.out
    assert b"project variables not loaded" in screen.out  # said in the terminal itself
    await screen.run('echo "tok=${CODEFORGE_TOKEN:-none} id=$CODEFORGE_TERMINAL"', f"tok=none id={hello['id']}")


async def test_resize_is_seen_by_stty_and_bad_controls_are_refused(bridge: Bridge) -> None:
    screen, _ = await _open(bridge, bridge.session(), cols="100", rows="30")
    await screen.run("stty size", "30 100")
    await screen.link.send(json.dumps({"type": "resize", "cols": 132, "rows": 43}))
    await screen.run("stty size", "43 132")
    await screen.link.send(json.dumps({"type": "resize", "cols": 0, "rows": 43}))
    await screen.link.send("not json")
    await screen.link.send(json.dumps({"type": "signal", "name": "BOGUS"}))
    async with asyncio.timeout(GUARD_S):
        while len([c for c in screen.controls if c["type"] == "error"]) < 3:
            await screen._take()
    errors = [c["message"] for c in screen.controls if c["type"] == "error"]
    assert "cols and rows must be 1 to 1000" in errors[0]
    assert "bad control message" in errors[1]
    assert "bad signal 'BOGUS'" in errors[2]
    await screen.run("stty size", "43 132")  # still alive and unchanged


def _children_named(pid: int, name: str) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.name() == name]
    except psutil.NoSuchProcess:
        return []


async def test_ctrl_c_interrupts_the_foreground_job_and_the_shell_survives(bridge: Bridge) -> None:
    screen, hello = await _open(bridge, bridge.session())
    shell = bridge.terminal(hello["id"]).pid
    await screen.type("sleep 100\r")
    await until(lambda: bool(_children_named(shell, "sleep")), "sleep never started")
    await screen.type("\x03")  # Ctrl-C, through the pty's line discipline
    await screen.run("echo status-$?", "status-130")  # 128 + SIGINT: sleep was interrupted
    await until(lambda: not _children_named(shell, "sleep"), "sleep survived Ctrl-C")
    # The explicit signal message reaches the foreground job too.
    await screen.type("sleep 101\r")
    await until(lambda: bool(_children_named(shell, "sleep")), "sleep never started")
    await screen.link.send(json.dumps({"type": "signal", "name": "INT"}))
    await screen.run("echo again-$?", "again-130")
    assert psutil.Process(shell).is_running()


async def test_several_terminals_and_exit_codes(bridge: Bridge) -> None:
    session = bridge.session()
    (a, hello_a), (b, hello_b) = await asyncio.gather(_open(bridge, session), _open(bridge, session))
    assert hello_a["id"] != hello_b["id"]
    await a.run("echo A-$((1+1))", "A-2")
    await b.run("echo B-$((2+2))", "B-4")
    assert b"B-4" not in a.out and b"A-2" not in b.out
    await a.type("exit 7\r")
    assert (await a.control("exit"))["code"] == 7
    await b.run("echo still-$((3+3))", "still-6")  # the other one is untouched
    late, hello_late = await _open(bridge, session, attach=hello_a["id"])  # an ended one: its story
    assert hello_late["attached"] is True
    assert (await late.control("exit"))["code"] == 7 and b"A-2" in late.out
    assert ("terminal", hello_a["id"]) not in session.resources  # an exited terminal is no resource
    assert ("terminal", hello_b["id"]) in session.resources
    await b.type("kill -KILL $$\r")
    assert (await b.control("exit"))["code"] == 128 + signal.SIGKILL


async def test_a_program_that_leaves_a_job_holding_the_pty_still_ends(bridge: Bridge) -> None:
    command = json.dumps(["bash", "-c", "sleep 30 & echo last-words-$((2+3)); exit 4"])
    screen, _ = await _open(bridge, bridge.session(), command=command)
    assert (await screen.control("exit"))["code"] == 4
    assert b"last-words-5" in screen.out  # written just before the exit, still delivered


async def test_attach_gets_the_scrollback_and_only_the_owner_may(bridge: Bridge) -> None:
    first = bridge.session()
    screen, hello = await _open(bridge, first)
    await screen.run("echo before-$((6*7))", "before-42")
    # The same user from another session (another editor, or `connect` restarted).
    again, hello2 = await _open(bridge, bridge.session(), attach=hello["id"], cols="90", rows="20")
    assert hello2 == {"type": "hello", "id": hello["id"], "cols": 90, "rows": 20, "attached": True}
    await again.expect("before-42")  # the scrollback came first
    await again.run("echo after-$((7*7))", "after-49")
    await screen.expect("after-49")  # both watch the same terminal
    # Another user is told there is no such terminal, the same as for an unknown id.
    _, refused = await _open(bridge, bridge.session(Identity("mallory", "developer", "acme")), attach=hello["id"])
    assert refused["type"] == "error" and "no terminal" in refused["message"]
    _, unknown = await _open(bridge, first, attach="nope")
    assert unknown["type"] == "error" and "no terminal 'nope'" in unknown["message"]


async def test_a_terminal_outlives_a_dropped_link_and_ends_with_its_last_session(bridge: Bridge) -> None:
    first = bridge.session()
    screen, hello = await _open(bridge, first)
    shell = bridge.terminal(hello["id"]).pid
    await screen.type("sleep 300 &\r")
    await until(lambda: bool(_children_named(shell, "sleep")), "the background job never started")
    job = _children_named(shell, "sleep")[0].pid
    # The first session ends (its grace period is over): a second session attached, so it lives.
    second = bridge.session()
    again, _ = await _open(bridge, second, attach=hello["id"])
    await bridge.sessions.end(first, "grace period over")
    await again.run("echo alive-$((8*8))", "alive-64")
    # The last owner ends: the shell and its background job are gone.
    await bridge.sessions.end(second, "grace period over")
    assert hello["id"] not in ptys.registry(bridge.shared).terminals

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await until(lambda: gone(shell) and gone(job), "the terminal's processes survived its session")


async def test_closing_the_resource_closes_the_terminal(bridge: Bridge) -> None:
    session = bridge.session()
    screen, hello = await _open(bridge, session)
    await screen.run("echo up-$((1+2))", "up-3")
    assert await bridge.sessions.close_resource(session, "terminal", hello["id"])
    assert (await screen.control("exit"))["code"] == 128 + signal.SIGHUP


async def test_a_program_that_ignores_the_hangup_is_killed(bridge: Bridge) -> None:
    session = bridge.session()
    command = json.dumps(["bash", "-c", "trap '' HUP; sleep 300 & echo deaf-$((4*4)); wait"])
    screen, hello = await _open(bridge, session, command=command)
    await screen.expect("deaf-16")
    shell = bridge.terminal(hello["id"]).pid
    await until(lambda: bool(_children_named(shell, "sleep")), "the job never started")
    job = _children_named(shell, "sleep")[0]
    assert await bridge.sessions.close_resource(session, "terminal", hello["id"])
    assert (await screen.control("exit"))["code"] == 128 + signal.SIGKILL
    await until(lambda: not job.is_running() or job.status() == psutil.STATUS_ZOMBIE, "the deaf job survived")


async def test_bad_requests_are_refused(bridge: Bridge) -> None:
    # A refused link closes, and with it a session that has no other link: one session each.
    _, hello = await _open(bridge, bridge.session(), command="rm -rf /")
    assert "bad command" in hello["message"]
    _, hello = await _open(bridge, bridge.session(), command=json.dumps(["no-such-program-here"]))
    assert "no such program" in hello["message"]
    _, hello = await _open(bridge, bridge.session(), cols="٨٠")  # Arabic-Indic digits are not a size
    assert "bad cols" in hello["message"]


async def test_project_variables_and_secrets_reach_the_shell(live_platform: RunningPlatform, tmp_path: Path) -> None:
    client = live_platform.client()
    client.call("env.set", {"project": "demo", "name": "GREETING", "value": "hello-from-env"})
    client.call("env.set", {"project": "demo", "name": "API_KEY", "value": "s3cr3t-value", "secret": True})
    bridge = Bridge(tmp_path, live_platform.url, token=live_platform.token)
    try:
        screen, _ = await _open(bridge, bridge.session(ALICE))
        await screen.run('echo "[$GREETING] [${#API_KEY}]"', "[hello-from-env] [12]")
        assert b"not loaded" not in screen.out
    finally:
        await bridge.stop()


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def test_client_half_relays_a_local_tty_in_raw_mode_and_returns_the_exit_code(bridge: Bridge) -> None:
    """`connect_terminal` with a local pty as its stdio, the test playing the user's emulator."""
    master, slave = os.openpty()
    _set_size(master, 120, 40)
    before = termios.tcgetattr(slave)
    session = bridge.session()

    dial = bridge.dialer(session)
    os.set_blocking(master, False)
    shown = bytearray()

    async def expect(needle: bytes) -> None:
        async with asyncio.timeout(GUARD_S):
            while needle not in shown:
                try:
                    shown.extend(os.read(master, 65536))
                except BlockingIOError:
                    await asyncio.sleep(0.01)

    stderr_r, stderr_w = os.pipe()
    relay = asyncio.create_task(term.connect_terminal(dial, None, BASH, stdin=slave, stdout=slave, stderr=stderr_w))
    try:
        await expect(b"bash-")  # the prompt
        assert not termios.tcgetattr(slave)[3] & termios.ECHO  # raw: the remote shell echoes
        os.write(master, b"stty size\r")
        await expect(b"40 120")
        (tid,) = ptys.registry(bridge.shared).terminals
        _set_size(master, 99, 33)
        os.kill(os.getpid(), signal.SIGWINCH)
        await until(lambda: bridge.terminal(tid).cols == 99, "the resize never reached the bridge")
        os.write(master, b"stty size; exit 3\r")
        await expect(b"33 99")
        assert await asyncio.wait_for(relay, GUARD_S) == 3
        assert termios.tcgetattr(slave) == before  # the local tty is restored
        assert f"--attach {tid}".encode() in os.read(stderr_r, 4096)
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        for fd in (master, slave, stderr_r, stderr_w):
            os.close(fd)


async def test_client_half_says_why_when_the_session_ends_under_it(bridge: Bridge) -> None:
    master, slave = os.openpty()
    stderr_r, stderr_w = os.pipe()
    session = bridge.session()
    relay = asyncio.create_task(
        term.connect_terminal(bridge.dialer(session), None, BASH, stdin=slave, stdout=slave, stderr=stderr_w)
    )
    try:
        await until(lambda: bool(ptys.registry(bridge.shared).terminals), "the terminal never started")
        await bridge.sessions.end(session, "grace period over")
        assert await asyncio.wait_for(relay, GUARD_S) == 1
        said = os.read(stderr_r, 4096).decode()
        assert "ended before the program did (session ended: grace period over)" in said
        assert not ptys.registry(bridge.shared).terminals  # and the terminal is gone
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        for fd in (master, slave, stderr_r, stderr_w):
            os.close(fd)
