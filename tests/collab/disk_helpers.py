"""Helpers for the disk mirror tests: pycrdt clients joined to a real Room over the
y-websocket messages it speaks, and a wait for a real watcher to be watching."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from codeforge.collab import protocol
from codeforge.collab.disk import DiskWatcher
from codeforge.collab.room import Room

__all__ = ["RoomClient", "settle", "watching"]


class RoomClient:
    """A pycrdt document that joins `room` as a peer and exchanges real protocol messages.

    Messages are held in both directions until `pump()`, so clients really edit concurrently:
    each types against its own stale copy and the room merges."""

    def __init__(self, room: Room, username: str) -> None:
        self.room = room
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.inbox: list[bytes] = []
        self.outbox: list[bytes] = []
        self._applying = False
        self.doc.observe(self._on_transaction)
        self.peer = room.connect(self.inbox.append, username=username, may_edit=lambda: True)
        self.outbox.append(protocol.step1(self.doc.get_state()))

    def _on_transaction(self, event: Any) -> None:
        if not self._applying and event.update != b"\x00\x00":
            self.outbox.append(protocol.update_message(event.update))

    async def pump(self) -> None:
        """Send what this client wrote; apply what the room sent."""
        out, self.outbox = self.outbox, []
        for message in out:
            await self.room.receive(self.peer, message)
        await asyncio.sleep(0)  # the room fans out once per loop turn
        incoming = self.inbox[:]
        self.inbox.clear()  # in place: the room's peer holds this list's append
        for data in incoming:
            message = protocol.parse(data)
            if message.kind != protocol.SYNC:
                continue
            if message.step == protocol.STEP1:
                self.outbox.append(protocol.step2(self.doc.get_update(message.payload)))
                continue
            self._applying = True
            try:
                self.doc.apply_update(message.payload)
            finally:
                self._applying = False


async def settle(clients: list[RoomClient]) -> None:
    """Exchange until nobody has anything left to send or receive."""
    for _ in range(20):
        for client in clients:
            await client.pump()
        await asyncio.sleep(0)
        if not any(c.outbox or c.inbox for c in clients):
            return
    raise AssertionError("the clients never settled")


@contextlib.asynccontextmanager
async def watching(
    workspace: Path, on_change: Callable[[str], None], *, polling: bool = False
) -> AsyncIterator[DiskWatcher]:
    """A running DiskWatcher over `workspace`, returned once it demonstrably reports changes
    (a probe file is rewritten until one is seen: watchfiles has no 'ready' signal)."""
    seen = asyncio.Event()

    def relay(rel: str) -> None:
        if rel.startswith("probe-"):
            seen.set()
        else:
            on_change(rel)

    watcher = DiskWatcher(workspace, relay, step_ms=20, debounce_ms=200, polling=polling, poll_ms=50)
    task = asyncio.create_task(watcher.run())
    try:
        for n in itertools.count():
            (workspace / f"probe-{n}").write_text("x")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), 0.5)
                break
            if task.done():
                task.result()
            if n > 60:
                raise AssertionError("the watcher never reported a change")
        yield watcher
    finally:
        watcher.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
