"""The resumable link over real websockets: exactly-once, ordered delivery both ways while
connections are killed mid-stream (TCP aborted, no close handshake), the window's
backpressure, CLOSE, and a peer that breaks the protocol."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from codeforge.bridge import link as link_module
from codeforge.bridge.link import MAX_MESSAGE, WINDOW_MESSAGES, Link, LinkClosed, memory_pair

RECEIVED = "X-CodeForge-Received"


@dataclass
class Harness:
    """One server-side link behind a websockets server, and a client link that redials
    after every drop, as the bridge and `codeforge connect` do."""

    server_link: Link = field(default_factory=lambda: Link("s", "l"))
    client_link: Link = field(default_factory=lambda: Link("s", "l"))
    server: Server | None = None
    port: int = 0
    client_socket: ClientConnection | None = None
    server_sockets: list[ServerConnection] = field(default_factory=list)
    connections: int = 0
    keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async def handler(connection: ServerConnection) -> None:
            self.server_sockets.append(connection)
            await self.server_link.attach(connection, int(connection.request.headers[RECEIVED]))  # type: ignore[union-attr]

        def process_response(connection: ServerConnection, request: Request, response: Response) -> None:
            response.headers[RECEIVED] = str(self.server_link.received)

        self.server = await serve(
            handler, "127.0.0.1", 0, process_response=process_response, compression=None, max_size=MAX_MESSAGE + 64
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.keeper = asyncio.create_task(self._keep())
        await self.client_link.wait_attached()

    async def _keep(self) -> None:
        while not self.client_link.closed:
            try:
                socket = await connect(
                    f"ws://127.0.0.1:{self.port}/",
                    additional_headers={RECEIVED: str(self.client_link.received)},
                    compression=None,
                    proxy=None,
                    max_size=MAX_MESSAGE + 64,
                )
            except OSError:
                await asyncio.sleep(0.01)
                continue
            self.connections += 1
            self.client_socket = socket
            assert socket.response is not None
            await self.client_link.attach(socket, int(socket.response.headers[RECEIVED]))

    def kill(self, side: str = "client") -> None:
        """Abort the current TCP connection from one side, mid-whatever."""
        if side == "client" and self.client_socket is not None:
            self.client_socket.transport.abort()
        elif self.server_sockets:
            self.server_sockets[-1].transport.abort()

    async def stop(self) -> None:
        for link in (self.client_link, self.server_link):
            link._mark_closed("test over")
        if self.keeper is not None:
            self.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keeper
        if self.client_socket is not None:
            await self.client_socket.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.start()
    yield h
    await h.stop()


async def _pump(sender: Link, count: int, tag: str) -> None:
    for i in range(count):
        # Text and binary alternate: each keeps its type across resumes.
        await sender.send(f"{tag}{i}" if i % 2 else f"{tag}{i}".encode())


async def _collect(receiver: Link, count: int) -> list[bytes | str]:
    return [await receiver.receive() for _ in range(count)]


def _expected(tag: str, count: int) -> list[bytes | str]:
    return [f"{tag}{i}" if i % 2 else f"{tag}{i}".encode() for i in range(count)]


async def test_exactly_once_in_order_both_ways_while_connections_are_killed(harness: Harness) -> None:
    count = 6000
    rng = random.Random(9)

    async def killer() -> None:
        # Kill whichever side's TCP connection, at random points of the stream.
        for _ in range(12):
            await asyncio.sleep(rng.uniform(0.005, 0.05))
            harness.kill(rng.choice(["client", "server"]))

    up = asyncio.create_task(_pump(harness.client_link, count, "up"))
    down = asyncio.create_task(_pump(harness.server_link, count, "down"))
    kills = asyncio.create_task(killer())
    got_up, got_down = await asyncio.wait_for(
        asyncio.gather(_collect(harness.server_link, count), _collect(harness.client_link, count)), 120
    )
    await asyncio.gather(up, down, kills)
    assert got_up == _expected("up", count)
    assert got_down == _expected("down", count)
    assert harness.connections > 5  # the stream really crossed several connections


async def test_while_disconnected_send_buffers_and_receive_waits(harness: Harness) -> None:
    assert harness.server is not None
    harness.server.close()  # no reconnect possible for now
    await harness.server.wait_closed()
    await asyncio.sleep(0)
    for i in range(50):
        await harness.client_link.send(f"m{i}")
    assert not harness.client_link.attached
    assert harness.client_link.pending == 50
    # The bridge comes back on the same port: everything buffered goes through, once.
    port = harness.port

    async def handler(connection: ServerConnection) -> None:
        await harness.server_link.attach(connection, int(connection.request.headers[RECEIVED]))  # type: ignore[union-attr]

    def process_response(connection: ServerConnection, request: Request, response: Response) -> None:
        response.headers[RECEIVED] = str(harness.server_link.received)

    harness.server = await serve(handler, "127.0.0.1", port, process_response=process_response)
    got = await asyncio.wait_for(_collect(harness.server_link, 50), 60)
    assert got == [f"m{i}" for i in range(50)]


async def test_the_window_holds_a_sender_back_until_the_peer_reads(harness: Harness) -> None:
    for i in range(WINDOW_MESSAGES):
        await harness.client_link.send(f"m{i}")
    blocked = asyncio.create_task(harness.client_link.send("one too many"))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not blocked.done()  # the peer has read nothing: no acknowledgement, no room
    assert harness.client_link.pending == WINDOW_MESSAGES
    got = await asyncio.wait_for(_collect(harness.server_link, WINDOW_MESSAGES + 1), 60)
    await asyncio.wait_for(blocked, 60)
    assert got[-1] == "one too many" and got[0] == "m0"


async def test_acks_are_batched_and_free_the_sender(harness: Harness) -> None:
    for i in range(100):
        await harness.client_link.send(f"m{i}")
    await asyncio.wait_for(_collect(harness.server_link, 100), 60)
    while harness.client_link.pending:  # the last, partial batch is acknowledged after a short delay
        await asyncio.sleep(0.01)
    assert harness.server_link._acked == 100


async def test_large_messages_and_the_size_limit(harness: Harness) -> None:
    big = bytes(range(256)) * (3 * 1024 * 4)  # 3 MiB
    await harness.client_link.send(big)
    assert await asyncio.wait_for(harness.server_link.receive(), 60) == big
    with pytest.raises(ValueError, match="in chunks"):
        await harness.client_link.send(b"x" * (MAX_MESSAGE + 1))


async def test_close_delivers_what_was_sent_then_ends_both_sides(harness: Harness) -> None:
    for i in range(10):
        await harness.server_link.send(f"last{i}")
    await harness.server_link.close("session ended: test")
    got = [message async for message in harness.client_link]
    assert got == [f"last{i}" for i in range(10)]
    with pytest.raises(LinkClosed) as closed:
        await harness.client_link.receive()
    assert closed.value.reason == "session ended: test"
    with pytest.raises(LinkClosed):
        await harness.client_link.send("too late")


async def test_a_peer_that_breaks_the_protocol_ends_the_link(harness: Harness) -> None:
    socket = harness.client_socket
    assert socket is not None
    # Message 5 when nothing came before: one is missing, which cannot be repaired.
    await socket.send(bytes([link_module.DATA_TEXT]) + (5).to_bytes(8, "big") + b"hole")
    with pytest.raises(LinkClosed) as closed:
        await asyncio.wait_for(harness.server_link.receive(), 60)
    assert "protocol error" in closed.value.reason and "missing" in closed.value.reason


async def test_a_strict_end_refuses_a_peer_that_ignores_the_window(harness: Harness) -> None:
    harness.server_link._strict = True  # as the bridge makes its links
    harness.client_link._mark_closed("replaced by a rogue client")  # the well-behaved client leaves
    # A client that writes frames itself, ignoring the window and every acknowledgement.
    async with connect(f"ws://127.0.0.1:{harness.port}/", additional_headers={RECEIVED: "0"}, proxy=None) as rogue:
        for number in range(1, link_module.STRICT_INBOX_MESSAGES + 2):
            await rogue.send(bytes([link_module.DATA_TEXT]) + number.to_bytes(8, "big") + b"flood")
    with pytest.raises(LinkClosed) as closed:
        while True:
            await asyncio.wait_for(harness.server_link.receive(), 60)
    assert "ignores the window" in closed.value.reason
    assert not harness.server_link._inbox  # and its memory is let go


async def test_a_resume_point_that_cannot_be_is_refused() -> None:
    link = Link("s", "l")
    a, b = memory_pair()  # any socket will do; the link refuses before using it
    with pytest.raises(link_module.LinkError, match="resumes after message 3"):
        await link.attach(a._socket or _Dead(), 3)  # nothing was ever sent on `link`
    await a.close()
    await b.close()


class _Dead:
    async def send(self, message: bytes) -> None:
        raise OSError

    async def recv(self) -> bytes:
        raise OSError

    async def close(self) -> None:
        pass


async def test_memory_pair_carries_both_types_and_closes() -> None:
    a, b = memory_pair({"name": "x"})
    await a.send("text")
    await a.send(b"\x00bin")
    assert await b.receive() == "text"
    assert await b.receive() == b"\x00bin"
    assert b.params == {"name": "x"}
    await b.close("done")
    with pytest.raises(LinkClosed):
        await a.receive()
