"""The call signalling endpoint: `ws://bridge/call/<session>` (docs/voice.md).

Checked before the upgrade, like `/collab/` (`bridge/collab.py`), each refusal an HTTP status
with one line: the token (`Authorization: Bearer` or `?token=`; `bridges.attach`, channel
`call`, which an organization viewer may open), the organization, `collab.admit` (the
session as the platform knows it: Access learns it), then `collab.call_join` as the user
(403 not a participant, 404 unknown, 409 no call and a guest may not start one, 410 ended),
which answers the member. Then JSON text frames until the websocket closes: the first is the
client's offer, the rest controls (mute, share, watch, end, leave).

Closes: 1000 left, 4400 a malformed message or a refused offer (the reason says what), 4403
removed (from the session, or a guest doing what it may not), 4409 replaced by the same
user's newer client, 4410 the call or the session ended, 1001 the bridge is stopping.

The bridge's `CallServer` (`shared["calls"]`) serves every call: this endpoint's clients and
the language server's (VS Code's webview). `CallReporter` (bridge/call_report.py) tells the
platform about each call and applies the mutes and ends the platform holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

import codeforge.catalog.calls  # declares collab.call_join, called by name
import codeforge.catalog.collab  # noqa: F401  (declares collab.admit, called by name)
from codeforge.bridge.auth import Refused, bearer_token, sign_in
from codeforge.bridge.call_report import CallReporter
from codeforge.bridge.collab import RedactTokens
from codeforge.catalog.errors import CodeForgeError, PlatformUnavailable
from codeforge.client import AsyncPlatformClient
from codeforge.collab import Access, SessionState
from codeforge.collab.rtc import CallError, CallServer, Member
from codeforge.collab.rtc.ice import IceSettings, ice_servers_json

__all__ = ["PING_EVERY", "PONG_TIMEOUT", "PREFIX", "CallEndpoint", "Malformed", "parse_message"]

log = logging.getLogger(__name__)

PREFIX = "/call/"
SESSION = re.compile(r"^[0-9a-f]{32}$")  # collab session ids (codeforge.catalog.collab.ID_PATTERN)
PING_EVERY = 1.0  # seconds between pings of a call's websocket
PONG_TIMEOUT = 3.0  # no pong this long: the participant is gone (removed, the socket aborted)
ADMIT_EVERY = 2.0  # seconds between re-admissions of the sessions with call connections
MAX_SDP = 64 * 1024  # an offer of three m-lines is a few KiB; more is not an offer
SHARE_KINDS = ("screen", "camera", None)


class Malformed(Exception):
    """A client message the protocol does not allow: closes 4400 with this text."""


def parse_message(text: str | bytes) -> dict[str, Any]:
    """The message as a dict whose fields have the types the protocol says; Malformed naming
    what was wrong otherwise (not JSON, not an object, an unknown type, a wrong field)."""
    if isinstance(text, bytes):
        raise Malformed("a binary frame: call messages are JSON text")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON ({exc.msg} at {exc.pos})") from None
    except ValueError as exc:  # a lone surrogate and the like
        raise Malformed(f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise Malformed("a message is a JSON object with a 'type'")
    kind = message.get("type")
    if kind == "offer":
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            raise Malformed("offer: 'sdp' must be the offer's SDP text")
        if len(sdp) > MAX_SDP:
            raise Malformed(f"offer: 'sdp' is over {MAX_SDP // 1024} KiB")
    elif kind == "mute":
        if not isinstance(message.get("muted"), bool):
            raise Malformed("mute: 'muted' must be true or false")
        if "username" in message and not (isinstance(message["username"], str) and message["username"]):
            raise Malformed("mute: 'username' must be a participant's username")
    elif kind == "share":
        if "kind" not in message or message["kind"] not in SHARE_KINDS:
            raise Malformed('share: \'kind\' must be "screen", "camera" or null (stop)')
    elif kind == "watch":
        if "username" not in message or not (message["username"] is None or isinstance(message["username"], str)):
            raise Malformed("watch: 'username' must be a sharing participant's username or null")
    elif kind not in ("end", "leave"):
        shown = json.dumps(kind)[:40] if kind is not None else "none"
        raise Malformed(f"unknown message type {shown} (offer, mute, share, watch, end or leave)")
    return message


def _close_reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    return text.encode()[:123].decode("utf-8", errors="ignore")


def member_of(data: Any) -> Member:
    """A `Member` from the platform's participant (a pydantic model or its JSON)."""
    raw = data.model_dump(mode="json") if hasattr(data, "model_dump") else dict(data)
    return Member(
        username=str(raw["username"]),
        name=str(raw.get("name") or raw["username"]),
        color=str(raw.get("color") or ""),
        role=raw.get("role", "navigator"),
        host=bool(raw.get("host", False)),
    )


def _members(state: SessionState) -> list[Member]:
    return [Member(p.username, p.name or p.username, p.color, p.role, p.host) for p in state.participants]


@dataclass
class _Admitted:
    session: str
    member: Member
    call: dict[str, Any]  # the platform's Call, for the welcome before the server has one
    platform: AsyncPlatformClient = field(repr=False)


class _Peer:
    """One websocket of the call: its outgoing queue and how it ends."""

    def __init__(self, connection: ServerConnection, admitted: _Admitted) -> None:
        self.connection = connection
        self.session = admitted.session
        self.member = admitted.member
        self.platform = admitted.platform
        self.outgoing: asyncio.Queue[tuple[dict[str, Any] | None, int, str]] = asyncio.Queue()
        self.joined = False
        self.gone = False  # removed, replaced or ended by the server: leaving is not ours to do

    @property
    def username(self) -> str:
        return self.member.username

    def send(self, message: dict[str, Any]) -> None:
        self.outgoing.put_nowait((message, 0, ""))

    def close(self, code: int, reason: str, message: dict[str, Any] | None = None) -> None:
        """Send `message` (if any) then close; nothing after it is sent."""
        self.outgoing.put_nowait((message, code, reason))

    def on_event(self, event: dict[str, Any]) -> None:
        """The server's events for this participant, in order."""
        kind = event.get("type")
        if kind == "removed":
            self.gone = True
            self.close(int(event.get("code", 4403)), str(event.get("reason", "removed from the call")), event)
        elif kind == "ended":
            self.gone = True
            self.close(4410, str(event.get("reason", "the call ended")), event)
        else:
            self.send(event)

    async def write(self) -> None:
        """Send the queue in order; a close message ends the connection."""
        while True:
            message, code, reason = await self.outgoing.get()
            try:
                if message is not None:
                    await self.connection.send(json.dumps(message))
                if code:
                    await self.connection.close(code, _close_reason(reason))
                    return
            except ConnectionClosed:
                return


class CallEndpoint:
    """The bridge's `/call/<session>` paths: handshake checks, then one participant per
    websocket; the call server's members kept in step with the session (Access)."""

    def __init__(self, bridge: Any, access: Access, server: CallServer, token: str) -> None:
        self.bridge = bridge  # platform_url, project, bridge_id, limiter, own_organization()
        self.access = access
        self.server = server
        self.reporter = CallReporter(server, bridge, token)
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admitted] = weakref.WeakKeyDictionary()
        self._peers: dict[str, dict[int, _Peer]] = {}  # session -> {id(connection): peer}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._unsubscribe = access.on_change(self._session_changed)

    @classmethod
    async def start(cls, bridge: Any, access: Access, token: str, ice: IceSettings | None = None) -> CallEndpoint:
        server = CallServer(ice if ice is not None else IceSettings.from_env())
        endpoint = cls(bridge, access, server, token)
        endpoint.reporter.start()
        endpoint._watch = asyncio.create_task(endpoint._readmit())
        for name in ("websockets.server", "websockets.client", "websockets"):
            logging.getLogger(name).addFilter(RedactTokens())
        # aiortc and aioice log every RTP packet and STUN check at debug: at 50 packets a
        # second per participant that is the bridge's CPU, not a diagnosis.
        for name in ("aiortc", "aioice"):
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.INFO:
                logger.setLevel(logging.INFO)
        return endpoint

    async def stop(self) -> None:
        """Every call ends ("the bridge is stopping"); the platform hears it last."""
        self._unsubscribe()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.reporter.stop()

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIX)

    # -- the handshake --------------------------------------------------------------------

    async def check(self, connection: ServerConnection, request: Request, peer_address: str) -> None:
        """Refused(status, reason) unless the connection's user may join the session's call."""
        url = urlsplit(request.path)
        session = url.path[len(PREFIX) :].strip("/")
        if not SESSION.match(session):
            raise Refused(404, "the URL is /call/<collaboration session id> (32 hex digits)")
        token = bearer_token(request.headers, dict(parse_qsl(url.query)))
        identity, platform = await sign_in(
            self.bridge,
            token,
            address=peer_address.rpartition(":")[0],
            session=session,
            channel="call",
            client=peer_address,
        )
        username = identity.username
        try:
            state = await self._admit(platform, session)
            if state.project and state.project != self.bridge.project:
                raise Refused(
                    403, f"session {session} is on project {state.project}; this bridge serves {self.bridge.project}"
                )
            member, call = await self._join(platform, session)
            if member.username != username:
                raise Refused(403, "the platform admitted another user than the token's")
        except BaseException:
            await platform.aclose()
            raise
        self._admitted[connection] = _Admitted(session, member, call, platform)

    async def _admit(self, platform: AsyncPlatformClient, session: str) -> SessionState:
        """The session as the platform knows it now; Access learns it (roles, removals, the
        end then reach the call through `_session_changed`)."""
        try:
            answer = await platform.call("collab.admit", {"session": session})
        except PlatformUnavailable:
            raise Refused(503, "the bridge cannot reach the platform to check the session; try again shortly") from None
        except CodeForgeError as exc:
            raise self._refusal(exc, session) from None
        state = SessionState.from_json(answer.session.model_dump(mode="json"))
        self.access.update(state)
        return state

    async def _join(self, platform: AsyncPlatformClient, session: str) -> tuple[Member, dict[str, Any]]:
        """`collab.call_join` as the user (audited; starts the call if none and they may talk)."""
        try:
            answer = await platform.call("collab.call_join", {"session": session})
        except PlatformUnavailable:
            raise Refused(503, "the bridge cannot reach the platform to join the call; try again shortly") from None
        except CodeForgeError as exc:
            raise self._refusal(exc, session) from None
        return member_of(answer.member), answer.call.model_dump(mode="json")

    def _refusal(self, exc: CodeForgeError, session: str) -> Refused:
        if exc.status == 410:
            self.access.end(session)
            return Refused(410, f"the collaboration session or its call ended: {exc.detail}")
        if exc.status == 403:
            return Refused(403, f"not a participant of session {session}: {exc.detail}")
        if exc.status == 404:
            return Refused(404, f"no collaboration session {session}: {exc.detail}")
        if exc.status == 409:
            return Refused(409, f"{exc.detail}; ask the host or a participant to start the call first")
        log.warning("the platform refused a call join with %s: %s", exc.status, exc.detail)
        return Refused(502, f"the platform could not admit you ({exc.status}); try again shortly")

    # -- connections ----------------------------------------------------------------------

    def owns(self, connection: ServerConnection) -> bool:
        return connection in self._admitted

    async def serve(self, connection: ServerConnection) -> None:
        admitted = self._admitted.pop(connection)
        peer = _Peer(connection, admitted)
        peers = self._peers.setdefault(peer.session, {})
        peers[id(connection)] = peer
        writer = asyncio.create_task(peer.write())
        pinger = asyncio.create_task(self._ping(peer))
        try:
            call = self.server.call(peer.session)
            peer.send(
                {
                    "type": "welcome",
                    "you": peer.username,
                    "iceServers": ice_servers_json(self.server.ice),
                    "call": call.state() if call is not None else _call_state(admitted.call),
                }
            )
            await self._receive(peer)
        finally:
            pinger.cancel()
            peers.pop(id(connection), None)
            if not peers:
                self._peers.pop(peer.session, None)
            await self._leave(peer, "left (the websocket closed)")
            # The writer finishes what was queued (a close with its reason comes first, this
            # one then goes unread); on a socket already gone each step ends at once.
            peer.close(1000, "left the call")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.shield(writer)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await peer.platform.aclose()

    async def _receive(self, peer: _Peer) -> None:
        try:
            async for text in peer.connection:
                try:
                    message = parse_message(text)
                    await self._handle(peer, message)
                except Malformed as exc:
                    log.info("closing a call websocket of %s in %s: %s", peer.username, peer.session, exc)
                    said = f"malformed message: {exc}"
                    peer.close(4400, said, {"type": "error", "message": said})
                    return
                except CallError as exc:
                    if not peer.joined:  # the offer: refused, said whole (a close reason holds 123 bytes), closed
                        peer.close(exc.code, exc.message, {"type": "error", "message": exc.message})
                        return
                    peer.send({"type": "error", "message": exc.message})
                if peer.gone:
                    return
        except ConnectionClosed:
            return

    async def _handle(self, peer: _Peer, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "leave":
            await self._leave(peer, "left")
            peer.close(1000, "left the call")
            return
        if not peer.joined:
            if kind != "offer":
                raise Malformed(f'{kind} before the offer: the first message is {{"type": "offer", "sdp": …}}')
            joined = await self.server.join(peer.session, peer.member, message["sdp"], peer.on_event)
            peer.joined = True
            peer.send({"type": "answer", "sdp": joined.answer_sdp})
            return
        if kind == "offer":
            raise Malformed("a second offer: the call does not renegotiate (replaceTrack, then share)")
        call = self.server.call(peer.session)
        if call is None:  # ended between the message and now: the ended event closes it
            return
        if kind == "mute":
            call.mute(message.get("username") or peer.username, message["muted"], by=peer.username)
        elif kind == "share":
            call.share(peer.username, message["kind"])
        elif kind == "watch":
            call.watch(peer.username, message["username"])
        elif kind == "end":
            await self._end(peer)

    async def _end(self, peer: _Peer) -> None:
        """The platform decides who may end (the host or an organization admin) and audits
        it; the call then ends here at once, not at the next report."""
        try:
            await peer.platform.call("collab.call_end", {"session": peer.session})
        except PlatformUnavailable:
            peer.send({"type": "error", "message": "the bridge cannot reach the platform to end the call; try again"})
            return
        except CodeForgeError as exc:
            peer.send({"type": "error", "message": f"cannot end the call: {exc.message}"})
            return
        await self.server.end(peer.session, f"{peer.username} ended the call")

    async def _leave(self, peer: _Peer, reason: str) -> None:
        if not peer.joined or peer.gone:
            return
        peer.gone = True
        call = self.server.call(peer.session)
        if call is not None:
            try:
                await call.leave(peer.username, reason)
            except Exception:  # already gone: the server dropped it
                log.debug("leaving %s for %s", peer.session, peer.username, exc_info=True)

    async def _ping(self, peer: _Peer) -> None:
        """Ping every PING_EVERY; no pong within PONG_TIMEOUT: the participant leaves (a peer
        that vanished without a close) and the socket is aborted."""
        connection = peer.connection
        while True:
            started = time.monotonic()
            try:
                waiter = await connection.ping()
                async with asyncio.timeout(PONG_TIMEOUT):
                    await waiter
            except TimeoutError:
                log.info("no pong from %s in %s for %.0f s: removed", peer.username, peer.session, PONG_TIMEOUT)
                await self._leave(peer, f"dropped: no answer for {PONG_TIMEOUT:.0f} s")
                connection.transport.abort()
                return
            except ConnectionClosed:
                return
            await asyncio.sleep(max(0.0, PING_EVERY - (time.monotonic() - started)))

    # -- the session --------------------------------------------------------------------

    def _session_changed(self, state: SessionState, previous: SessionState | None) -> None:
        """Roles and removals reach the call at once; the session's end ends the call."""
        if self.server.call(state.id) is None:
            return
        if state.state == "ended":
            self._spawn(self.server.end(state.id, "the collaboration session ended"))
            return
        self.server.update_members(state.id, _members(state))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _readmit(self) -> None:
        """Ask the platform again, per session with call websockets, every ADMIT_EVERY: a
        participant removed, a role changed or a session ended reaches the call even when no
        collab websocket or language server relays it."""
        while True:
            await asyncio.sleep(ADMIT_EVERY)
            for session, peers in list(self._peers.items()):
                for peer in list(peers.values()):
                    try:
                        await self._admit(peer.platform, session)
                        break  # one answer holds every participant
                    except Refused as refused:
                        if refused.status != 403:
                            break  # ended (Access ended the call) or the platform is away
                        self._remove(session, peer.username)  # removed: ask as another
                    except Exception:
                        log.exception("re-admitting session %s for its call failed", session)
                        break

    def _remove(self, session: str, username: str) -> None:
        state = self.access.state(session)
        if state is not None and state.participant(username) is not None:
            kept = tuple(p for p in state.participants if p.username != username)
            self.access.update(dataclasses.replace(state, participants=kept))

    def health(self) -> dict[str, Any]:
        return {**self.server.stats(), "websockets": sum(len(p) for p in self._peers.values())}


def _call_state(call: dict[str, Any]) -> dict[str, Any]:
    """The platform's `Call` as a CallState, for the welcome before the bridge holds the call:
    nobody is in it here (what the platform lists is an earlier report, perhaps of a bridge
    that restarted since)."""
    return {
        "session": call.get("session"),
        "state": call.get("state", "active"),
        "started_at": call.get("started_at"),
        "participants": [],
    }
