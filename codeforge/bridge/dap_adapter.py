"""debugpy's debug adapter as a child of the bridge: `python -m debugpy.adapter` speaking DAP
(Content-Length framed JSON) on its stdin/stdout, in the workspace, in a process group of
its own, with the bridge's environment minus its tokens. Its stderr goes to the bridge's
log; the last lines are kept to say why it died.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from codeforge.bridge import framing
from codeforge.bridge.project_env import base_env

__all__ = ["Adapter", "AdapterError", "frame", "read_frame"]

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20


class AdapterError(Exception):
    pass


def frame(message: dict[str, Any]) -> bytes:
    return framing.frame(json.dumps(message, separators=(",", ":")).encode())


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One Content-Length framed body; None at the end of the stream."""
    try:
        return await framing.read_message(reader, limit=MAX_FRAME)
    except framing.FramingError as exc:
        raise AdapterError(str(exc)) from None


class Adapter:
    """One debug adapter: a `debugpy.adapter` child on stdio, or the adapter a process
    started with `debugpy --listen` runs (a TCP connection to its port)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | asyncio.StreamWriter,
        process: asyncio.subprocess.Process | None = None,
        where: str = "",
    ) -> None:
        self.reader = reader
        self.writer: Any = writer
        self.process = process
        self.where = where
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._stderr_task = asyncio.ensure_future(self._drain_stderr()) if process is not None else None

    @classmethod
    async def start(cls, workspace: Path) -> Adapter:
        env = base_env()  # the bridge's credentials never reach a debuggee
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "debugpy.adapter",
                cwd=workspace, env=env, start_new_session=True, limit=MAX_FRAME,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            raise AdapterError(f"the debug adapter (debugpy) could not start: {exc.strerror or exc}") from None
        assert process.stdout is not None and process.stdin is not None
        return cls(process.stdout, process.stdin, process, "debugpy.adapter")

    @classmethod
    async def connect(cls, host: str, port: int) -> Adapter:
        """The adapter of a process that runs `debugpy --listen HOST:PORT`."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_FRAME), 10)
        except (OSError, TimeoutError) as exc:
            raise AdapterError(
                f"nothing answers at {host}:{port} on the bridge's host ({exc}): start the program with "
                f"`python -m debugpy --listen {host}:{port} …` first"
            ) from None
        return cls(reader, writer, None, f"{host}:{port}")

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None if self.process is not None else self.writer.is_closing()

    def send(self, message: dict[str, Any]) -> None:
        if self.writer.is_closing():
            raise AdapterError("the debug adapter is not running")
        self.writer.write(frame(message))

    async def receive(self) -> dict[str, Any] | None:
        """The adapter's next message; None when it ended (or wrote something that is not DAP)."""
        try:
            body = await read_frame(self.reader)
        except (AdapterError, ValueError, ConnectionError) as exc:
            log.warning("the debug adapter wrote something that is not DAP (%s)", exc)
            return None
        if body is None:
            return None
        try:
            message = json.loads(body)
        except ValueError:
            log.warning("the debug adapter wrote a message that is not JSON")
            return None
        return message if isinstance(message, dict) else None

    async def wait(self) -> None:
        if self.process is not None:
            await self.process.wait()

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        with contextlib.suppress(Exception):
            while line := await self.process.stderr.readline():
                text = line.decode(errors="replace").rstrip()
                self.stderr_tail.append(text)
                log.debug("debugpy.adapter: %s", text)

    def clean_exit(self) -> bool:
        return self.process is None or self.process.returncode == 0

    def why(self) -> str:
        if self.process is None:
            return f"the connection to {self.where} closed"
        said = " | ".join(list(self.stderr_tail)[-3:])
        return f"exit status {self.process.returncode}" + (f"; it said: {said}" if said else "")

    async def stop(self, grace: float = 2.0) -> None:
        """End our side (the adapter's signal to end), wait `grace`, then SIGTERM its group, then SIGKILL."""
        if not self.writer.is_closing():
            self.writer.close()
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), grace)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.returncode is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 2.0)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
