"""Channels served in-process for their unit tests: the bridge's real session bookkeeping
(`Sessions`, `ChannelContext`) with memory links instead of websockets.

`until` waits for an outcome under a hang guard; it is never a timed assertion.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.bridge import ports, terminal
from codeforge.bridge.channels import Serve
from codeforge.bridge.link import Dial, Link, memory_pair
from codeforge.bridge.sessions import ChannelContext, Identity, Session, Sessions
from codeforge.client import AsyncPlatformClient

__all__ = ["ALICE", "GUARD_S", "ChannelBridge", "until"]

GUARD_S = 20.0
ALICE = Identity("alice", "developer", "acme")
SERVES: dict[str, Serve] = {
    "terminal": terminal.serve,
    "ports": ports.serve_ports,
    "forward": ports.serve_forward,
}


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(GUARD_S):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(what) from None


@dataclass
class ChannelBridge:
    """Sessions and channel contexts as the bridge keeps them; each dial is a memory pair."""

    workspace: Path
    platform_url: str
    token: str = "not-a-real-token"
    project: str = "demo"
    sessions: Sessions = field(default_factory=lambda: Sessions(grace=60))
    shared: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def session(self, user: Identity = ALICE) -> Session:
        sid = os.urandom(6).hex()
        return self.sessions.open(sid, user, self.token, AsyncPlatformClient(self.platform_url, self.token))

    async def dial(self, session: Session, channel: str, params: dict[str, str]) -> Link:
        client, server = memory_pair(params)
        server.link_id = client.link_id = os.urandom(6).hex()
        self.sessions.add_link(session, channel, server)
        ctx = ChannelContext(
            session, self.workspace, self.project, session.platform, params, self.shared, self.sessions
        )

        async def run() -> None:
            await server.wait_attached()  # as the real server does; a memory link attaches in a task
            try:
                await SERVES[channel](server, ctx)
            finally:
                await server.close()

        self.tasks.append(asyncio.create_task(run()))
        return client

    def dialer(self, session: Session) -> Dial:
        async def dial(channel: str, params: dict[str, str]) -> Link:
            return await self.dial(session, channel, params)

        return dial

    async def stop(self) -> None:
        await self.sessions.end_all("test over")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
