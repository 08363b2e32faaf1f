"""A small asynchronous DAP client for tests, as an editor's debugger is: requests with
their own `seq`, responses matched by `request_seq`, events kept in order.

It speaks over a bridge link (one DAP message per link message) or over a stream pair
(Content-Length framing: `codeforge connect --dap`'s stdio, a debugpy adapter's socket).
Waits are hang guards that fail saying what was awaited, never timed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from codeforge.bridge.dap_adapter import frame, read_frame
from codeforge.bridge.link import Link, LinkClosed

__all__ = ["GUARD_S", "DapTestClient"]

GUARD_S = 30.0


class DapTestClient:
    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]], name: str = "client") -> None:
        self._send = send
        self.name = name
        self.seq = 0
        self.answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.closed = False
        self._reader: asyncio.Task[None] | None = None

    # -- transports --------------------------------------------------------------------------

    @classmethod
    def over_link(cls, link: Link, name: str = "client") -> DapTestClient:
        async def send(message: dict[str, Any]) -> None:
            await link.send(json.dumps(message))

        async def messages() -> Any:
            with contextlib.suppress(LinkClosed):
                while True:
                    yield json.loads(await link.receive())

        client = cls(send, name)
        client.link = link  # type: ignore[attr-defined]
        client._reader = asyncio.ensure_future(client._read(messages()))
        return client

    @classmethod
    def over_streams(cls, reader: asyncio.StreamReader, writer: Any, name: str = "client") -> DapTestClient:
        async def send(message: dict[str, Any]) -> None:
            writer.write(frame(message))
            await writer.drain()

        async def messages() -> Any:
            while (body := await read_frame(reader)) is not None:
                yield json.loads(body)

        client = cls(send, name)
        client._reader = asyncio.ensure_future(client._read(messages()))
        return client

    async def _read(self, messages: Any) -> None:
        try:
            async for message in messages:
                self.received.append(message)
                if message.get("type") == "response":
                    future = self.answers.pop(message.get("request_seq"), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("type") == "event":
                    self.events.append(message)
                elif message.get("type") == "request":  # a reverse request: say no
                    await self.send_raw(
                        {"type": "response", "request_seq": message["seq"], "success": False,
                         "command": message.get("command"), "message": "not supported by the test client"}
                    )  # fmt: skip
                self.changed.set()
        finally:
            self.closed = True
            self.changed.set()

    # -- requests and events ---------------------------------------------------------------------

    async def send_raw(self, message: dict[str, Any]) -> None:
        self.seq += 1
        await self._send({"seq": self.seq, **message})

    async def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response (success or not)."""
        self.seq += 1
        seq = self.seq
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[seq] = future
        message: dict[str, Any] = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        await self._send(message)
        try:
            async with asyncio.timeout(GUARD_S):
                return await future
        except TimeoutError:
            raise AssertionError(f"{self.name}: no response to {command}") from None

    async def ok(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body of a successful response."""
        answer = await self.request(command, arguments)
        assert answer.get("success"), f"{self.name}: {command} failed: {answer.get('message')}"
        return answer.get("body") or {}

    async def event(self, name: str, check: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        """The body of the first `name` event (seen or to come) that passes `check`; consumed."""
        try:
            async with asyncio.timeout(GUARD_S):
                while True:
                    for event in self.events:
                        if event.get("event") == name and check(event.get("body") or {}):
                            self.events.remove(event)
                            return event.get("body") or {}
                    if self.closed:
                        raise AssertionError(f"{self.name}: the connection ended before a {name} event")
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            seen = [e.get("event") for e in self.events]
            raise AssertionError(f"{self.name}: no {name} event (saw {seen})") from None

    # -- a debugging conversation ----------------------------------------------------------------

    async def initialize(self) -> dict[str, Any]:
        return await self.ok(
            "initialize",
            {"clientID": "codeforge-tests", "adapterID": "debugpy", "pathFormat": "path", "linesStartAt1": True,
             "columnsStartAt1": True, "supportsVariableType": True},
        )  # fmt: skip

    async def start(
        self,
        command: str,
        arguments: dict[str, Any],
        breakpoints: dict[str, list[dict[str, Any]]] | None = None,
    ) -> tuple[asyncio.Future[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """launch/attach as editors do: the request, then (after `initialized`) breakpoints and
        configurationDone; the launch answer comes after configurationDone."""
        self.seq += 1
        seq = self.seq
        started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[seq] = started
        await self._send({"seq": seq, "type": "request", "command": command, "arguments": arguments})
        await self.event("initialized")
        results = {}
        for path, bps in (breakpoints or {}).items():
            body = await self.ok("setBreakpoints", {"source": {"path": path}, "breakpoints": bps})
            results[path] = body["breakpoints"]
        await self.ok("configurationDone")
        return started, results

    async def top_frame(self, thread_id: int) -> dict[str, Any]:
        frames = (await self.ok("stackTrace", {"threadId": thread_id, "levels": 20}))["stackFrames"]
        return frames[0]

    async def locals(self, frame_id: int) -> dict[str, dict[str, Any]]:
        scopes = (await self.ok("scopes", {"frameId": frame_id}))["scopes"]
        ref = scopes[0]["variablesReference"]
        variables = (await self.ok("variables", {"variablesReference": ref}))["variables"]
        return {v["name"]: v for v in variables}

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
