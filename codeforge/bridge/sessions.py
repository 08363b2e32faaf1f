"""Sessions: one per `codeforge connect` process, holding its links and resources.

A session lives while any of its links has a websocket attached; when the last one drops, it
waits the grace period for a reconnect (the links buffer meanwhile), and when the grace
period ends (or an operation closes it) it ends: every link is closed (its channel's `serve`
gets LinkClosed), every resource is closed and every `on_session_end` callback runs. A
session whose links were all closed cleanly by the client ends at once.

Nothing here logs a token: a session is named by its id and its user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.bridge.link import Link
from codeforge.client import AsyncPlatformClient

__all__ = ["ChannelContext", "Identity", "Resource", "Session", "Sessions"]

log = logging.getLogger(__name__)

Close = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Identity:
    """Who a token belongs to, as the platform's `bridges.attach` answered."""

    username: str
    role: str
    organization: str


@dataclass
class Resource:
    """Something a session started that outlives a single message: a terminal, a forward."""

    kind: str
    id: str
    label: str
    close: Close


@dataclass(eq=False)
class Session:
    """One client's session: its links (by link id) and resources (by kind and id)."""

    id: str
    user: Identity
    token: str = field(repr=False)  # the user's platform token: never logged, never reported
    platform: AsyncPlatformClient = field(repr=False)
    opened_at: float = field(default_factory=time.time)
    checked_at: float = field(default_factory=time.monotonic)  # when the platform last accepted its token
    links: dict[str, Link] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # link id -> channel
    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)
    end_callbacks: list[Close] = field(default_factory=list)
    attached: int = 0  # websockets attached now
    ended: bool = False
    end_reason: str = ""
    _grace: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        if self.ended:
            return "ended"
        return "connected" if self.attached else "reconnecting"

    def owned_by(self, user: Identity) -> bool:
        return (self.user.username, self.user.organization) == (user.username, user.organization)


@dataclass
class ChannelContext:
    """What a channel's `serve` gets beside its link (docs/bridge.md, "Server side")."""

    session: Session
    workspace: Path  # the served folder, resolved
    project: str  # the project slug the bridge serves
    platform: AsyncPlatformClient  # acting as the connecting user (their token)
    params: dict[str, str]  # the link's query parameters
    shared: dict[str, Any]  # bridge-wide objects (terminal registry, language-server pool)
    sessions: Sessions | None = field(default=None, repr=False)

    def add_resource(self, kind: str, id: str, label: str, close: Close) -> None:
        """Register something this session started, so operations can list and close it;
        `close` also runs when the session ends."""
        self.session.resources[(kind, id)] = Resource(kind, id, label, close)
        self._changed()

    def remove_resource(self, kind: str, id: str) -> None:
        """The resource ended by itself (a terminal's shell exited)."""
        if self.session.resources.pop((kind, id), None) is not None:
            self._changed()

    def on_session_end(self, callback: Close) -> None:
        """Run `callback` once when the session ends (after its links and resources)."""
        self.session.end_callbacks.append(callback)

    def _changed(self) -> None:
        if self.sessions is not None:
            self.sessions.changed()


class Sessions:
    """Every session of this bridge, their grace periods and their ends."""

    def __init__(self, *, grace: float) -> None:
        self.grace = grace
        self.by_id: dict[str, Session] = {}
        self._listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, session_id: str) -> Session | None:
        return self.by_id.get(session_id)

    def on_change(self, listener: Callable[[], None]) -> None:
        """`listener()` after any session, link or resource comes or goes (reporting)."""
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    def open(self, session_id: str, user: Identity, token: str, platform: AsyncPlatformClient) -> Session:
        session = Session(id=session_id, user=user, token=token, platform=platform)
        self.by_id[session_id] = session
        log.info("session %s opened by %s", session_id, user.username)
        self.changed()
        return session

    def add_link(self, session: Session, channel: str, link: Link) -> None:
        session.links[link.link_id] = link
        session.channels[link.link_id] = channel
        link.on_close(lambda closed: self._link_closed(session, closed))
        self.changed()

    def _link_closed(self, session: Session, link: Link) -> None:
        session.links.pop(link.link_id, None)
        session.channels.pop(link.link_id, None)
        if not session.ended and not session.links:
            # Every link closed on purpose: nothing will come back for this session.
            self._spawn(self.end(session, "all its links closed"))
        else:
            self.changed()

    def websocket_attached(self, session: Session) -> None:
        session.attached += 1
        if session._grace is not None:
            session._grace.cancel()
            session._grace = None
        if session.attached == 1:
            self.changed()

    def websocket_detached(self, session: Session) -> None:
        session.attached -= 1
        if session.attached or session.ended:
            return
        log.info("session %s disconnected; ends in %g s unless it reconnects", session.id, self.grace)
        session._grace = asyncio.get_running_loop().call_later(
            self.grace, lambda: self._spawn(self.end(session, "grace period over"))
        )
        self.changed()

    async def end(self, session: Session, reason: str) -> None:
        """End a session: its links, then its resources, then its callbacks (each failure
        logged, none stopping the rest)."""
        if session.ended:
            return
        session.ended, session.end_reason = True, reason
        if session._grace is not None:
            session._grace.cancel()
        self.by_id.pop(session.id, None)
        log.info("session %s ended: %s", session.id, reason)
        for link in list(session.links.values()):
            await link.close(f"session ended: {reason}")
        for resource in list(session.resources.values()):
            await _quietly(resource.close(), f"closing {resource.kind} {resource.id}")
        session.resources.clear()
        for callback in session.end_callbacks:
            await _quietly(callback(), "a session-end callback")
        with contextlib.suppress(Exception):
            await session.platform.aclose()
        self.changed()

    async def close_resource(self, session: Session, kind: str, id: str) -> bool:
        resource = session.resources.pop((kind, id), None)
        if resource is None:
            return False
        await _quietly(resource.close(), f"closing {kind} {id}")
        self.changed()
        return True

    async def end_all(self, reason: str) -> None:
        for session in list(self.by_id.values()):
            await self.end(session, reason)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _quietly(awaitable: Awaitable[None], what: str) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("%s failed", what)
