"""Channels `ports` (what listens in the workspace) and `forward` (a TCP stream to a workspace
port), and their client halves (`codeforge connect URL --ports` / `--forward REMOTE[:LOCAL]`).

`ports`: the bridge answers one text message, `{"type": "ports", "ports": [...]}`, and the
link ends. Every listening TCP port of the machine (or container) the bridge runs on is
listed, each with the process behind it where the bridge may see it, and `workspace: true`
when that process descends from the bridge (a terminal's server) or runs in the workspace
folder. Others are listed too, flagged: any local port can be forwarded, and a user with a
terminal could list them anyway.

`forward` has two kinds of link:
- a control link (`mode=control`, `port`, `local`): one per `--forward` spec, for as long as
  it runs. It is the `forward` resource `bridges.list` shows and `bridges.close` closes. The
  bridge answers `{"type": "ready", "id", "port", "listening"}`; `{"type": "closed",
  "reason"}` when an operation or the session's end closed it.
- a stream link (`port`, `forward`=the control's id): one per accepted local connection.
  The bridge connects to 127.0.0.1 (then ::1) on `port` and answers `{"type": "connected"}`
  or `{"type": "error", "message"}`; then binary messages are the bytes both ways, `{"type":
  "eof"}` ends one direction (TCP half-close), and `{"type": "error", "message"}` says the
  target reset or vanished: the editor side then aborts the local connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from codeforge.bridge.link import Dial, DialRefused, Link, LinkClosed
from codeforge.bridge.sessions import ChannelContext

__all__ = [
    "ForwardSpec",
    "forward",
    "list_ports",
    "parse_forward_specs",
    "parse_port",
    "print_ports",
    "serve_forward",
    "serve_ports",
]

_CHUNK = 65536
_CONNECT_TIMEOUT_S = 10.0
_CMDLINE_CHARS = 300


def parse_port(raw: str, what: str = "port", *, allow_zero: bool = False) -> int:
    """An ASCII decimal port; ValueError naming what was wrong otherwise ("٨٠٠٠" is no port)."""
    lowest = 0 if allow_zero else 1
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not lowest <= int(raw) <= 65535:
        raise ValueError(f"bad {what} {raw!r}: expected a number from {lowest} to 65535")
    return int(raw)


# listing ----------------------------------------------------------------------------------


def _listening_sockets() -> Iterable[Any]:
    try:
        return [c for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    except psutil.AccessDenied:  # macOS without root: ask each process we may inspect
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                found += [c._replace(pid=proc.pid) for c in proc.net_connections(kind="tcp")]
        return [c for c in found if c.status == psutil.CONN_LISTEN]


def _describe(pid: int, workspace: Path, descendants: set[int]) -> dict[str, Any]:
    info: dict[str, Any] = {"pid": pid, "process": None, "cmdline": None, "workspace": pid in descendants}
    try:
        proc = psutil.Process(pid)
        info["process"] = proc.name()
        info["cmdline"] = " ".join(proc.cmdline())[:_CMDLINE_CHARS] or None
        if not info["workspace"]:
            info["workspace"] = Path(proc.cwd()).is_relative_to(workspace)
    except psutil.Error:  # another user's process, or one that just ended: what we saw stays
        pass
    return info


def list_ports(workspace: Path) -> list[dict[str, Any]]:
    """Listening TCP ports, one entry per port (its addresses merged), workspace ones first."""
    try:
        descendants = {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        descendants = set()
    by_port: dict[int, dict[str, Any]] = {}
    for conn in _listening_sockets():
        if not conn.laddr:
            continue
        entry = by_port.setdefault(
            conn.laddr.port,
            {
                "port": conn.laddr.port,
                "addresses": [],
                "pid": None,
                "process": None,
                "cmdline": None,
                "workspace": False,
            },
        )
        if conn.laddr.ip not in entry["addresses"]:
            entry["addresses"].append(conn.laddr.ip)
        if conn.pid and entry["pid"] is None:
            entry.update(_describe(conn.pid, workspace, descendants))
    return sorted(by_port.values(), key=lambda e: (not e["workspace"], e["port"]))


async def serve_ports(link: Link, ctx: ChannelContext) -> None:
    ports = await asyncio.to_thread(list_ports, ctx.workspace)
    await link.send(json.dumps({"type": "ports", "ports": ports}))


def _format_ports(ports: list[dict[str, Any]]) -> str:
    rows = [("PORT", "ADDRESS", "PID", "PROCESS", "WORKSPACE", "COMMAND")]
    for e in ports:
        rows.append(
            (
                str(e["port"]),
                ",".join(e["addresses"]),
                str(e["pid"] or "-"),
                e["process"] or "(not visible)",
                "yes" if e["workspace"] else "no",
                (e["cmdline"] or "")[:60],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows)


async def print_ports(dial: Dial, as_json: bool) -> int:
    """`codeforge connect URL --ports`: the workspace's listening ports, a table or JSON."""
    link = await dial("ports", {})
    try:
        answer = json.loads(await link.receive())
    except LinkClosed as exc:
        print(f"codeforge: the bridge closed the ports link ({exc.reason or 'no reason given'})", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(LinkClosed):
            await link.close()
    if answer.get("type") != "ports":
        print(f"codeforge: ports refused: {answer.get('message', answer)}", file=sys.stderr)
        return 1
    ports = answer["ports"]
    if as_json:
        print(json.dumps(ports, indent=2))
    elif not ports:
        print("nothing listens on a TCP port in the workspace")
    else:
        print(_format_ports(ports))
    return 0


# forwarding: the bridge's side --------------------------------------------------------------


@dataclass(eq=False)
class _Forward:
    """One `--forward` spec as the bridge knows it: its control link and its open streams."""

    id: str
    port: int
    owner: tuple[str, str]
    control: Link
    streams: set[Link] = field(default_factory=set)

    async def close(self, reason: str) -> None:
        with contextlib.suppress(LinkClosed):
            await self.control.send(json.dumps({"type": "closed", "reason": reason}))
        await asyncio.gather(*(s.close(reason) for s in list(self.streams)), self.control.close(reason))


def _forwards(shared: dict[str, Any]) -> dict[str, _Forward]:
    found: dict[str, _Forward] = shared.setdefault("forwards", {})
    return found


async def _error(link: Link, message: str) -> None:
    with contextlib.suppress(LinkClosed):
        await link.send(json.dumps({"type": "error", "message": message}))


async def _open_target(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the workspace port, IPv4 loopback first, then IPv6 (dev servers that
    bind `localhost` often get ::1 only)."""
    failure: OSError | None = None
    for host in ("127.0.0.1", "::1"):
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                return await asyncio.open_connection(host, port)
        except TimeoutError:
            failure = TimeoutError(f"no answer in {_CONNECT_TIMEOUT_S:.0f} s")
        except OSError as exc:
            failure = failure if isinstance(exc, ConnectionRefusedError) and failure else exc
    assert failure is not None
    raise failure


def _why(port: int, exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens on workspace port {port} (connection refused): start the server, or see --ports"
    if isinstance(exc, ConnectionResetError):
        return f"workspace port {port} reset the connection"
    return f"workspace port {port} failed: {getattr(exc, 'strerror', None) or exc}"


async def _control(link: Link, ctx: ChannelContext, port: int) -> None:
    try:  # only for the label: which editor port this is, as the client said
        local = str(parse_port(ctx.params.get("local", ""), allow_zero=True))
    except ValueError:
        local = "?"
    owner = (ctx.session.user.organization, ctx.session.user.username)
    forward = _Forward(uuid.uuid4().hex[:12], port, owner, link)
    session = ctx.session
    forwards = _forwards(ctx.shared)
    forwards[forward.id] = forward

    async def close() -> None:
        await forward.close("the session ended" if session.ended else "closed by a bridges.close operation")

    ctx.add_resource("forward", forward.id, f"workspace port {port} → editor port {local}", close)
    try:
        listening = any(e["port"] == port for e in await asyncio.to_thread(list_ports, ctx.workspace))
        await link.send(json.dumps({"type": "ready", "id": forward.id, "port": port, "listening": listening}))
        async for _ in link:  # nothing is expected; the link lives until either side closes it
            pass
    finally:
        forwards.pop(forward.id, None)
        ctx.remove_resource("forward", forward.id)
        await asyncio.gather(*(s.close("the forward ended") for s in list(forward.streams)))


async def _pipe(link: Link, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Bytes both ways until both directions ended, the target failed or the link closed."""

    async def up() -> None:  # editor -> workspace port; returns at EOF or when the link closed
        async for message in link:
            if isinstance(message, bytes):
                writer.write(message)
                await writer.drain()
            elif json.loads(message).get("type") == "eof":
                if writer.can_write_eof():
                    writer.write_eof()
                return

    async def down() -> None:  # workspace port -> editor
        while data := await reader.read(_CHUNK):
            await link.send(data)
        await link.send(json.dumps({"type": "eof"}))

    going = {asyncio.create_task(up(), name="up"), asyncio.create_task(down(), name="down")}
    try:
        while going:
            finished, going = await asyncio.wait(going, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                exc = task.exception()
                if isinstance(exc, OSError):
                    await _error(link, _why(port, exc))
                    return
                if isinstance(exc, LinkClosed) or link.closed:
                    return
                if exc is not None:
                    raise exc
    finally:
        for task in going:
            task.cancel()
        await asyncio.gather(*going, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def serve_forward(link: Link, ctx: ChannelContext) -> None:
    try:
        port = parse_port(ctx.params.get("port", ""))
    except ValueError as exc:
        await _error(link, f"{exc} (forward?port=N)")
        return
    if ctx.params.get("mode") == "control":
        await _control(link, ctx, port)
        return
    owner = (ctx.session.user.organization, ctx.session.user.username)
    forward = _forwards(ctx.shared).get(ctx.params.get("forward", ""))
    if "forward" in ctx.params and (forward is None or forward.owner != owner or forward.port != port):
        await _error(link, f"no forward {ctx.params['forward']!r} of port {port} (it was closed, or is not yours)")
        return
    try:
        reader, writer = await _open_target(port)
    except OSError as exc:
        await _error(link, _why(port, exc))
        return
    if forward is not None:
        forward.streams.add(link)
    else:  # a stream opened on its own is a resource by itself
        stream_id = uuid.uuid4().hex[:12]
        ctx.add_resource("forward", stream_id, f"workspace port {port} (one connection)", link.close)
    try:
        await link.send(json.dumps({"type": "connected"}))
        await _pipe(link, port, reader, writer)
    finally:
        if forward is not None:
            forward.streams.discard(link)
        else:
            ctx.remove_resource("forward", stream_id)


# forwarding: the editor host's side ---------------------------------------------------------


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
        await self._stop_serving()
        with contextlib.suppress(LinkClosed):
            await self.control.close("the editor stopped forwarding")
        if self.watcher is not None:
            self.watcher.cancel()
            await asyncio.gather(self.watcher, return_exceptions=True)


async def _relay_streams(stream: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, say: Any) -> bool:
    """Pipe a local connection and its stream link; False when the workspace side failed."""
    outcome = {"clean": True}

    async def up() -> None:  # local client -> workspace
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
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
