"""The collaboration endpoint: `ws://bridge/collab/<session>/<room path>` (docs/collab.md).

Exactly what `new WebsocketProvider("ws://bridge/collab/<session>", "<path>", ydoc,
{params: {token}})` dials. Checked before the upgrade, in this order, each refusal an HTTP
status with one line: the token with the platform (`bridges.attach`, channel `collab`; 401,
403 another organization), the participant (`collab.admit`; 403 not one, 410 ended), then
the path (404: outside the workspace, `..`, `.git/`, `.codeforge/`, a folder). Then the
websocket is one peer of one room until it closes.

Closes: 1007 a malformed message (the reason says what), 4409 a copy of an earlier room
lifetime, 4403 removed from the session, 4410 the session ended, 1013 too far behind (its
socket's buffer kept growing: it resyncs on reconnect), 1001 the bridge is stopping.

The token may come in the query string (browsers cannot set headers), so no URL is logged
with its query: `RedactTokens` scrubs websockets' own debug lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import re
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode
from websockets.http11 import Request
from websockets.protocol import State

import codeforge.catalog.collab  # noqa: F401  (declares collab.admit, called by name)
from codeforge.bridge.auth import Refused, bearer_token, sign_in
from codeforge.catalog.errors import CodeForgeError, PlatformUnavailable
from codeforge.client import AsyncPlatformClient
from codeforge.collab import (
    Access,
    ProtocolError,
    Room,
    RoomClosed,
    RoomHub,
    RoomPathError,
    RoomStore,
    SessionState,
    StaleClient,
)
from codeforge.collab.store import StoreError

__all__ = ["PREFIX", "CollabEndpoint", "RedactTokens", "freeze_startup_objects", "serve_peer", "store_path"]

log = logging.getLogger(__name__)

PREFIX = "/collab/"
SESSION = re.compile(r"^[0-9a-f]{32}$")  # collab session ids (codeforge.catalog.collab.ID_PATTERN)
MAX_BUFFERED = 8 * 1024 * 1024  # bytes waiting in a peer's socket before it is dropped
ADMIT_EVERY = 2.0  # seconds between re-admissions of a session's connected participants


def store_path(bridge_id: str) -> Path:
    """$CODEFORGE_COLLAB_STORE, else $XDG_STATE_HOME/codeforge/collab/<bridge id>.sqlite:
    never the workspace (file sync, git and agents must not see it)."""
    if override := os.environ.get("CODEFORGE_COLLAB_STORE"):
        return Path(override)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "codeforge" / "collab" / f"{bridge_id}.sqlite"


def freeze_startup_objects() -> None:
    """Take what is alive once the bridge has started (modules, classes, its own state: some
    50,000 objects) out of the cyclic garbage collector's reach. A full collection walks every
    tracked object, which took 20-100 ms here, and during it no room relays anything: the
    largest single stall of the fan-out at 50 clients (docs/benchmarks.md, "Collaboration").
    Those objects live as long as the process; garbage made later is collected as before."""
    gc.collect()
    gc.freeze()


class RedactTokens(logging.Filter):
    """Drops tokens from log records: websockets logs every request line and header at
    debug level (`?token=…` of browsers, `Authorization: Bearer …` of every client)."""

    PATTERN = re.compile(r"(token=|authorization:\s*\S+\s+)[^&\s]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        lowered = message.lower()
        if "token=" in lowered or "authorization:" in lowered:
            record.msg, record.args = self.PATTERN.sub(r"\1<redacted>", message), ()
        return True


@dataclass
class _Admitted:
    session: str
    username: str
    room: Room
    lifetime: str | None
    platform: AsyncPlatformClient = field(repr=False)


def _close_reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    data = text.encode()[:123]
    return data.decode("utf-8", errors="ignore")


async def serve_peer(
    connection: ServerConnection,
    room: Room,
    *,
    username: str,
    may_edit: Any,
    lifetime: str | None = None,
    access: tuple[Access, str] | None = None,
) -> None:
    """Be one peer of `room` until the websocket closes. `may_edit()` is asked on every
    update; `access` (registry, session id) closes the connection when the participant is
    removed or the session ends. Used by the endpoint and by in-process test servers."""
    transport = connection.transport
    closing: list[asyncio.Task[None]] = []

    def close(code: int, reason: str) -> None:
        if code == 1013:  # too far behind: its buffer is the problem, a close frame would queue
            transport.abort()
            return
        closing.append(asyncio.ensure_future(connection.close(code, _close_reason(reason))))

    def send(data: bytes) -> None:
        if connection.protocol.state is not State.OPEN:
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            room.drop(peer, 1013, "too far behind: reconnect")
            return
        connection.protocol.send_binary(data)
        connection.send_data()  # written now, no await: the same bytes to every peer

    protocol = connection.protocol

    def write(frame: bytes) -> None:
        # The room's fan-out: a frame built once for every peer, straight to the socket.
        # websockets writes each of its own frames whole and at once (send_data), so ours
        # never land inside one of its; none after the closing handshake began.
        if protocol.state is not State.OPEN:
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            room.drop(peer, 1013, "too far behind: reconnect")
            return
        transport.write(frame)

    # A negotiated extension (per-message deflate) changes the frames: websockets frames then.
    raw = write if not protocol.extensions else None
    try:
        peer = room.connect(send, username=username, may_edit=may_edit, close=close, lifetime=lifetime, write=raw)
    except StaleClient as stale:
        await connection.close(stale.code, stale.reason)
        return
    unregister = (
        access[0].register(access[1], username, lambda reason: close(_access_code(reason), reason)) if access else None
    )
    try:
        async for message in connection:
            if isinstance(message, str):
                raise ProtocolError("a text frame: y-websocket messages are binary")
            await room.receive(peer, message)
    except ProtocolError as exc:
        log.info("closing a collab peer of %s: %s", room.name, exc)
        await connection.close(CloseCode.INVALID_DATA, _close_reason(str(exc)))
    except StaleClient as stale:
        await connection.close(stale.code, stale.reason)
    except RoomClosed:
        await connection.close(CloseCode.GOING_AWAY, "the room closed: reconnect")
    except Exception as exc:  # websockets' ConnectionClosed and friends: the peer is gone
        if not _closed_error(exc):
            raise
    finally:
        room.disconnect(peer)
        if unregister is not None:
            unregister()
        for task in closing:
            with contextlib.suppress(Exception):
                await task


def _access_code(reason: str) -> int:
    return 4410 if "ended" in reason else 4403


def _closed_error(exc: Exception) -> bool:
    from websockets.exceptions import ConnectionClosed

    return isinstance(exc, ConnectionClosed)


class CollabEndpoint:
    """The bridge's `/collab/…` paths: handshake checks, then `serve_peer`."""

    def __init__(self, bridge: Any, hub: RoomHub) -> None:
        self.bridge = bridge  # platform_url, project, bridge_id, limiter, own_organization()
        self.hub = hub
        self.access: Access = hub.access
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admitted] = weakref.WeakKeyDictionary()
        # session -> {connection: (username, a platform client acting as them)}
        self._clients: dict[str, dict[int, tuple[str, AsyncPlatformClient]]] = {}
        self._watch: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, bridge: Any, store: Path | None = None) -> CollabEndpoint:
        room_store = RoomStore(store or store_path(bridge.bridge_id))
        await room_store.start()
        hub = RoomHub(bridge.workspace, room_store)
        await hub.start()
        freeze_startup_objects()
        endpoint = cls(bridge, hub)
        endpoint._watch = asyncio.create_task(endpoint._readmit())
        for name in ("websockets.server", "websockets.client", "websockets"):
            logging.getLogger(name).addFilter(RedactTokens())
        return endpoint

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.hub.close()

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIX)

    # -- the handshake --------------------------------------------------------------------

    async def check(self, connection: ServerConnection, request: Request, peer_address: str) -> None:
        """Refused(status, reason) unless the connection may join the room it names."""
        url = urlsplit(request.path)
        session, _, raw_name = url.path[len(PREFIX) :].partition("/")
        if not SESSION.match(session) or not raw_name:
            raise Refused(404, "the URL is /collab/<session id>/<file path relative to the workspace>")
        params = dict(parse_qsl(url.query))
        token = bearer_token(request.headers, params)
        # `bridges.attach` (audited) lets an organization viewer open the collab channel (a
        # read-only guest); `collab.admit` then decides on the session.
        identity, platform = await sign_in(
            self.bridge,
            token,
            address=peer_address.rpartition(":")[0],
            session=session,
            channel="collab",
            client=peer_address,
        )
        username = identity.username
        try:
            state, admitted = await self._admit(platform, session)
            if admitted != username:
                raise Refused(403, "the platform admitted another user than the token's")
            if state.project and state.project != self.bridge.project:
                raise Refused(
                    403, f"session {session} is on project {state.project}; this bridge serves {self.bridge.project}"
                )
            room = await self._room(raw_name)
        except BaseException:
            await platform.aclose()
            raise
        self._admitted[connection] = _Admitted(session, admitted, room, params.get("lifetime"), platform)

    async def _admit(self, platform: AsyncPlatformClient, session: str) -> tuple[SessionState, str]:
        """The session as the platform knows it now (Access updated), and who was admitted."""
        try:
            answer = await platform.call("collab.admit", {"session": session})
        except PlatformUnavailable:
            raise Refused(503, "the bridge cannot reach the platform to check the session; try again shortly") from None
        except CodeForgeError as exc:
            if exc.status == 410:
                self.access.end(session)
                raise Refused(410, f"the collaboration session ended: {exc.detail}") from None
            if exc.status in (403, 404):
                raise Refused(403, f"not a participant of session {session}: {exc.detail}") from None
            raise Refused(502, f"the platform could not admit you ({exc.status}); try again shortly") from None
        state = SessionState.from_json(answer.session.model_dump(mode="json"))
        self.access.update(state)
        return state, str(answer.participant.username)

    async def _room(self, raw_name: str) -> Room:
        name = unquote(raw_name, errors="strict")
        try:
            path = self.hub.path_of(name)
        except (RoomPathError, UnicodeDecodeError) as exc:
            raise Refused(404, f"no such shared file: {exc}") from None
        if path.exists() and not path.is_file():
            raise Refused(404, f"{name} is not a regular file")
        if not path.parent.is_dir():
            raise Refused(404, f"{name}: its folder does not exist in the workspace")
        try:
            return await self.hub.open(name)
        except StoreError as exc:
            log.error("cannot open room %s: %s", name, exc)
            raise Refused(503, "the collaboration store cannot be read; try again shortly") from None

    # -- connections ----------------------------------------------------------------------

    def owns(self, connection: ServerConnection) -> bool:
        return connection in self._admitted

    async def serve(self, connection: ServerConnection) -> None:
        admitted = self._admitted.pop(connection)
        session, username = admitted.session, admitted.username
        clients = self._clients.setdefault(session, {})
        key = id(connection)
        clients[key] = (username, admitted.platform)
        try:
            await serve_peer(
                connection,
                admitted.room,
                username=username,
                may_edit=lambda: self.access.may_edit(session, username),
                lifetime=admitted.lifetime,
                access=(self.access, session),
            )
        finally:
            clients.pop(key, None)
            if not clients:
                self._clients.pop(session, None)
            await admitted.platform.aclose()

    async def _readmit(self) -> None:
        """Ask the platform again, per session with connections, every ADMIT_EVERY seconds:
        a participant removed or a session ended is noticed and its connections closed
        (Access.register), also when no language server relays the change."""
        while True:
            await asyncio.sleep(ADMIT_EVERY)
            for session, clients in list(self._clients.items()):
                for username, platform in list(clients.values()):
                    try:
                        await self._admit(platform, session)
                        break  # one answer holds every participant
                    except Refused as refused:
                        if refused.status != 403:
                            break  # ended (Access closed everything) or the platform is away
                        self._remove(session, username)  # removed: ask as another
                    except Exception:
                        log.exception("re-admitting session %s failed", session)
                        break

    def _remove(self, session: str, username: str) -> None:
        state = self.access.state(session)
        if state is not None and state.participant(username) is not None:
            kept = tuple(p for p in state.participants if p.username != username)
            self.access.update(dataclasses.replace(state, participants=kept))

    def health(self) -> dict[str, Any]:
        return {**self.hub.health(), "sessions": len(self._clients), "checked_at": time.time()}
