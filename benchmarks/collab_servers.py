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
import signal
import sys
import tempfile
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


async def serve_codeforge(port: int, state: Path) -> None:
    # The endpoint's own per-connection code (codeforge.bridge.collab.serve_peer) on the
    # bridge's rooms: a hub over a workspace folder with its store, as `codeforge bridge` starts.
    from codeforge.bridge.collab import serve_peer
    from codeforge.collab import RoomHub, RoomStore

    workspace = state / "workspace"
    workspace.mkdir()
    store = RoomStore(state / "collab.sqlite")
    await store.start()
    hub = RoomHub(workspace, store)
    await hub.start()

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
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
