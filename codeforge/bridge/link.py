"""The resumable link: ordered, reliable messages over a websocket that may drop.

A `Link` outlives its websocket. Each side numbers the messages it sends and keeps them
until the peer acknowledges them; when a websocket drops, `send` keeps buffering (up to the
window) and `receive` waits; when a new websocket is attached, each side tells the other the
last number it received (the `X-CodeForge-Received` handshake header) and re-sends only what
the other lacks. A message is therefore delivered exactly once and in order, whatever
happens to the connections in between (docs/bridge.md, "Wire").

Frames (one per websocket message, always a binary websocket message):

    0x01 DATA binary  | 8-byte big-endian number | payload
    0x02 DATA text    | 8-byte big-endian number | UTF-8 payload
    0x03 ACK          | 8-byte number: everything up to it was consumed, free it
    0x04 CLOSE        | UTF-8 reason: this link is over for good

ACKs acknowledge what the application *consumed* (`receive`), not what arrived: the
receiving side never blocks its reader, and the sender's window bounds how much can wait
unread at the receiver. The number on resume is what *arrived*, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

__all__ = [
    "ACK",
    "CLOSE",
    "DATA_BINARY",
    "DATA_TEXT",
    "MAX_MESSAGE",
    "Dial",
    "DialRefused",
    "Link",
    "LinkClosed",
    "LinkError",
    "Socket",
    "memory_pair",
]

log = logging.getLogger(__name__)

DATA_BINARY = 0x01
DATA_TEXT = 0x02
ACK = 0x03
CLOSE = 0x04

# One message's payload at most; a websocket frame adds 9 bytes. Larger data (sync) is chunked.
MAX_MESSAGE = 16 * 1024 * 1024
# The sender waits when this much is sent but not yet acknowledged (whichever comes first).
WINDOW_MESSAGES = 1024
WINDOW_BYTES = 8 * 1024 * 1024
# The receiver acknowledges after this many consumed messages or bytes, else after ACK_DELAY:
# one ACK per batch instead of one per message.
ACK_EVERY = 32
ACK_BYTES = 1024 * 1024
ACK_DELAY = 0.02
# A strict receiver (the bridge's end) ends a link whose peer sends this far past its window:
# a well-behaved `send` never gets near it, a client flooding the bridge's memory does.
STRICT_INBOX_MESSAGES = 8 * WINDOW_MESSAGES
STRICT_INBOX_BYTES = 4 * (WINDOW_BYTES + MAX_MESSAGE)
# How long `close()` waits for buffered messages to go out before it sends CLOSE.
CLOSE_FLUSH = 5.0


class LinkClosed(Exception):
    """The link is over for good: closed by either side, or its session ended."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "link closed")
        self.reason = reason


class LinkError(Exception):
    """The peer broke the protocol (a bad frame, a resume point that cannot be)."""


class DialRefused(Exception):
    """The bridge refused a connection: `status` is the handshake's HTTP status (401 bad
    token, 403 no access, 404 unknown channel, 410 session ended), `reason` its one line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


# What `codeforge connect` hands each client half: open a link on `channel` with query
# parameters; raises DialRefused when the bridge says no, OSError when it cannot be reached.
Dial = Callable[[str, dict[str, str]], Awaitable["Link"]]


class Socket(Protocol):
    """What a link needs of a websocket (websockets' asyncio connections are ones)."""

    async def send(self, message: bytes) -> None: ...
    async def recv(self) -> bytes | str: ...
    async def close(self) -> None: ...


def _data_frame(number: int, message: bytes | str) -> bytes:
    if isinstance(message, str):
        return bytes([DATA_TEXT]) + number.to_bytes(8, "big") + message.encode()
    return bytes([DATA_BINARY]) + number.to_bytes(8, "big") + message


class Link:
    """One reliable, ordered, resumable stream of messages (see the module's docstring)."""

    def __init__(
        self, session_id: str = "", link_id: str = "", params: dict[str, str] | None = None, *, strict: bool = False
    ) -> None:
        self.session_id = session_id
        self.link_id = link_id
        self.params: dict[str, str] = dict(params or {})
        # Sent, not yet acknowledged: (number, frame, payload size), oldest first.
        self._unacked: deque[tuple[int, bytes, int]] = deque()
        self._unacked_bytes = 0
        self._last_sent = 0  # the number of the newest message `send` accepted
        self._written = 0  # the newest number written on the current websocket
        # Arrived, not yet consumed: (number, message).
        self._inbox: deque[tuple[int, bytes | str]] = deque()
        self._inbox_bytes = 0
        self._strict = strict  # refuse a peer that floods past its window (see STRICT_INBOX_*)
        self._received = 0  # the newest number that arrived (what a resume reports)
        self._consumed = 0
        self._consumed_bytes = 0  # since the last ACK
        self._acked = 0  # the newest number we acknowledged to the peer
        self._ack_timer: asyncio.TimerHandle | None = None
        self._socket: Socket | None = None
        self._generation = 0  # which attachment is current; a stale reader changes nothing
        self._wake_writer = asyncio.Event()
        self._changed = asyncio.Event()  # something a waiting send/receive cares about
        self._attached_event = asyncio.Event()
        self._closed_reason: str | None = None
        self._peer_closed = False
        self._on_close: list[Callable[[Link], None]] = []
        self._attachment: asyncio.Future[Any] | None = None  # memory_pair's attach task

    # -- state ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    @property
    def close_reason(self) -> str:
        return self._closed_reason or ""

    @property
    def attached(self) -> bool:
        return self._socket is not None

    @property
    def received(self) -> int:
        """The newest message number that arrived: what this side tells the peer on resume."""
        return self._received

    @property
    def pending(self) -> int:
        """Messages sent and not yet acknowledged."""
        return len(self._unacked)

    def on_close(self, callback: Callable[[Link], None]) -> None:
        """Call `callback(link)` once, when the link is closed for good."""
        if self.closed:
            callback(self)
        else:
            self._on_close.append(callback)

    async def wait_attached(self) -> None:
        await self._attached_event.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- the application's side ---------------------------------------------------------

    async def send(self, message: bytes | str) -> None:
        """Queue a message for the peer; waits only while the unacknowledged window is
        full (the peer is slow or away). LinkClosed once the link is closed."""
        while True:
            if self.closed:
                raise LinkClosed(self.close_reason)
            full = self._unacked and (len(self._unacked) >= WINDOW_MESSAGES or self._unacked_bytes >= WINDOW_BYTES)
            if not full:
                break
            await self._changed.wait()
        self.send_nowait(message)

    def send_nowait(self, message: bytes | str) -> None:
        """`send` without waiting for the window: for a producer that cannot wait (a
        synchronous writer such as pygls'); the window then bounds nothing."""
        if self.closed:
            raise LinkClosed(self.close_reason)
        size = len(message)
        if size > MAX_MESSAGE:
            raise ValueError(f"a link message holds at most {MAX_MESSAGE} bytes, not {size}: send it in chunks")
        self._last_sent += 1
        self._unacked.append((self._last_sent, _data_frame(self._last_sent, message), size))
        self._unacked_bytes += size
        self._wake_writer.set()

    async def receive(self) -> bytes | str:
        """The next message from the peer; LinkClosed when the link is over and everything
        that arrived before has been received."""
        while not self._inbox:
            if self.closed:
                raise LinkClosed(self.close_reason)
            await self._changed.wait()
        number, message = self._inbox.popleft()
        self._inbox_bytes -= len(message)
        self._consumed = number
        self._consumed_bytes += len(message)
        self._schedule_ack()
        return message

    def __aiter__(self) -> AsyncIterator[bytes | str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes | str]:
        while True:
            try:
                yield await self.receive()
            except LinkClosed:
                return

    async def close(self, reason: str = "") -> None:
        """End the link for good: what was sent goes out first (for a few seconds at most),
        then the peer gets CLOSE; both sides' `receive` then raise LinkClosed."""
        if self.closed:
            return
        socket = self._socket
        if socket is not None and not self._peer_closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_FLUSH):
                    while self._socket is socket and self._written < self._last_sent:
                        await self._changed.wait()
        self._mark_closed(reason)
        if socket is not None:
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                if not self._peer_closed:
                    await socket.send(bytes([CLOSE]) + reason.encode())
                await socket.close()

    def _mark_closed(self, reason: str) -> None:
        if self.closed:
            return
        self._closed_reason = reason or "closed"
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        self._wake_writer.set()
        self._notify()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # one observer's bug must not keep the others from hearing
                log.exception("a link close callback failed")

    # -- acknowledgements ----------------------------------------------------------------

    def _schedule_ack(self) -> None:
        if self._consumed - self._acked >= ACK_EVERY or self._consumed_bytes >= ACK_BYTES:
            self._wake_writer.set()
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._ack_due)

    def _ack_due(self) -> None:
        self._ack_timer = None
        self._wake_writer.set()

    def _acknowledged(self, number: int) -> None:
        if number > self._last_sent:
            raise LinkError(f"ACK {number} for a message never sent (newest {self._last_sent})")
        freed = False
        while self._unacked and self._unacked[0][0] <= number:
            _, _, size = self._unacked.popleft()
            self._unacked_bytes -= size
            freed = True
        if freed:
            self._notify()

    # -- websockets -----------------------------------------------------------------------

    async def attach(self, socket: Socket, peer_received: int) -> None:
        """Carry the link over `socket` until it drops (returns then) or the link closes.

        `peer_received` is the newest number the peer says it received (its handshake
        header): older messages are freed, newer ones re-sent first. Attaching replaces the
        websocket attached before, if any (a half-open connection the new one supersedes)."""
        if self.closed:
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                await socket.send(bytes([CLOSE]) + self.close_reason.encode())
                await socket.close()
            return
        first_kept = self._unacked[0][0] if self._unacked else self._last_sent + 1
        if peer_received > self._last_sent or peer_received < first_kept - 1:
            await socket.close()
            raise LinkError(
                f"the peer resumes after message {peer_received}, but this side holds {first_kept}..{self._last_sent}"
            )
        self._acknowledged(peer_received)
        old = self._socket
        self._generation += 1
        generation = self._generation
        self._socket = socket
        self._written = peer_received
        self._attached_event.set()
        if old is not None:
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                await old.close()
        self._wake_writer.set()
        self._notify()
        writer = asyncio.create_task(self._write(socket, generation))
        try:
            await self._read(socket, generation)
        except LinkError as exc:
            # A peer that breaks the protocol cannot be resumed safely: end the link, saying why.
            log.warning("link %s/%s: %s", self.session_id, self.link_id, exc)
            self._inbox.clear()  # the link is broken: what waits unread goes (a flood's memory too)
            self._inbox_bytes = 0
            self._mark_closed(f"protocol error: {exc}")
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                await socket.send(bytes([CLOSE]) + self.close_reason.encode())
                await socket.close()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError, RuntimeError):
                await writer
            if self._generation == generation:
                self._socket = None
                self._attached_event.clear()
                self._notify()

    async def _read(self, socket: Socket, generation: int) -> None:
        while not self.closed and self._generation == generation:
            try:
                frame = await socket.recv()
            except (ConnectionClosed, OSError):
                return
            if self._generation != generation:
                return
            if isinstance(frame, str) or not frame:
                raise LinkError("a link frame is a non-empty binary websocket message")
            kind = frame[0]
            if kind in (DATA_BINARY, DATA_TEXT):
                number = int.from_bytes(frame[1:9], "big")
                if number <= self._received:
                    continue  # re-sent after a resume that crossed it: already delivered
                if number != self._received + 1:
                    raise LinkError(f"message {number} arrived after {self._received}: one is missing")
                self._received = number
                payload = frame[9:]
                message = payload.decode() if kind == DATA_TEXT else bytes(payload)
                self._inbox.append((number, message))
                self._inbox_bytes += len(message)
                if self._strict and (
                    len(self._inbox) > STRICT_INBOX_MESSAGES or self._inbox_bytes > STRICT_INBOX_BYTES
                ):
                    raise LinkError(
                        f"the peer sent {len(self._inbox)} messages past what was read: it ignores the window"
                    )
                self._notify()
            elif kind == ACK:
                self._acknowledged(int.from_bytes(frame[1:9], "big"))
            elif kind == CLOSE:
                self._peer_closed = True
                self._mark_closed(bytes(frame[1:]).decode(errors="replace") or "closed by the peer")
                with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                    await socket.close()
                return
            else:
                raise LinkError(f"unknown link frame kind {kind:#x}")

    async def _write(self, socket: Socket, generation: int) -> None:
        """The only writer of `socket`: data in number order, then any ACK that is due."""
        while self._generation == generation and not self.closed:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            while self._generation == generation and not self.closed:
                frame = self._next_frame()
                if frame is None:
                    break
                await socket.send(frame)
                self._notify()
            if self._generation != generation or self.closed:
                return
            if self._consumed > self._acked and (
                self._consumed - self._acked >= ACK_EVERY or self._consumed_bytes >= ACK_BYTES or not self._ack_timer
            ):
                number = self._consumed
                self._acked = number
                self._consumed_bytes = 0
                await socket.send(bytes([ACK]) + number.to_bytes(8, "big"))

    def _next_frame(self) -> bytes | None:
        """The first message not yet written on the current websocket."""
        if self._written >= self._last_sent:
            return None
        first = self._unacked[0][0]
        number, frame, _ = self._unacked[self._written + 1 - first]
        self._written = number
        return frame


class _MemorySocket:
    """One end of an in-process websocket, for `memory_pair` and unit tests."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.peer: _MemorySocket | None = None
        self.is_closed = False

    async def send(self, message: bytes) -> None:
        if self.is_closed or self.peer is None or self.peer.is_closed:
            raise ConnectionClosed(None, None)
        self.peer.incoming.put_nowait(message)

    async def recv(self) -> bytes:
        message = await self.incoming.get()
        if message is None:
            raise ConnectionClosed(None, None)
        return message

    async def close(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            self.incoming.put_nowait(None)
            if self.peer is not None and not self.peer.is_closed:
                await self.peer.close()


def memory_pair(params: dict[str, str] | None = None) -> tuple[Link, Link]:
    """Two linked ends in this process (call it inside a running event loop): what one
    sends the other receives. For unit tests of channels, without websockets."""
    a, b = Link("memory", "memory", params), Link("memory", "memory", params)
    sa, sb = _MemorySocket(), _MemorySocket()
    sa.peer, sb.peer = sb, sa
    for link, socket in ((a, sa), (b, sb)):
        link._attachment = asyncio.ensure_future(link.attach(socket, 0))  # kept as long as the link
    return a, b
