"""The editor host's side of port forwarding (`codeforge connect URL --forward REMOTE[:LOCAL]`):
a listener on 127.0.0.1:LOCAL per spec, each accepted connection relayed over its own
`forward` stream link. The wire and the bridge's side are in ports.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass

from codeforge.bridge.link import Dial, DialRefused, Link, LinkClosed

__all__ = ["ForwardSpec", "forward", "parse_forward_specs", "parse_port"]

CHUNK = 65536


def parse_port(raw: str, what: str = "port", *, allow_zero: bool = False) -> int:
    """An ASCII decimal port; ValueError naming what was wrong otherwise ("٨٠٠٠" is no port)."""
    lowest = 0 if allow_zero else 1
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not lowest <= int(raw) <= 65535:
        raise ValueError(f"bad {what} {raw!r}: expected a number from {lowest} to 65535")
    return int(raw)


@dataclass(frozen=True)
class ForwardSpec:
    remote: int  # the workspace port
    local: int  # the editor host's port on 127.0.0.1; 0 picks a free one


def parse_forward_specs(specs: list[str]) -> list[ForwardSpec]:
    """`REMOTE[:LOCAL]` specs; ValueError naming the bad one and the expected form."""
    if not specs:
        raise ValueError("no port to forward: give REMOTE[:LOCAL], e.g. 8000 or 8000:18000")
    parsed: list[ForwardSpec] = []
    for raw in specs:
        remote_raw, colon, local_raw = raw.partition(":")
        try:
            remote = parse_port(remote_raw, "workspace port")
            local = parse_port(local_raw, "local port", allow_zero=True) if colon else remote
        except ValueError as exc:
            raise ValueError(
                f"bad forward {raw!r}: {exc}; the form is REMOTE[:LOCAL], e.g. 8000 or 8000:18000"
            ) from None
        if local and any(p.local == local for p in parsed):
            raise ValueError(f"bad forward {raw!r}: local port {local} is already forwarded; choose another LOCAL")
        parsed.append(ForwardSpec(remote, local))
    return parsed


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort a local connection with a TCP reset, so its client sees a failure, never a clean
    (and perhaps truncated) end. A plain close would send FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _say(text: str) -> None:
    print(f"codeforge: {text}", file=sys.stderr, flush=True)


class _Failed(Exception):
    """A forward that could not start; the message says why and what to do."""


class _LocalForward:
    """A listener on 127.0.0.1:LOCAL whose connections each become a stream to the workspace."""

    def __init__(self, dial: Dial, spec: ForwardSpec, control: Link, id: str) -> None:
        self.dial, self.spec, self.control, self.id = dial, spec, control, id
        self.port = spec.local
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()
        self.watcher: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, dial: Dial, spec: ForwardSpec) -> _LocalForward:
        params = {"port": str(spec.remote), "mode": "control", "local": str(spec.local)}
        try:
            control = await dial("forward", params)
            answer = json.loads(await control.receive())
        except DialRefused as exc:
            raise _Failed(f"the bridge refused the forward of port {spec.remote}: {exc.reason}") from None
        except (OSError, LinkClosed) as exc:
            raise _Failed(f"cannot reach the bridge to forward port {spec.remote}: {exc}") from None
        if answer.get("type") != "ready":
            await control.close()
            raise _Failed(f"forward of port {spec.remote} refused: {answer.get('message', answer)}")
        self = cls(dial, spec, control, str(answer["id"]))
        try:
            self.server = await asyncio.start_server(self._accept, "127.0.0.1", spec.local)
        except OSError as exc:
            await control.close()
            raise _Failed(
                f"cannot listen on 127.0.0.1:{spec.local} ({exc.strerror or exc}): "
                f"choose another local port, e.g. --forward {spec.remote}:0 for any free one"
            ) from None
        self.port = int(self.server.sockets[0].getsockname()[1])
        note = "" if answer.get("listening") else " (nothing listens there yet)"
        print(f"forwarding 127.0.0.1:{self.port} -> workspace port {spec.remote}{note}", flush=True)
        self.watcher = asyncio.create_task(self._watch())
        return self

    async def _watch(self) -> None:
        """Until the bridge ends this forward (an operation, the session's end)."""
        reason = ""
        async for message in self.control:
            if isinstance(message, str) and json.loads(message).get("type") == "closed":
                reason = json.loads(message).get("reason", "")
        _say(f"forward 127.0.0.1:{self.port} -> workspace port {self.spec.remote} ended: "
             f"{reason or self.control.close_reason or 'the bridge closed it'}")  # fmt: skip
        await self._stop_serving()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:  # the forward stops: this connection ends with it
            _reset(writer)
        finally:
            self.connections.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        where = f"forward 127.0.0.1:{self.port} -> workspace port {self.spec.remote}"
        try:
            stream = await self.dial("forward", {"port": str(self.spec.remote), "forward": self.id})
            answer = json.loads(await stream.receive())
        except (DialRefused, OSError, LinkClosed) as exc:
            _say(f"{where}: cannot reach the bridge ({exc})")
            _reset(writer)
            return
        if answer.get("type") != "connected":
            _say(f"{where}: {answer.get('message', answer)}")
            _reset(writer)  # the local client sees the failure as a reset, not a reply
            await stream.close()
            return
        clean = await _relay_streams(stream, reader, writer, lambda m: _say(f"{where}: {m}"))
        if not clean:
            _reset(writer)
        writer.close()
        with contextlib.suppress(LinkClosed):
            await stream.close()

    async def _stop_serving(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def wait(self) -> None:
        if self.watcher is not None:
            await asyncio.shield(self.watcher)

    async def stop(self) -> None:
        """The user stopped it: no "ended" message, the bridge drops the resource."""
        if self.watcher is not None:
            self.watcher.cancel()
            await asyncio.gather(self.watcher, return_exceptions=True)
        await self._stop_serving()
        with contextlib.suppress(LinkClosed):
            await self.control.close("the editor stopped forwarding")


async def _relay_streams(
    stream: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, say: Callable[[str], None]
) -> bool:
    """Pipe a local connection and its stream link; False when the workspace side failed."""
    outcome = {"clean": True}

    async def up() -> None:  # local client -> workspace
        with contextlib.suppress(OSError):
            while data := await reader.read(CHUNK):
                await stream.send(data)
        await stream.send(json.dumps({"type": "eof"}))

    async def down() -> None:  # workspace -> local client
        async for message in stream:
            if isinstance(message, bytes):
                writer.write(message)
                await writer.drain()
                continue
            control = json.loads(message)
            if control.get("type") == "eof":
                if writer.can_write_eof():
                    writer.write_eof()
                return
            if control.get("type") == "error":
                say(control.get("message", "the workspace side failed"))
                outcome["clean"] = False
                return
        outcome["clean"] = False  # the link ended before the workspace side did

    going = {asyncio.create_task(up()), asyncio.create_task(down())}
    try:
        while going and outcome["clean"]:
            finished, going = await asyncio.wait(going, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                if task.exception() is not None:  # the local client went away, or the link closed
                    outcome["clean"] = isinstance(task.exception(), OSError) and outcome["clean"]
                    return outcome["clean"]
        return outcome["clean"]
    finally:
        for task in going:
            task.cancel()
        await asyncio.gather(*going, return_exceptions=True)


async def forward(dial: Dial, specs: list[str]) -> int:
    """`codeforge connect URL --forward REMOTE[:LOCAL] …`: listen on 127.0.0.1:LOCAL for each
    spec and relay every connection to the workspace's port REMOTE. Runs until cancelled
    (Ctrl-C) or until the bridge ended every forward (1); 2 for a bad spec."""
    try:
        parsed = parse_forward_specs(specs)
    except ValueError as exc:
        _say(str(exc))
        return 2
    running: list[_LocalForward] = []
    try:
        for spec in parsed:
            running.append(await _LocalForward.start(dial, spec))
        await asyncio.gather(*(f.wait() for f in running))
        return 1
    except _Failed as exc:
        _say(str(exc))
        return 1
    finally:  # also when cancelled (Ctrl-C): the listeners close and the bridge is told
        await asyncio.gather(*(f.stop() for f in running), return_exceptions=True)
