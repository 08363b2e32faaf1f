"""Helpers for the sync tests: both halves over `memory_pair()`, a link that counts or dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.bridge.link import Link, LinkClosed, memory_pair
from codeforge.bridge.sync.client import SyncEvent, run_sync
from codeforge.bridge.sync.protocol import Message, decode
from codeforge.bridge.sync.server import serve_folder

__all__ = ["Counting", "Pair", "SyncRun", "stop", "tree", "wait_for", "write"]


class Counting:
    """A link wrapper that counts what is sent and can die on a received message."""

    def __init__(self, link: Link, kill_on: Callable[[Message], bool] | None = None) -> None:
        self.link = link
        self.kill_on = kill_on
        self.sent_bytes = 0
        self.killed = False
        self.gate = asyncio.Event()  # cleared: what arrives waits (the side is "busy")
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.link, name)

    async def send(self, message: bytes | str) -> None:
        self.sent_bytes += len(message)
        await self.link.send(message)

    def send_nowait(self, message: bytes | str) -> None:
        self.sent_bytes += len(message)
        self.link.send_nowait(message)

    async def receive(self) -> bytes | str:
        message = await self.link.receive()
        await self.gate.wait()
        if self.kill_on is not None and not self.killed and self.kill_on(decode(message)):
            self.killed = True
            await self.link.close("killed by the test")
            raise LinkClosed("killed by the test")
        return message

    def __aiter__(self) -> AsyncIterator[bytes | str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes | str]:
        while True:
            try:
                yield await self.receive()
            except LinkClosed:
                return


@dataclass
class SyncRun:
    rc: int
    events: list[SyncEvent]
    client_sent: int  # bytes the client put on its link

    def kinds(self, kind: str) -> list[SyncEvent]:
        return [e for e in self.events if e.kind == kind]

    @property
    def final(self) -> dict[str, Any]:
        return [e for e in self.events if e.kind == "status" and e.data.get("phase") == "done"][-1].data


@dataclass
class Pair:
    local: Path
    workspace: Path
    events: list[SyncEvent] = field(default_factory=list)

    async def once(
        self,
        *,
        server_kill_on: Callable[[Message], bool] | None = None,
    ) -> SyncRun:
        """One `--once` sync, both halves in this process."""
        a, b = memory_pair()
        client_link = Counting(a)
        server_link = Counting(b, server_kill_on)
        server = asyncio.ensure_future(serve_folder(server_link, self.workspace))  # type: ignore[arg-type]
        events: list[SyncEvent] = []

        async def dial(channel: str, params: dict[str, str]) -> Link:
            assert channel == "sync" and params["sync_id"]
            return client_link  # type: ignore[return-value]

        rc = await run_sync(dial, self.local, watch=False, on_event=events.append)
        await asyncio.wait_for(server, 30)
        self.events.extend(events)
        return SyncRun(rc, events, client_link.sent_bytes)

    async def watching(self) -> tuple[asyncio.Task[int], asyncio.Task[None], Counting, list[SyncEvent]]:
        client, server, client_link, _, events = await self.watching_both()
        return client, server, client_link, events

    async def watching_both(
        self,
    ) -> tuple[asyncio.Task[int], asyncio.Task[None], Counting, Counting, list[SyncEvent]]:
        """Both halves watching: (client task, server task, client link, server link, events)."""
        a, b = memory_pair()
        client_link = Counting(a)
        server_link = Counting(b)
        server = asyncio.ensure_future(serve_folder(server_link, self.workspace))  # type: ignore[arg-type]
        events: list[SyncEvent] = []

        async def dial(channel: str, params: dict[str, str]) -> Link:
            return client_link  # type: ignore[return-value]

        client = asyncio.ensure_future(run_sync(dial, self.local, watch=True, on_event=events.append))
        await wait_for(lambda: any(e.data.get("phase") == "watching" for e in events), "the initial sync")
        return client, server, client_link, server_link, events


async def stop(client: asyncio.Task[int], server: asyncio.Task[None]) -> None:
    """Stop a watching client as `connect` does (cancel it); its link closes, so the server ends."""
    client.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(client, 30)
    await asyncio.wait_for(server, 30)


def write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)


def tree(root: Path) -> dict[str, Any]:
    """Everything under root except sync's state: path -> bytes, ("link", target) or "dir"."""
    found: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir.startswith(".codeforge/sync-state"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel.startswith(".codeforge/sync-state"):
                continue
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = path.read_bytes()
    return found


async def wait_for(check: Callable[[], bool | Awaitable[bool]], what: str, deadline: float = 30.0) -> None:
    """Poll `check` until true; fail naming `what` after `deadline` seconds (a hang guard,
    not a speed assertion)."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
