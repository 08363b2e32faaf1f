"""Who may do what in the bridge, per collaboration session.

The platform decides (sessions, roles, `collab.admit`); the bridge keeps what it last heard
in an `Access` registry and asks it on every edit, not once per connection: a role changed
or a hand-over in pair mode takes effect on the next keystroke. A participant removed from
a session, or a session that ended, has its connections closed: the endpoint and the language server
`register` each connection with its `close`; `on_change` tells listeners of every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

__all__ = ["ROLES", "Access", "Participant", "Role", "SessionState", "may_edit"]

log = logging.getLogger(__name__)

Role = Literal["driver", "navigator", "guest"]
Mode = Literal["free", "pair"]
ROLES: tuple[Role, ...] = ("driver", "navigator", "guest")


@dataclass(frozen=True)
class Participant:
    session: str
    username: str
    name: str = ""
    color: str = ""
    role: Role = "navigator"
    host: bool = False

    @classmethod
    def from_json(cls, session: str, data: Mapping[str, Any]) -> Participant:
        role = data.get("role", "navigator")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        return cls(
            session=session,
            username=str(data["username"]),
            name=str(data.get("name") or data["username"]),
            color=str(data.get("color") or ""),
            role=cast(Role, role),
            host=bool(data.get("host", False)),
        )


@dataclass(frozen=True)
class SessionState:
    id: str
    project: str = ""
    mode: Mode = "free"
    driver: str | None = None
    state: Literal["active", "ended"] = "active"
    participants: tuple[Participant, ...] = field(default=())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionState:
        """The platform's session object (`collab.show`, `collab.admit`'s `session`)."""
        session_id = str(data["id"])
        mode = data.get("mode", "free")
        if mode not in ("free", "pair"):
            raise ValueError(f"unknown session mode {mode!r} (free or pair)")
        state = data.get("state", "active")
        if state not in ("active", "ended"):
            raise ValueError(f"unknown session state {state!r} (active or ended)")
        return cls(
            id=session_id,
            project=str(data.get("project") or ""),
            mode=cast(Mode, mode),
            driver=data.get("driver"),
            state=cast(Literal["active", "ended"], state),
            participants=tuple(Participant.from_json(session_id, p) for p in data.get("participants", ())),
        )

    def participant(self, username: str) -> Participant | None:
        return next((p for p in self.participants if p.username == username), None)


def may_edit(state: SessionState, username: str) -> bool:
    """Guests never; in pair mode only the driver; in free mode drivers and navigators."""
    participant = state.participant(username)
    if state.state != "active" or participant is None or participant.role == "guest":
        return False
    if state.mode == "pair":
        return state.driver == username
    return participant.role in ("driver", "navigator")


ChangeCallback = Callable[[SessionState, SessionState | None], None]  # new, previous


class Access:
    """The bridge's view of every collaboration session it serves."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionState] = {}
        self._callbacks: list[ChangeCallback] = []
        self._connections: dict[str, dict[int, tuple[str, Callable[[str], None]]]] = {}
        self._next = 0

    def update(self, state: SessionState) -> None:
        """What the platform said about a session; callbacks run when it changed."""
        previous = self._sessions.get(state.id)
        if previous == state:
            return
        self._sessions[state.id] = state
        self._close_refused(state)
        for callback in list(self._callbacks):
            try:
                callback(state, previous)
            except Exception:  # one listener's bug must not keep the others uninformed
                log.exception("an access listener failed on session %s", state.id)

    def end(self, session_id: str) -> None:
        """The session ended (told by the platform or found out at admission)."""
        state = self._sessions.get(session_id)
        if state is not None and state.state != "ended":
            self.update(replace(state, state="ended"))

    def state(self, session_id: str) -> SessionState | None:
        return self._sessions.get(session_id)

    def participant(self, session_id: str, username: str) -> Participant | None:
        state = self._sessions.get(session_id)
        return state.participant(username) if state is not None else None

    def may_edit(self, session_id: str, username: str) -> bool:
        state = self._sessions.get(session_id)
        return state is not None and may_edit(state, username)

    def admitted(self, session_id: str, username: str) -> bool:
        """Still a participant of an active session (else its connections are closed)."""
        state = self._sessions.get(session_id)
        return state is not None and state.state == "active" and state.participant(username) is not None

    def register(self, session_id: str, username: str, close: Callable[[str], None]) -> Callable[[], None]:
        """A connection of `username` in the session: `close(reason)` is called when the
        participant is removed or the session ends. Returns the unregister."""
        self._next += 1
        key = self._next
        self._connections.setdefault(session_id, {})[key] = (username, close)

        def unregister() -> None:
            connections = self._connections.get(session_id, {})
            connections.pop(key, None)
            if not connections:
                self._connections.pop(session_id, None)

        return unregister

    def _close_refused(self, state: SessionState) -> None:
        for key, (username, close) in list(self._connections.get(state.id, {}).items()):
            if state.state == "ended":
                reason = "the collaboration session ended"
            elif state.participant(username) is None:
                reason = f"{username} is no longer a participant of this session"
            else:
                continue
            self._connections.get(state.id, {}).pop(key, None)
            try:
                close(reason)
            except Exception:
                log.exception("closing a connection of session %s failed", state.id)

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """`callback(state, previous)` after every change; returns an unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None
