"""What one SSH session channel runs in the workspace: a shell (with or without a pty) or a
command (`ssh host cmd`, `rsync --server …`), as OpenSSH's sshd would run it.

The data is pumped by hand instead of with asyncssh's `redirect`: the exit status must follow
the last byte of output (rsync and scp read to the end before they look at it), and
`redirect` does not wait for the pipes to drain before the status is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TypeVar

import asyncssh

from codeforge.bridge.ptys import spawn_in_pty

__all__ = ["run_session"]

T = TypeVar("T")

# Variables a client may pass (`SendEnv`), as Debian's sshd accepts them.
_ACCEPTED_ENV = ("LANG", "LC_")
_CHUNK = 65536


def _winsize(size: tuple[int, int, int, int]) -> bytes:
    cols, rows, xpixels, ypixels = size
    return struct.pack("HHHH", rows or 24, cols or 80, xpixels, ypixels)


def _set(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _read_fd(fd: int) -> bytes:
    """The next bytes from a non-blocking descriptor; b"" at its end (EIO for a pty whose
    processes all closed it)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _set, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise


async def _write_fd(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, _set, ready)
            try:
                await ready
            finally:
                loop.remove_writer(fd)


def _drain_now(fd: int) -> bytes:
    """What a pty holds right now, without waiting: the last output of a shell that exited."""
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
    return b"".join(chunks)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class _ChannelClosed(Exception):
    """The client closed the channel (or the connection) before the command ended."""


async def _until_closed(process: asyncssh.SSHServerProcess[bytes], work: Awaitable[T]) -> T:
    """`work`'s result, or _ChannelClosed as soon as the client closes the channel: a shell
    waiting on its pty would otherwise outlive its client."""
    task = asyncio.ensure_future(work)
    closed = asyncio.ensure_future(process.wait_closed())
    try:
        await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
    if not task.done():
        task.cancel()
        raise _ChannelClosed
    return task.result()


def _report_exit(process: asyncssh.SSHServerProcess[bytes], returncode: int) -> None:
    if returncode >= 0:
        process.exit(returncode)
    else:
        name = signal.Signals(-returncode).name.removeprefix("SIG")
        process.exit_with_signal(name)


class _Stdin:
    """The client's input, with the out-of-band events asyncssh raises from reads."""

    def __init__(self, process: asyncssh.SSHServerProcess[bytes], pid: int, pty: int | None) -> None:
        self.process, self.pid, self.pty = process, pid, pty

    async def next(self) -> bytes:
        """The next chunk; b"" at EOF. Resizes and signals are applied on the way."""
        while True:
            try:
                return await self.process.stdin.read(_CHUNK)
            except asyncssh.TerminalSizeChanged as change:
                if self.pty is not None:
                    fcntl.ioctl(self.pty, termios.TIOCSWINSZ, _winsize(change.term_size))
                    _signal_group(self.pid, signal.SIGWINCH)
            except asyncssh.SignalReceived as received:
                sig = getattr(signal, f"SIG{received.signal}", None)
                if isinstance(sig, signal.Signals):
                    _signal_group(self.pid, sig)
            except asyncssh.BreakReceived:
                _signal_group(self.pid, signal.SIGINT)


async def _run_pty(process: asyncssh.SSHServerProcess[bytes], argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    cols, rows, _, _ = process.term_size
    child, master = await spawn_in_pty(argv, cwd=cwd, env=env, cols=cols or 80, rows=rows or 24)
    stdin = _Stdin(process, child.pid, master)

    async def inbound() -> None:
        while data := await stdin.next():
            await _write_fd(master, data)

    async def outbound() -> None:
        while data := await _read_fd(master):
            process.stdout.write(data)
            await process.stdout.drain()

    pumps = [asyncio.ensure_future(inbound()), asyncio.ensure_future(outbound())]
    try:
        returncode = await _until_closed(process, child.wait())
        # A background job may keep the pty open for ever: take what the shell left, then end
        # (as sshd does), rather than waiting for the pty to close.
        pumps[1].cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await pumps[1]
        if rest := _drain_now(master):
            process.stdout.write(rest)
            await process.stdout.drain()
        return returncode
    finally:
        for pump in pumps:
            pump.cancel()
        _signal_group(child.pid, signal.SIGHUP)  # what closing a terminal does
        os.close(master)


async def _run_pipes(process: asyncssh.SSHServerProcess[bytes], argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    child = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    assert child.stdin and child.stdout and child.stderr
    stdin = _Stdin(process, child.pid, None)
    child_in = child.stdin

    async def inbound() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while data := await stdin.next():
                child_in.write(data)
                await child_in.drain()
            child_in.close()  # the client's EOF is the command's

    async def outbound(source: asyncio.StreamReader, target: asyncssh.SSHWriter[bytes]) -> None:
        while data := await source.read(_CHUNK):
            target.write(data)
            await target.drain()

    feeder = asyncio.ensure_future(inbound())
    try:
        # Output first, to its end, then the status: scp and rsync read all before they look.
        outputs = asyncio.gather(outbound(child.stdout, process.stdout), outbound(child.stderr, process.stderr))
        await _until_closed(process, outputs)
        return await child.wait()
    finally:
        feeder.cancel()
        if child.returncode is None:  # the client went away mid-command
            _signal_group(child.pid, signal.SIGHUP)


def _environment(process: asyncssh.SSHServerProcess[bytes], base: Mapping[str, str], cwd: Path) -> dict[str, str]:
    env = dict(base)
    for name, value in process.env.items():
        if isinstance(name, str) and isinstance(value, str) and name.startswith(_ACCEPTED_ENV):
            env[name] = value
    if term := process.term_type:
        env["TERM"] = term
    env["PWD"] = str(cwd)
    return env


async def run_session(
    process: asyncssh.SSHServerProcess[bytes],
    *,
    cwd: Path,
    env: Mapping[str, str],
    shell: str,
    notes: list[str] | tuple[str, ...] = (),
) -> None:
    """Serve one session channel: its shell or command, in `cwd`, to the end. `notes` (what
    the environment lacks, and why) are shown to a person at an interactive shell only: a
    command's output stays what the command wrote."""
    if process.subsystem:  # sftp is served by asyncssh before it gets here
        process.stderr.write(f"codeforge: subsystem {process.subsystem!r} is not available\r\n".encode())
        process.exit(1)
        return
    command = process.command
    # As sshd: the user's shell runs the command line (`-c`), or a login shell without one.
    argv = [shell, "-l"] if command is None else [shell, "-c", command]
    environment = _environment(process, env, cwd)
    if notes and command is None and process.term_type:
        process.stdout.write("".join(f"\x1b[33m[codeforge] {n}\x1b[0m\r\n" for n in notes).encode())
    try:
        if process.term_type:
            returncode = await _run_pty(process, argv, cwd, environment)
        else:
            returncode = await _run_pipes(process, argv, cwd, environment)
    except _ChannelClosed:
        return  # its processes got SIGHUP; nobody is left to tell
    except OSError as exc:
        process.stderr.write(f"codeforge: cannot run {argv[0]}: {exc.strerror or exc}\r\n".encode())
        process.exit(127)
        return
    if not process.is_closing():
        _report_exit(process, returncode)
