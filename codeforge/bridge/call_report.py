"""Tells the platform about each call the bridge holds (`collab.call_report`, with the
bridge's own token, never a participant's) and applies what the answer carries: the mutes
made with `collab.call_mute` and an end made with `collab.call_end` (docs/voice.md).

A call is reported on every change (batched: `talking` flips come many a second) and every
INTERVAL while it is active, so a mute made on the platform applies within INTERVAL and the
platform's participant list is never more than that behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from codeforge.catalog.errors import CodeForgeError
from codeforge.client import AsyncPlatformClient
from codeforge.collab.rtc import CallError, CallServer

__all__ = ["BATCH", "INTERVAL", "CallReporter"]

log = logging.getLogger(__name__)

INTERVAL = 2.0
BATCH = 0.1  # changes this close together go in one report


class CallReporter:
    def __init__(self, server: CallServer, bridge: Any, token: str) -> None:
        self.server = server
        self.bridge = bridge  # platform_url, bridge_id
        self._token = token
        self._platform: AsyncPlatformClient | None = None
        self._states: dict[str, dict[str, Any] | None] = {}  # session -> its last CallState (None: gone)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.reports = 0  # how many reports the platform accepted (tests and logs)
        self._unsubscribe = server.on_change(self._changed)

    def start(self) -> None:
        self._platform = AsyncPlatformClient(self.bridge.platform_url, self._token, timeout=10.0)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._platform is not None:
            with contextlib.suppress(Exception):  # the calls ended with the bridge: said briefly
                async with asyncio.timeout(2):
                    await self._report_dirty()
            await self._platform.aclose()

    def _changed(self, session: str, state: Any) -> None:
        self._states[session] = _json(state) if state is not None else None
        self._dirty.add(session)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INTERVAL):
                    await self._wake.wait()
                await asyncio.sleep(BATCH)
            self._wake.clear()
            # Every active call every INTERVAL; the changed ones now.
            for session, state in self._states.items():
                if state is not None and state.get("state") == "active":
                    self._dirty.add(session)
            try:
                await self._report_dirty()
            except Exception:  # a bug in one report must not stop the next ones
                log.exception("reporting calls failed")

    async def _report_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for session in dirty:
            await self.report(session)

    async def report(self, session: str) -> None:
        assert self._platform is not None
        state = self._states.get(session)
        participants = [_reported(p) for p in state.get("participants", [])] if state is not None else []
        try:
            answer = await self._platform.call(
                "collab.call_report",
                {"session": session, "bridge": self.bridge.bridge_id, "participants": participants},
            )
        except CodeForgeError as exc:
            if exc.status in (404, 410):  # the session or its call is gone: nothing to report
                self._forget(session)
                return
            if not self._failing:  # said once per outage, not every 2 s
                log.warning("cannot report calls to the platform (calls go on): %s", exc.message)
            self._failing = True
            self._dirty.add(session)
            return
        if self._failing:
            log.info("reporting calls to the platform again")
        self._failing = False
        self.reports += 1
        if state is None or state.get("state") != "active":
            self._forget(session)
            return
        await self._apply(session, answer)

    def _forget(self, session: str) -> None:
        """An ended call is reported once; a new call of the session starts afresh."""
        state = self._states.get(session)
        if state is None or state.get("state") != "active":
            self._states.pop(session, None)

    async def _apply(self, session: str, answer: Any) -> None:
        data = answer.model_dump(mode="json") if hasattr(answer, "model_dump") else dict(answer)
        call = self.server.call(session)
        if call is None:
            return
        if data.get("state") == "ended":
            log.info("the call of session %s was ended on the platform", session)
            await self.server.end(session, "the call was ended")
            return
        state = call.state()
        current = {p["username"]: p for p in state.get("participants", [])}
        for mute in data.get("mutes") or []:
            username, muted = str(mute["username"]), bool(mute["muted"])
            participant = current.get(username)
            if participant is None or bool(participant.get("muted")) == muted:
                continue
            try:
                call.mute(username, muted, by=_muted_by(state, username, muted))
            except CallError as exc:
                log.info("cannot apply the platform's mute of %s in %s: %s", username, session, exc.message)


def _muted_by(state: Any, username: str, muted: bool) -> str:
    """Who a platform mute is said to be by: `collab.call_mute` lets the host mute others
    and anyone mute or unmute themselves; the answer names only the target."""
    if not muted:
        return username
    host = next((p["username"] for p in state.get("participants", []) if p.get("host")), None)
    return host or username


REPORTED = ("username", "muted", "muted_by_host", "talking", "sharing", "watching", "joined_at")


def _reported(participant: dict[str, Any]) -> dict[str, Any]:
    """What `collab.call_report` takes of a participant (name, colour, role and host are
    the platform's own)."""
    return {key: participant[key] for key in REPORTED if key in participant}


def _json(state: Any) -> dict[str, Any]:
    if isinstance(state, dict):
        return state
    if hasattr(state, "model_dump"):
        return dict(state.model_dump(mode="json"))
    return dict(state)
