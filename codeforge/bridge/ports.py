"""Channels `ports` (what listens in the workspace) and `forward` (a TCP stream to a workspace
port), and the `--ports` client half; the `--forward REMOTE[:LOCAL]` half is forwarding.py.

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
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from codeforge.bridge.forwarding import CHUNK, forward, parse_port
from codeforge.bridge.link import Dial, Link, LinkClosed
from codeforge.bridge.sessions import ChannelContext

# `forward`, the client half of forwarding, lives in forwarding.py; the contract names it here.
__all__ = ["forward", "list_ports", "print_ports", "serve_forward", "serve_ports"]

_CONNECT_TIMEOUT_S = 10.0
_CMDLINE_CHARS = 300


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
        while data := await reader.read(CHUNK):
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
