"""The terminals behind the `terminal` channel: a program in a pty, its scrollback, who
watches it and which sessions own it (see terminal.py for the channel and docs/bridge.md,
"Terminals", for the lifetime rules)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from codeforge.bridge.sessions import ChannelContext

__all__ = ["SCROLLBACK_BYTES", "SIGNALS", "Terminal", "TerminalRegistry", "Watcher", "registry", "spawn_in_pty"]

SCROLLBACK_BYTES = 1 << 20
# A watcher this far behind pauses reading the pty: the program then blocks on its writes, as it
# would on a slow real terminal, instead of the bridge buffering without bound.
_HIGH_WATER = 4 << 20
_INPUT_HIGH_WATER = 1 << 20
_HANGUP_GRACE_S = 2.0
_DRAIN_QUIET_S = 0.2
_DRAIN_MAX_S = 2.0
SIGNALS: dict[str, signal.Signals] = {
    name: getattr(signal, f"SIG{name}")
    for name in ("INT", "QUIT", "TERM", "HUP", "KILL", "TSTP", "CONT", "USR1", "USR2", "WINCH")
}
# Runs in the child between fork and the shell: makes the pty its controlling terminal, which
# subprocess cannot do (start_new_session only calls setsid), so that Ctrl-C reaches the
# foreground job and bash has job control. A shim process avoids fork-without-exec in a
# threaded server (os.forkpty).
_CTTY_SHIM = (
    "import fcntl,os,sys,termios\n"
    "fcntl.ioctl(0,termios.TIOCSCTTY,0)\n"
    "try:os.execvp(sys.argv[1],sys.argv[1:])\n"
    "except OSError as e:sys.stderr.write(f'codeforge: cannot run {sys.argv[1]}: {e.strerror}\\r\\n');os._exit(127)"
)


def _size_bytes(cols: int, rows: int) -> bytes:
    return struct.pack("HHHH", rows, cols, 0, 0)


async def spawn_in_pty(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], cols: int, rows: int
) -> tuple[asyncio.subprocess.Process, int]:
    """`argv` in a new pty that is its controlling terminal, in a session of its own; the
    process and the pty's master end (non-blocking). Terminals and SSH shells start so."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, _size_bytes(cols, rows))
        os.set_blocking(master, False)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _CTTY_SHIM, *argv,
            stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=dict(env), start_new_session=True,
        )  # fmt: skip
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)  # the child holds it; ours would keep the pty open after it exits
    return process, master


def _exit_code(returncode: int) -> int:
    """A shell's convention: 128 + N for a program killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _killpg(group: int, signum: int) -> None:
    """Signal a terminal's process group. tcgetpgrp answers 0 for a pty whose session ended,
    and killpg(0) would signal the bridge's own group: only a group of another session."""
    with contextlib.suppress(OSError):
        if group > 1 and group != os.getpgrp():
            os.killpg(group, signum)


def _session_processes(sid: int, leader_reaped: bool) -> list[psutil.Process]:
    """Every process of a terminal's session but its leader (the program, our child, which
    asyncio reaps), including jobs in their own process groups.
    Once the leader is reaped its pid may be reused, by a process that could lead a session of
    its own: then none of them is the terminal's (the kernel keeps a pid from reuse while a
    session of that id has members)."""
    if leader_reaped and psutil.pid_exists(sid):
        return []
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == sid and proc.pid not in (sid, os.getpid()) and _alive(proc):
                found.append(proc)
    return found


def _hang_up(processes: list[psutil.Process]) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGHUP)
            proc.send_signal(signal.SIGCONT)  # a stopped job hears the hangup too


def _alive(proc: psutil.Process) -> bool:
    """Running, not a zombie (an orphan's zombie lingers where init does not reap)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_after(processes: list[psutil.Process], grace: float) -> None:
    """SIGKILL what of `processes` (none of them our child) is still alive after `grace`."""
    deadline = time.monotonic() + grace
    alive = [p for p in processes if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


@dataclass(eq=False)
class Watcher:
    """One link's view of a terminal: what it has yet to send."""

    pending: bytearray
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Terminal:
    """A program in a pty, its scrollback, and who watches and owns it."""

    def __init__(self, id: str, owner: tuple[str, str], label: str, process: asyncio.subprocess.Process, master: int):
        self.id = id
        self.owner = owner  # (organization, username): only they may attach
        self.label = label
        self.cols, self.rows = 80, 24
        self.scrollback = bytearray()
        self.exit_code: int | None = None
        self.exited = asyncio.Event()
        self._process = process
        self._master = master
        self._watchers: set[Watcher] = set()
        self._input = bytearray()
        self._input_drained = asyncio.Event()
        self._input_drained.set()
        self._reading = False
        self._closing: asyncio.Task[None] | None = None
        # session id -> how to drop this terminal from that session's resources
        self.sessions: dict[str, Callable[[], None]] = {}
        self._waiter = asyncio.get_running_loop().create_task(self._wait())

    @classmethod
    async def start(
        cls, id: str, *, owner: tuple[str, str], argv: list[str], cwd: Path, env: dict[str, str], cols: int, rows: int
    ) -> Terminal:
        process, master = await spawn_in_pty(argv, cwd=cwd, env=env, cols=cols, rows=rows)
        # The label is what `bridges.list` shows: the program's name, never its arguments.
        terminal = cls(id, owner, Path(argv[0]).name, process, master)
        terminal.cols, terminal.rows = cols, rows
        terminal._resume_reading()
        return terminal

    @property
    def pid(self) -> int:
        return self._process.pid

    # output --------------------------------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self._reading and self._master >= 0 and self.exit_code is None:
            asyncio.get_running_loop().add_reader(self._master, self._read)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._master)
            self._reading = False

    def _read(self) -> None:
        """The pty is readable: take what it has. EIO means every slave end closed."""
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.feed(data)
        else:
            self._pause_reading()

    async def _drain(self) -> None:
        """What the program wrote before it exited (the kernel may hand it to the master end a
        moment later): read until EIO (every slave end closed), or, when a job left in the
        background holds the pty open, until it has been quiet for a moment."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _DRAIN_MAX_S
        quiet_until = loop.time() + _DRAIN_QUIET_S
        while self._master >= 0 and loop.time() < give_up:
            try:
                data = os.read(self._master, 65536)
            except BlockingIOError:
                if loop.time() > quiet_until:
                    return
                await asyncio.sleep(0.01)
                continue
            except OSError:
                return
            if not data:
                return
            self.feed(data)
            quiet_until = loop.time() + _DRAIN_QUIET_S

    def feed(self, data: bytes) -> None:
        """Output for the scrollback and every watcher (the bridge's own notes go here too)."""
        self.scrollback += data
        if len(self.scrollback) > SCROLLBACK_BYTES:
            del self.scrollback[: len(self.scrollback) - SCROLLBACK_BYTES]
        for watcher in self._watchers:
            watcher.pending += data
            watcher.wake.set()
            if len(watcher.pending) > _HIGH_WATER:
                self._pause_reading()

    def watch(self) -> Watcher:
        """A new watcher, starting with the scrollback."""
        watcher = Watcher(bytearray(self.scrollback))
        watcher.wake.set()
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        self.drained()

    def drained(self) -> None:
        """A watcher sent what it had: read again if every watcher is below the high-water mark."""
        if all(len(w.pending) <= _HIGH_WATER for w in self._watchers):
            self._resume_reading()

    async def _wait(self) -> None:
        returncode = await self._process.wait()
        # The program wrote its last output before it exited: drain what the pty still holds.
        self._pause_reading()
        await self._drain()
        self.exit_code = _exit_code(returncode)
        self._close_master()
        for drop in list(self.sessions.values()):
            drop()
        self.exited.set()
        for watcher in self._watchers:
            watcher.wake.set()

    # input and control ---------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Type `data`; waits while the program has not read a backlog of earlier input."""
        if self.exit_code is not None or self._master < 0:
            return
        self._input += data
        self._flush_input()
        while len(self._input) > _INPUT_HIGH_WATER and self._master >= 0:
            self._input_drained.clear()
            await self._input_drained.wait()

    def _flush_input(self) -> None:
        loop = asyncio.get_running_loop()
        while self._input and self._master >= 0:
            try:
                written = os.write(self._master, self._input)
            except BlockingIOError:
                break
            except OSError:
                self._input.clear()
                break
            del self._input[:written]
        if self._master < 0:
            return
        loop.remove_writer(self._master)
        if self._input:
            loop.add_writer(self._master, self._flush_input)
        if len(self._input) <= _INPUT_HIGH_WATER:
            self._input_drained.set()

    def resize(self, cols: int, rows: int) -> None:
        """The kernel sends SIGWINCH to the foreground job when the size changes."""
        if self._master >= 0:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, _size_bytes(cols, rows))
            self.cols, self.rows = cols, rows

    def signal(self, name: str) -> None:
        """Send a signal to the foreground job (what Ctrl-C would reach), or the shell."""
        signum = SIGNALS[name]
        group = self.pid
        if self._master >= 0:
            with contextlib.suppress(OSError):
                group = os.tcgetpgrp(self._master) or group
        _killpg(group, signum)

    # closing -------------------------------------------------------------------------------

    def _close_master(self) -> None:
        if self._master >= 0:
            loop = asyncio.get_running_loop()
            loop.remove_writer(self._master)
            self._pause_reading()
            os.close(self._master)
            self._master = -1
            self._input_drained.set()

    async def close(self) -> None:
        """SIGHUP to the terminal's jobs, SIGKILL to what is left of its session after a grace."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self.exit_code is None:
            groups = {self.pid}
            if self._master >= 0:
                with contextlib.suppress(OSError):
                    groups.add(os.tcgetpgrp(self._master))
            # A hangup, as when a terminal window closes: without its pty, a shell's read fails
            # even when the signal arrives where readline defers it until the next key.
            self._close_master()
            for group in groups:
                _killpg(group, signal.SIGHUP)
                _killpg(group, signal.SIGCONT)  # a stopped job hears the hangup too
        # Jobs left in its session (in the background, or in process groups of their own) are
        # hung up too; whatever is left after the grace, the program included, is killed.
        leftovers = await asyncio.to_thread(_session_processes, self.pid, self.exit_code is not None)
        await asyncio.to_thread(_hang_up, leftovers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited.wait()), _HANGUP_GRACE_S)
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()  # not reaped yet, so still our child: the pid is ours
        await asyncio.to_thread(_kill_after, leftovers, 0.0 if self.exit_code is None else _HANGUP_GRACE_S)
        await asyncio.shield(self._waiter)


class TerminalRegistry:
    """The bridge's terminals by id."""

    def __init__(self) -> None:
        self.terminals: dict[str, Terminal] = {}

    def adopt(self, terminal: Terminal, ctx: ChannelContext) -> None:
        """Make `ctx`'s session an owner: the terminal is its resource, and lives until every
        owning session has ended or an operation closes it."""
        session = ctx.session
        if session.id in terminal.sessions:
            return

        async def release() -> None:
            terminal.sessions.pop(session.id, None)
            if not terminal.sessions:
                self.terminals.pop(terminal.id, None)
                await terminal.close()

        async def close_resource() -> None:
            # A session's end closes its resources too: then this session only lets go (a
            # terminal another session attached lives on); otherwise an operation closed it.
            if session.ended:
                await release()
            else:
                self.terminals.pop(terminal.id, None)
                await terminal.close()

        if terminal.exit_code is None:
            ctx.add_resource("terminal", terminal.id, terminal.label, close_resource)
        terminal.sessions[session.id] = lambda: ctx.remove_resource("terminal", terminal.id)
        ctx.on_session_end(release)

    async def close_all(self) -> None:
        terminals = list(self.terminals.values())
        self.terminals.clear()
        await asyncio.gather(*(t.close() for t in terminals))


def registry(shared: dict[str, Any]) -> TerminalRegistry:
    found = shared.setdefault("terminals", TerminalRegistry())
    assert isinstance(found, TerminalRegistry)
    return found
