"""Channel `dap`: a Debug Adapter Protocol proxy to debugpy in the workspace, shared by
every client that joins the same debug session (collaborative debugging).

Link parameters: none (a new debug session; its id comes in a `codeforge/debugSession`
event after `initialize`), `join=<debug id>` (join a running one), `list=1` (one JSON text
message listing the bridge's debug sessions, then the link closes), `local_root=<dir>`
(the editor's folder that stands for the workspace; a launch/attach `localRoot` argument
overrides it). Each link message is one DAP message (JSON text), both ways.

A debug session is a bridge resource of kind `debug` (`bridges.list`, `bridges.close`),
held by the session of a client attached to it (passed on when that client leaves).
Sessions of the bridge are shared bridge-wide (`ctx.shared["debug_sessions"]`): anyone the
bridge admitted to the project may join by id, as for a shared terminal of a pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from codeforge.bridge.collab_seat import Seat, SeatRefused, take_seat
from codeforge.bridge.dap_protocol import error_response, event
from codeforge.bridge.dap_session import DebugSession
from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.sessions import ChannelContext

__all__ = ["DebugSessions", "serve"]

log = logging.getLogger(__name__)

SESSION_EVENT = "codeforge/debugSession"


class DebugSessions:
    """The bridge's debug sessions by id, and which channel context holds each as a resource."""

    def __init__(self) -> None:
        self.by_id: dict[str, DebugSession] = {}
        self.holders: dict[str, ChannelContext] = {}
        self.contexts: dict[str, ChannelContext] = {}  # client id -> its context

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.by_id.values()]


def _registry(ctx: ChannelContext) -> DebugSessions:
    registry = ctx.shared.get("debug_sessions")
    if not isinstance(registry, DebugSessions):
        registry = ctx.shared["debug_sessions"] = DebugSessions()
    return registry


async def serve(link: Link, ctx: ChannelContext) -> None:
    registry = _registry(ctx)
    if ctx.params.get("list"):
        await link.send(json.dumps({"sessions": registry.describe()}))
        return
    join = ctx.params.get("join")
    seat: Seat | None = None
    if "collab" in ctx.params:
        try:
            session, seat = await _shared(registry, ctx, join)
        except SeatRefused as exc:
            await _refuse(link, str(exc))
            return
    elif join:
        found = registry.by_id.get(join)
        if found is None or found.ended:
            await _refuse(link, f"no debug session {join!r} on this bridge (list them with a `dap?list=1` link)")
            return
        session = found
    else:
        session = _new_session(registry, ctx)

    def send(text: str) -> None:
        link.send_nowait(text)

    client = session.join(uuid.uuid4().hex[:8], ctx.session.user.username, send, ctx.params.get("local_root"))
    client.guard = seat
    registry.contexts[client.id] = ctx
    announced = False
    ended = asyncio.ensure_future(session.wait_ended())
    revoked = (
        asyncio.ensure_future(seat.ended.wait()) if seat is not None else asyncio.get_running_loop().create_future()
    )
    receive: asyncio.Future[bytes | str] | None = None
    try:
        while True:
            receive = asyncio.ensure_future(link.receive())
            await asyncio.wait({receive, ended, revoked}, return_when=asyncio.FIRST_COMPLETED)
            if revoked.done() and seat is not None:
                # The participant's access ended: they leave the host's debug session (which
                # goes on for the others) and their editor is told, then the link closes.
                receive.cancel()
                client.deliver(event("output", {"category": "important", "output": f"CodeForge: {seat.end_reason}.\n"}))
                client.deliver(event("terminated"))
                break
            if not receive.done():
                receive.cancel()
                break  # the debug session ended: let what it said last go out, then close
            try:
                raw = receive.result()
            except LinkClosed:
                break
            await session.handle(client, raw)
            if client.left:
                break  # it disconnected while others stay: its link is done
            if not announced and session.capabilities is not None:
                announced = True
                client.deliver(
                    {"type": "event", "event": SESSION_EVENT, "body": {"id": session.id, **session.describe()}}
                )
    finally:
        ended.cancel()
        revoked.cancel()
        if seat is not None:
            seat.release()
        if receive is not None:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, LinkClosed):
                await receive
        registry.contexts.pop(client.id, None)
        await session.leave(client)
        if not session.ended:
            _pass_on(registry, session, ctx)


async def _shared(registry: DebugSessions, ctx: ChannelContext, join: str | None) -> tuple[DebugSession, Seat]:
    """The collaboration host's debug session `join`, and the participant's seat in it."""
    if not join:
        raise SeatRefused("--collab goes with --join ID: the host's debug session (the host's `connect` prints it)")
    seat = await take_seat(ctx, ctx.params["collab"])
    session = registry.by_id.get(join)
    if session is None or session.ended or session.owner != seat.host:
        seat.release()
        raise SeatRefused(f"no debug session {join!r} of {seat.host}, the host of collaboration session {seat.session}")
    return session, seat


async def _refuse(link: Link, why: str) -> None:
    """Answer the client's first request with the reason (DAP clients show a failed initialize)."""
    with contextlib.suppress(LinkClosed, TimeoutError):
        async with asyncio.timeout(10):
            raw = await link.receive()
            try:
                seq = json.loads(raw).get("seq", 0)
                command = json.loads(raw).get("command", "")
            except (ValueError, AttributeError):
                seq, command = 0, ""
            message = error_response(seq if isinstance(seq, int) else 0, str(command), why)
            await link.send(json.dumps({**message, "seq": 1}))


def _new_session(registry: DebugSessions, ctx: ChannelContext) -> DebugSession:
    session: DebugSession

    async def ended() -> None:
        registry.by_id.pop(session.id, None)
        holder = registry.holders.pop(session.id, None)
        if holder is not None:
            holder.remove_resource("debug", session.id)

    username = ctx.session.user.username
    session = DebugSession(ctx.workspace, label=f"debug session of {username}", owner=username, on_end=ended)
    registry.by_id[session.id] = session
    registry.holders[session.id] = ctx
    _hold(registry, session, ctx)
    return session


def _hold(registry: DebugSessions, session: DebugSession, ctx: ChannelContext) -> None:
    """`ctx`'s bridge session holds the debug session as its `debug` resource."""

    async def close() -> None:
        if ctx.session.ended:
            # The holder's bridge session ended (grace period, its client gone): the debug
            # session goes on for participants of other bridge sessions, if any.
            others = [
                c
                for c in session.clients
                if (other := registry.contexts.get(c.id)) is not None
                and other.session is not ctx.session
                and not other.session.ended
            ]
            if others:
                for client in list(session.clients):
                    if registry.contexts.get(client.id) is ctx or client not in others:
                        await session.leave(client)
                _pass_on(registry, session, ctx)
                return
        await session.stop()

    registry.holders[session.id] = ctx
    ctx.add_resource("debug", session.id, session.label, close)


def _pass_on(registry: DebugSessions, session: DebugSession, leaving: ChannelContext) -> None:
    """The client whose bridge session holds the resource left: another participant's
    session holds it now, so the first one's end does not stop everyone's debugging."""
    if registry.holders.get(session.id) is not leaving:
        return
    leaving.remove_resource("debug", session.id)
    for client in session.clients:
        ctx = registry.contexts.get(client.id)
        if ctx is not None and not ctx.session.ended:
            _hold(registry, session, ctx)
            return
    registry.holders.pop(session.id, None)
