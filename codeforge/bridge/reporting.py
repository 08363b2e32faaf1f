"""Tells the platform what this bridge holds (`bridges.report`) and applies the close
requests the answer carries (`bridges.close` made by a person, an editor or the CLI).

It reports at start, every 2 s while sessions exist, every 20 s while none do, and at once
(after a short batching delay) when something changes, so the platform's list is never more
than a couple of seconds behind and an idle bridge stays listed. It uses the bridge's own token, never an
editor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from codeforge.bridge.sessions import Sessions
from codeforge.catalog.bridges import ID_PATTERN  # importing it declares bridges.report, called by name
from codeforge.catalog.errors import CodeForgeError
from codeforge.client import AsyncPlatformClient

__all__ = ["IDLE_INTERVAL", "INTERVAL", "Reporter"]

log = logging.getLogger(__name__)

INTERVAL = 2.0
IDLE_INTERVAL = 20.0
BATCH = 0.05  # changes this close together go in one report
REPORTED_KINDS = ("terminal", "forward", "debug")
# The limits of `bridges.report`'s input (codeforge/catalog/bridges.py).
ID = re.compile(ID_PATTERN)
MAX_SESSIONS = 5000
MAX_RESOURCES = 1000


class Bridge(Protocol):
    """What a report says of `server.Bridge`."""

    bridge_id: str
    platform_url: str
    project: str
    url: str
    workspace: Path
    sessions: Sessions


class Reporter:
    def __init__(self, bridge: Bridge, token: str) -> None:
        self.bridge = bridge
        self._token = token
        self._platform: AsyncPlatformClient | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.reports = 0  # how many reports the platform accepted (tests and logs)
        bridge.sessions.on_change(self._wake.set)

    def start(self) -> None:
        self._platform = AsyncPlatformClient(self.bridge.platform_url, self._token, timeout=10.0)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._platform is not None:
            # The sessions are gone: say so, briefly, so the list does not wait to go stale.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._platform.call("bridges.report", self.snapshot())
            await self._platform.aclose()

    def snapshot(self) -> dict[str, Any]:
        sessions = []
        for session in list(self.bridge.sessions.by_id.values()):
            if session.ended:
                continue
            sessions.append(
                {
                    "id": session.id,
                    "username": session.user.username,
                    "opened_at": datetime.fromtimestamp(session.opened_at, UTC).isoformat(),
                    "state": session.state,
                    "channels": sorted(set(session.channels.values())),
                    # What the operation's input accepts, so one odd resource cannot fail every report.
                    "resources": [
                        {"kind": r.kind, "id": r.id, "label": r.label[:500]}
                        for r in session.resources.values()
                        if r.kind in REPORTED_KINDS and ID.match(r.id)
                    ][:MAX_RESOURCES],
                }
            )
        return {
            "project": self.bridge.project,
            "bridge": self.bridge.bridge_id,
            "url": self.bridge.url,
            "workspace": str(self.bridge.workspace),
            "sessions": sessions[:MAX_SESSIONS],
        }

    async def _run(self) -> None:
        # A report at start, on every change, every INTERVAL while sessions exist and every
        # IDLE_INTERVAL without: the platform lists an idle bridge as live (it calls one
        # stale after 30 s), so `codeforge ssh-config` finds a bridge nobody has used yet.
        while True:
            await self.report_once()
            busy = len(self.bridge.sessions) > 0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INTERVAL if busy else IDLE_INTERVAL):
                    await self._wake.wait()
                await asyncio.sleep(BATCH)
            self._wake.clear()

    async def report_once(self) -> None:
        assert self._platform is not None
        try:
            answer = await self._platform.call("bridges.report", self.snapshot())
        except CodeForgeError as exc:
            # Said once per outage, not every 2 s.
            if not self._failing:
                log.warning("cannot report to the platform (sessions stay usable): %s", exc.message)
            self._failing = True
            return
        if self._failing:
            log.info("reporting to the platform again")
        self._failing = False
        self.reports += 1
        for request in answer.close:
            await self._apply(request.kind, request.id)

    async def _apply(self, kind: str, id: str) -> None:
        sessions = self.bridge.sessions
        if kind == "session":
            session = sessions.get(id)
            if session is not None:
                log.info("closing session %s on request", id)
                await sessions.end(session, "closed by bridges.close")
            return
        for session in list(sessions.by_id.values()):
            if (kind, id) in session.resources:
                log.info("closing %s %s on request", kind, id)
                await sessions.close_resource(session, kind, id)
                return
