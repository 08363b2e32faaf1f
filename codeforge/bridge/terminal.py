"""Channel `terminal`: ptys in the workspace that outlive their link, and the client half.

Wire (on one `terminal` link): binary messages are raw terminal bytes both ways; text
messages are JSON control messages:

- client → bridge: `{"type": "resize", "cols", "rows"}`, `{"type": "signal", "name": "INT"}`
- bridge → client: `{"type": "hello", "id", "cols", "rows", "attached"}` first, then the
  scrollback (on attach) and live output, `{"type": "exit", "code"}` when the program ended,
  `{"type": "error", "message"}` for a refused request.

Link parameters: `cols`, `rows` (the client's size), `command` (a JSON list of strings; the
user's `$SHELL` or bash when absent) or `attach` (a terminal id: join that terminal).

A terminal lives in a registry shared bridge-wide (`ctx.shared["terminals"]`), not in its
link, so a dropped or closed link leaves it running with its scrollback; the sessions that
opened or attached it own it, and it is closed (SIGHUP, then SIGKILL) when the last of them
ends or when a `bridges.close` operation closes its resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import termios
import tty
import uuid
from typing import Any

from codeforge.bridge.collab_seat import Seat, SeatRefused, take_seat
from codeforge.bridge.link import Dial, Link, LinkClosed
from codeforge.bridge.project_env import base_env, project_env
from codeforge.bridge.ptys import SIGNALS, Terminal, TerminalRegistry, Watcher, registry
from codeforge.bridge.sessions import ChannelContext

__all__ = ["connect_terminal", "serve"]


def _default_shell() -> list[str]:
    shell = os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"
    return [shell]


# the channel ------------------------------------------------------------------------------


class _Refused(Exception):
    """A request this channel will not serve; the message goes to the client as-is."""


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 1000):
        raise _Refused(f"bad {name} {raw!r}: expected a whole number from 1 to 1000")
    return int(raw)


def _command_param(params: dict[str, str]) -> list[str] | None:
    raw = params.get("command")
    if raw is None:
        return None
    try:
        command = json.loads(raw)
    except ValueError:
        command = None
    if not (isinstance(command, list) and command and all(isinstance(a, str) and "\0" not in a for a in command)):
        raise _Refused('bad command: expected a non-empty JSON list of strings, e.g. ["bash", "-l"]')
    return command


async def _open_shared(ctx: ChannelContext, terminals: TerminalRegistry, attach: str | None) -> tuple[Terminal, Seat]:
    """A collaboration participant attaching to the session host's terminal. Its bridge
    session does not own the terminal (the host's sessions do): it only watches and, while
    its role allows, types."""
    if attach is None:
        raise _Refused("--collab goes with --attach ID: the host's terminal to join (the host's `connect` prints it)")
    try:
        seat = await take_seat(ctx, ctx.params["collab"])
    except SeatRefused as exc:
        raise _Refused(str(exc)) from None
    found = terminals.terminals.get(attach)
    if found is None or found.owner != (ctx.session.user.organization, seat.host):
        seat.release()
        raise _Refused(f"no terminal {attach!r} of {seat.host}, the host of collaboration session {seat.session}")
    if found.exit_code is None and seat.may_edit():
        found.resize(_int_param(ctx.params, "cols", found.cols), _int_param(ctx.params, "rows", found.rows))
    return found, seat


async def _open(ctx: ChannelContext, terminals: TerminalRegistry) -> tuple[Terminal, bool]:
    """The terminal this link asked for: attached by id, or started; and whether attached."""
    params = ctx.params
    cols, rows = _int_param(params, "cols", 80), _int_param(params, "rows", 24)
    owner = (ctx.session.user.organization, ctx.session.user.username)
    attach = params.get("attach")
    if attach is not None:
        found = terminals.terminals.get(attach)
        if found is None or found.owner != owner:  # another user's terminal is not even named
            raise _Refused(f"no terminal {attach!r} on this bridge (it ended, or was never yours)")
        if found.exit_code is None:
            found.resize(cols, rows)
        terminals.adopt(found, ctx)
        return found, True
    argv = _command_param(params) or _default_shell()
    program = ctx.workspace / argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if program is None or not os.access(program, os.X_OK):
        raise _Refused(f"cannot start {argv[0]!r}: no such program in the workspace (check the name and PATH)")
    values, notes = await project_env(ctx)
    id = uuid.uuid4().hex[:12]
    env = {**base_env(), **values, "CODEFORGE_PROJECT": ctx.project, "CODEFORGE_TERMINAL": id}
    try:
        terminal = await Terminal.start(id, owner=owner, argv=argv, cwd=ctx.workspace, env=env, cols=cols, rows=rows)
    except OSError as exc:
        raise _Refused(f"cannot start {argv[0]!r} in the workspace: {exc.strerror or exc}") from None
    if ctx.session.ended:  # it ended while the variables were fetched: nobody would close this one
        await terminal.close()
        raise _Refused("the session ended while the terminal started")
    if notes:  # the user sees why a variable is missing, in the terminal itself
        terminal.feed("".join(f"\x1b[33m[codeforge] {note}\x1b[0m\r\n" for note in notes).encode())
    terminals.terminals[terminal.id] = terminal
    terminals.adopt(terminal, ctx)
    return terminal, False


async def _control(link: Link, terminal: Terminal, text: str, seat: Seat | None) -> None:
    try:
        message = json.loads(text)
        kind = message["type"]
    except (ValueError, KeyError, TypeError):
        await link.send(json.dumps({"type": "error", "message": "bad control message: expected JSON with a type"}))
        return
    if seat is not None and not seat.may_edit() and kind in ("resize", "signal"):
        if kind == "signal":  # a watcher's window size is its own business: no message for it
            await link.send(json.dumps({"type": "error", "message": seat.why_not("sending a signal")}))
        return
    if kind == "resize":
        cols, rows = message.get("cols"), message.get("rows")
        if not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1000 for n in (cols, rows)):
            await link.send(json.dumps({"type": "error", "message": "bad resize: cols and rows must be 1 to 1000"}))
            return
        terminal.resize(cols, rows)
    elif kind == "signal":
        name = str(message.get("name", "")).upper().removeprefix("SIG")
        if name not in SIGNALS:
            allowed = ", ".join(SIGNALS)
            await link.send(json.dumps({"type": "error", "message": f"bad signal {name!r}: one of {allowed}"}))
            return
        terminal.signal(name)
    else:
        await link.send(json.dumps({"type": "error", "message": f"unknown control message type {kind!r}"}))


async def _pump(link: Link, terminal: Terminal, watcher: Watcher) -> None:
    """Send the terminal's output to the link; the exit status once all output is out."""
    while True:
        await watcher.wake.wait()
        watcher.wake.clear()
        if watcher.pending:
            chunk = bytes(watcher.pending)
            watcher.pending.clear()
            terminal.drained()
            await link.send(chunk)
        if terminal.exit_code is not None and not watcher.pending:
            await link.send(json.dumps({"type": "exit", "code": terminal.exit_code}))
            return


async def serve(link: Link, ctx: ChannelContext) -> None:
    terminals = registry(ctx.shared)
    seat: Seat | None = None
    try:
        if "collab" in ctx.params:
            terminal, seat = await _open_shared(ctx, terminals, ctx.params.get("attach"))
            attached = True
        else:
            terminal, attached = await _open(ctx, terminals)
    except _Refused as exc:
        await link.send(json.dumps({"type": "error", "message": str(exc)}))
        return
    hello: dict[str, object] = {
        "type": "hello", "id": terminal.id, "cols": terminal.cols, "rows": terminal.rows, "attached": attached,
    }  # fmt: skip
    if seat is not None:
        hello.update(collab=seat.session, role=seat.role, readOnly=not seat.may_edit())
    await link.send(json.dumps(hello))
    watcher = terminal.watch()
    pump = asyncio.create_task(_pump(link, terminal, watcher))
    told = False  # a refused typist hears why once per refusal spell, not once per key

    async def inbound() -> None:
        nonlocal told
        async for message in link:
            if isinstance(message, bytes):
                if seat is not None and not seat.may_edit():
                    if not told:
                        await link.send(json.dumps({"type": "error", "message": seat.why_not("typing")}))
                    told = True
                    continue
                told = False
                await terminal.write(message)
            else:
                await _control(link, terminal, message, seat)

    reader = asyncio.create_task(inbound())
    waits: set[asyncio.Future[Any]] = {pump, reader}
    ended = asyncio.ensure_future(seat.ended.wait()) if seat is not None else None
    if ended is not None:
        waits.add(ended)
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, reader):
            if task.done() and not task.cancelled() and not isinstance(task.exception(), LinkClosed):
                task.result()
        if seat is not None and seat.ended.is_set():
            # The participant's access ended (removed, or the session is over): their view of
            # the host's terminal closes; the terminal goes on for its owner.
            with contextlib.suppress(LinkClosed):
                await link.send(json.dumps({"type": "error", "message": f"terminal closed: {seat.end_reason}"}))
                await link.close(seat.end_reason)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        terminal.unwatch(watcher)
        if seat is not None:
            seat.release()


# the client half --------------------------------------------------------------------------


def _local_size(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return (size.columns, size.lines) if size.columns and size.lines else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _stdin_to_link(link: Link, fd: int) -> None:
    """Relay what is typed; at the end of a non-terminal stdin, Ctrl-D (the terminal's EOF)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    polling = False

    def readable() -> None:
        # Read here, in the callback of the poll that saw data: a read later could block on
        # readiness already consumed (stdin stays blocking: it may be shared with a shell).
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        chunks.put_nowait(data)
        if not data or chunks.qsize() > 64:  # at the end, or the link is behind: stop reading
            pause()

    def pause() -> None:
        nonlocal polling
        if polling:
            loop.remove_reader(fd)
            polling = False

    pollable = True
    try:
        loop.add_reader(fd, readable)
        polling = True
    except (PermissionError, ValueError):  # a regular file cannot be polled: read it in a thread
        pollable = False
    try:
        while True:
            if not pollable:
                data = await asyncio.to_thread(os.read, fd, 65536)
            else:
                data = await chunks.get()
                if data and not polling and chunks.qsize() < 8:
                    loop.add_reader(fd, readable)
                    polling = True
            if not data:
                await link.send(b"\x04")
                return
            await link.send(data)
    finally:
        pause()


def _say(fd: int, text: str) -> None:
    """A line for the user on stderr; `\\r\\n` because the tty may be in raw mode."""
    with contextlib.suppress(OSError):
        _write_all(fd, f"\x1b[2m[codeforge] {text}\x1b[0m\r\n".encode() if os.isatty(fd) else f"{text}\n".encode())


async def connect_terminal(
    dial: Dial,
    attach: str | None,
    command: list[str] | None,
    *,
    collab: str | None = None,
    stdin: int = 0,
    stdout: int = 1,
    stderr: int = 2,
) -> int:
    """Open (or with `attach`, join) a terminal in the workspace and relay it to this process's
    stdio until the program exits; returns its exit status (1 when the link is lost first).
    With `collab` (a collaboration session id), `attach` names the session host's terminal."""
    params: dict[str, str] = {}
    size = _local_size(stdout) or _local_size(stdin)
    if size:
        params["cols"], params["rows"] = str(size[0]), str(size[1])
    if collab is not None:
        params["collab"] = collab
    if attach is not None:
        params["attach"] = attach
    elif command:
        params["command"] = json.dumps(command)
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    if saved is not None:
        # Not echoed here while the bridge answers: what is typed meanwhile reaches the remote
        # shell, which echoes it, once. Ctrl-C still interrupts a dial that hangs.
        quiet = termios.tcgetattr(stdin)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(stdin, termios.TCSANOW, quiet)
    try:
        link = await dial("terminal", params)
    except BaseException:
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        raise
    loop = asyncio.get_running_loop()
    resize_fd = stdout if os.isatty(stdout) else stdin
    watching_size = False
    typing: asyncio.Task[None] | None = None
    terminal_id = attach or ""

    def on_resize() -> None:
        now = _local_size(resize_fd)
        if now:
            message = json.dumps({"type": "resize", "cols": now[0], "rows": now[1]})
            with contextlib.suppress(LinkClosed):
                link.send_nowait(message)

    try:
        first = await link.receive()
        hello = json.loads(first) if isinstance(first, str) else {}
        if hello.get("type") != "hello":
            _say(stderr, f"terminal refused: {hello.get('message', 'unexpected answer from the bridge')}")
            return 1
        terminal_id = str(hello["id"])
        if collab is not None:
            access = "read-only: output only" if hello.get("readOnly") else "read-write"
            _say(stderr, f"terminal {terminal_id} of collaboration session {collab}: {hello.get('role')}, {access}")
        else:
            _say(stderr, f"terminal {terminal_id}: reattach with `--terminal --attach {terminal_id}`")
        if saved is not None:
            tty.setraw(stdin, termios.TCSANOW)
        if os.isatty(resize_fd):
            loop.add_signal_handler(signal.SIGWINCH, on_resize)
            watching_size = True
        typing = asyncio.create_task(_stdin_to_link(link, stdin))
        async for message in link:
            if isinstance(message, bytes):
                _write_all(stdout, message)
                continue
            control = json.loads(message)
            if control.get("type") == "exit":
                return int(control["code"])
            if control.get("type") == "error":
                _say(stderr, str(control.get("message")))
        raise LinkClosed(link.close_reason)
    except LinkClosed as exc:
        # The session ended (grace period over, closed by an operation) or the bridge stopped.
        why = exc.reason or link.close_reason or "closed"
        _say(stderr, f"the link to terminal {terminal_id or '?'} ended before the program did ({why})")
        return 1
    finally:
        if typing is not None:
            typing.cancel()
            await asyncio.gather(typing, return_exceptions=True)
        if watching_size:
            loop.remove_signal_handler(signal.SIGWINCH)
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        with contextlib.suppress(LinkClosed):
            await link.close()
