"""Collaboration test helpers.

The bridge fixtures (tests/bridge/conftest.py) are imported, not copied, so both suites start
bridges the same way: `live_bridge`, `bridge_factory`, `bridge_folder`, `other_org_token`.

    collab_server      an in-process websockets server on a RoomHub (a workspace folder and a
                       store in tmp_path), serving `ws://…/<room path>` through the endpoint's
                       own `serve_peer`; `?guest=1` makes the peer read-only
    NodeClient         a real Yjs client (tests/collab/node/client.mjs: yjs + y-websocket)
    PyClient           a pycrdt client speaking the protocol through `codeforge.collab.protocol`
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from codeforge.bridge.collab import serve_peer
from codeforge.collab import RoomHub, RoomStore, protocol
from tests.bridge.conftest import (  # noqa: F401  (pytest finds fixtures by name in this module)
    bridge_factory,
    bridge_folder,
    live_bridge,
    other_org_token,
)
from tests.conftest import ROOT, require

NODE_DIR = ROOT / "tests" / "collab" / "node"


async def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (sync or async); AssertionError naming
    `what` after `timeout` (a bound for a broken run, not a timed assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class CollabServer:
    hub: RoomHub
    store: RoomStore
    workspace: Path
    url: str
    connections: list[ServerConnection] = field(default_factory=list)


@contextlib.asynccontextmanager
async def run_server(workspace: Path, store_path: Path, **hub_options: Any) -> AsyncIterator[CollabServer]:
    store = RoomStore(store_path)
    await store.start()
    hub = RoomHub(workspace, store, **hub_options)
    await hub.start()
    server_box: list[CollabServer] = []

    async def handler(connection: ServerConnection) -> None:
        url = urlsplit(connection.request.path if connection.request else "/")
        params = dict(parse_qsl(url.query))
        room = await hub.open(unquote(url.path.lstrip("/")))
        server_box[0].connections.append(connection)
        guest = params.get("guest") == "1"
        await serve_peer(
            connection,
            room,
            username=params.get("user", "tester"),
            may_edit=lambda: not guest,
            lifetime=params.get("lifetime"),
        )

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=64 * 1024 * 1024) as server:
        port = server.sockets[0].getsockname()[1]
        running = CollabServer(hub, store, workspace, f"ws://127.0.0.1:{port}")
        server_box.append(running)
        try:
            yield running
        finally:
            server.close()
            await server.wait_closed()
            await hub.close()


@pytest.fixture
async def collab_server(tmp_path: Path) -> AsyncIterator[CollabServer]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "app.py").write_text("def greet(name):\n    return 'hi ' + name\n")
    async with run_server(workspace, tmp_path / "state" / "collab.sqlite") as server:
        yield server


class NodeClient:
    """A real Yjs client in Node (y-websocket's provider), driven over its stdio."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, room: str, token: str = "", lifetime: str = "") -> NodeClient:
        node = shutil.which("node")
        require("node", node is not None and (NODE_DIR / "node_modules" / "yjs").is_dir(), "node and tests/collab/node")
        assert node is not None
        process = await asyncio.create_subprocess_exec(
            node, str(NODE_DIR / "client.mjs"), url, room, token, lifetime,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=NODE_DIR,
            limit=64 * 1024 * 1024,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "answer" in message:
                await self._answers.put(message)
            else:
                self.events.append(message)

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        await self.process.stdin.drain()
        answer = await asyncio.wait_for(self._answers.get(), 60)
        assert answer["answer"] == op, answer
        return answer

    async def text(self) -> str:
        return str((await self.command("text"))["text"])

    async def event(self, kind: str, seen: int = 0, **match: Any) -> dict[str, Any]:
        """The first event of `kind` (from index `seen`) whose fields match."""

        def found() -> dict[str, Any] | None:
            return next(
                (e for e in self.events[seen:] if e["event"] == kind and all(e.get(k) == v for k, v in match.items())),
                None,
            )

        return await eventually(found, f"a {kind} event {match or ''} from the Yjs client")

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("exit"), 5)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        self._reader.cancel()


class PyClient:
    """A pycrdt document synced with a room over a websocket, as a Python Yjs client."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.synced = asyncio.Event()
        self.denied: list[str] = []
        self.awareness: list[list[protocol.AwarenessEntry]] = []
        self._remote = False
        self._sends: set[asyncio.Future[None]] = set()
        self.doc.observe(self._local_change)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **options: Any) -> PyClient:
        websocket = await connect(url, compression=None, max_size=64 * 1024 * 1024, **options)
        client = cls(websocket)
        await websocket.send(protocol.step1(client.doc.get_state()))
        return client

    def _local_change(self, event: Any) -> None:
        if not self._remote:
            sending = asyncio.ensure_future(self.websocket.send(protocol.update_message(event.update)))
            self._sends.add(sending)
            sending.add_done_callback(self._sends.discard)

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for data in self.websocket:
                assert isinstance(data, bytes)
                message = protocol.parse(data)
                if message.kind == protocol.SYNC and message.step == protocol.STEP1:
                    await self.websocket.send(protocol.step2(self.doc.get_update(message.payload)))
                elif message.kind == protocol.SYNC:
                    self._remote = True
                    try:
                        self.doc.apply_update(message.payload)
                    finally:
                        self._remote = False
                    if message.step == protocol.STEP2:
                        self.synced.set()
                elif message.kind == protocol.AUTH:
                    self.denied.append(message.reason)
                elif message.kind == protocol.AWARENESS:
                    self.awareness.append(protocol.decode_awareness(message.payload))

    async def close(self) -> None:
        await self.websocket.close()
        self._reader.cancel()
