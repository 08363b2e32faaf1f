"""The Python y-websocket servers benchmarks/collab.py measures, each a process of its own
(the benchmark pins it to one core):

    python -m benchmarks.collab_servers codeforge --port P   # CodeForge's rooms (codeforge.collab)
    python -m benchmarks.collab_servers pycrdt --port P      # plain pycrdt-websocket 0.16.5

`codeforge` serves the code the bridge's `/collab/…` endpoint runs for every connection
(`codeforge.bridge.collab.serve_peer`: `room.connect`, `room.receive`, `room.disconnect`) on
a `RoomHub` with its `RoomStore` and workspace folder, behind a bare websockets server: no
platform, no token check (those run once per connection, not per edit). The room name is the
URL path.
Both print `listening PORT` once they accept connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["main"]


async def _until_terminated() -> None:
    """Serve until SIGTERM (the benchmark's stop), then return so the rooms close cleanly."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _room_name(connection: ServerConnection) -> str:
    path = connection.request.path if connection.request is not None else "/"
    return path.split("?", 1)[0].lstrip("/") or "room"


# CodeForge's rooms -------------------------------------------------------------------------


class _Trace:
    """--trace: when each peer's update reached the room and when the flush that relayed it
    began and finished writing to the last socket (time.monotonic_ns: the clock the load
    generator's trace is on), per update, written as JSON at exit. The hooks wrap the room's
    own methods and add two clock reads and an append per message; updates are decoded only
    at exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = 0
        self.pending: list[tuple[int, bytes, int]] = []  # received, update, queued
        self.rows: list[tuple[bytes, int, int, int, int]] = []  # update, received, queued, flush start, end
        self.flushes: list[tuple[int, int, int, int]] = []  # start, end, updates, peers
        self.gc: list[tuple[int, int, int]] = []  # the server's garbage collections: generation, start, ns

    def install(self) -> None:
        from codeforge.collab.room import Room

        receive, queue, flush = Room.receive, Room._queue_update, Room.flush
        trace = self

        async def traced_receive(room: Room, peer: Any, data: bytes) -> None:
            trace.received = time.monotonic_ns()
            await receive(room, peer, data)

        def traced_queue(room: Room, origin: Any, update: bytes) -> None:
            if origin is not None:
                trace.pending.append((trace.received, update, time.monotonic_ns()))
            queue(room, origin, update)

        def traced_flush(room: Room) -> None:
            start = time.monotonic_ns()
            batch, trace.pending = trace.pending, []
            flush(room)
            end = time.monotonic_ns()
            trace.rows += ((u, r, q, start, end) for r, u, q in batch)
            trace.flushes.append((start, end, len(batch), len(room.peers)))

        gc_started = [0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.monotonic_ns()
            else:
                trace.gc.append((info["generation"], gc_started[0], time.monotonic_ns() - gc_started[0]))

        gc.callbacks.append(on_gc)
        Room.receive = traced_receive  # type: ignore[method-assign,assignment]
        Room._queue_update = traced_queue  # type: ignore[method-assign,assignment]
        Room.flush = traced_flush  # type: ignore[method-assign,assignment]

    def write(self) -> None:
        def first_struct(update: bytes) -> tuple[int, int]:
            # a v1 update: varuint groups, then per group varuint structs, client, clock
            values: list[int] = []
            pos = 0
            while len(values) < 4:
                value, shift = 0, 0
                while True:
                    byte = update[pos]
                    pos += 1
                    value |= (byte & 0x7F) << shift
                    shift += 7
                    if byte < 0x80:
                        break
                values.append(value)
            return values[2], values[3]

        rows = []
        for update, received, queued, start, end in self.rows:
            client, clock = first_struct(update)
            rows.append({"client": client, "clock": clock, "received": received, "queued": queued,
                         "flushStart": start, "flushEnd": end})  # fmt: skip
        flushes = [{"start": s, "end": e, "updates": n, "peers": p} for s, e, n, p in self.flushes]
        gcs = [{"generation": g, "start": t, "ms": ns / 1e6} for g, t, ns in self.gc]
        tracked = {"frozen": gc.get_freeze_count()}
        self.path.write_text(json.dumps({"updates": rows, "flushes": flushes, "gc": gcs, "objects": tracked}))


async def serve_codeforge(port: int, state: Path) -> None:
    # The endpoint's own per-connection code (codeforge.bridge.collab.serve_peer) on the
    # bridge's rooms: a hub over a workspace folder with its store, as `codeforge bridge` starts.
    from codeforge.bridge.collab import freeze_startup_objects, serve_peer
    from codeforge.collab import RoomHub, RoomStore

    workspace = state / "workspace"
    workspace.mkdir()
    store = RoomStore(state / "collab.sqlite")
    await store.start()
    hub = RoomHub(workspace, store)
    await hub.start()
    freeze_startup_objects()  # as CollabEndpoint.start does

    async def handler(connection: ServerConnection) -> None:
        room = await hub.open(_room_name(connection))
        await serve_peer(connection, room, username="bench", may_edit=lambda: True)

    try:
        async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**24):
            print(f"listening {port}", flush=True)
            await _until_terminated()
    finally:
        await hub.close()
        await store.close()


# plain pycrdt-websocket --------------------------------------------------------------------


class _Channel:
    """pycrdt-websocket's Channel over a websockets connection (its own adapters are ASGI's)."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self.path = _room_name(connection)

    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._connection.send(message)

    async def recv(self) -> bytes:
        message: Any = await self._connection.recv()
        return bytes(message) if not isinstance(message, str) else message.encode()


async def serve_pycrdt(port: int) -> None:
    from pycrdt.websocket import WebsocketServer

    async with WebsocketServer(auto_clean_rooms=False) as server:

        async def handler(connection: ServerConnection) -> None:
            await server.serve(_Channel(connection))

        async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**24):
            print(f"listening {port}", flush=True)
            await _until_terminated()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server", choices=("codeforge", "pycrdt"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the server's run here (at SIGTERM)")
    parser.add_argument("--trace", type=Path, help="codeforge: write when each update came and went here (at SIGTERM)")
    parser.add_argument("--coalesce-ms", type=float, help="codeforge: the rooms' coalescing window (room.COALESCE)")
    args = parser.parse_args(argv)
    trace = _Trace(args.trace) if args.trace is not None and args.server == "codeforge" else None
    if trace is not None:
        trace.install()
    if args.coalesce_ms is not None:
        from codeforge.collab import room

        room.COALESCE = args.coalesce_ms / 1000  # fixed, instead of by peers
    profiler = None
    if args.profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        with tempfile.TemporaryDirectory(prefix="collab-bench-") as state:
            if args.server == "codeforge":
                asyncio.run(serve_codeforge(args.port, Path(state)))
            else:
                asyncio.run(serve_pycrdt(args.port))
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None and args.profile is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        if trace is not None:
            trace.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
