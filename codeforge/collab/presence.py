"""Who is where in a room: the awareness states of its peers (Yjs clients) and of its local
participants (editors through the language server), with y-protocols' clock rules.

A state is a JSON object (`None`: the client left):

    {"user": {"name", "color", "id"}, "role", "file", "cursor": {"anchor", "head"},
     "viewport": [first_line, last_line], "talking": bool}

`cursor` holds Yjs relative positions as JSON (`Y.relativePositionToJSON`'s shape, what
y-codemirror and y-monaco put there), so a cursor stays on its character while others type;
`to_sticky`/`from_sticky` convert from/to byte offsets (through relative.py: pycrdt's own
StickyIndex mixes byte and UTF-16 distances).
Each state is kept as the JSON text it arrived as: relayed to other clients byte for byte,
parsed only when someone here reads it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import Text

from codeforge.collab import relative
from codeforge.collab.protocol import AwarenessEntry

__all__ = ["Presence", "from_sticky", "presence_state", "to_sticky"]

log = logging.getLogger(__name__)


class _Room(Protocol):  # room.py's Room (not imported: room.py imports this module)
    name: str


PresenceCallback = Callable[[Any, list[int]], None]  # (the Room, changed client ids)


@dataclass(slots=True)
class _Entry:
    clock: int
    text: str  # the state's JSON, "null" once removed
    owner: object | None  # the peer that sent it; None: a local participant
    updated: float = field(default_factory=time.monotonic)
    parsed: dict[str, Any] | None = None


class Presence:
    """A room's awareness. `changed` (set by the room) is told the client ids whose entries
    must go out to the peers."""

    def __init__(self, room: _Room, changed: Callable[[list[int]], None]) -> None:
        self._room = room
        self._changed = changed
        self._entries: dict[int, _Entry] = {}
        self._observers: list[PresenceCallback] = []

    # -- reading ---------------------------------------------------------------------------

    @property
    def states(self) -> dict[int, dict[str, Any]]:
        """Every present client's state: {client id: state}."""
        return {client: state for client in self._entries if (state := self.state(client)) is not None}

    def state(self, client: int) -> dict[str, Any] | None:
        entry = self._entries.get(client)
        if entry is None or entry.text == "null":
            return None
        if entry.parsed is None:
            entry.parsed = json.loads(entry.text)
        return entry.parsed

    def updated(self, client: int) -> float:
        """When the client's state last changed (monotonic seconds; 0: unknown)."""
        entry = self._entries.get(client)
        return entry.updated if entry else 0.0

    def entries(self, clients: Iterable[int] | None = None) -> list[AwarenessEntry]:
        """The wire entries of `clients` (default: every client present)."""
        if clients is None:
            clients = [c for c, e in self._entries.items() if e.text != "null"]
        return [(c, e.clock, e.text) for c in clients if (e := self._entries.get(c)) is not None]

    def owned_by(self, owner: object) -> list[int]:
        return [c for c, e in self._entries.items() if e.owner is owner and e.text != "null"]

    def local_clients(self) -> list[int]:
        return [c for c, e in self._entries.items() if e.owner is None and e.text != "null"]

    # -- local participants ----------------------------------------------------------------

    def new_client(self) -> int:
        """A client id for a local participant (an editor through LSP), unused in this room."""
        while True:
            client = random.getrandbits(32)  # Yjs' client ids are uint32 too
            if client not in self._entries:
                return client

    def set(self, client: int, state: dict[str, Any] | None) -> None:
        """A local participant's state (None: it left); goes out to every peer."""
        entry = self._entries.get(client)
        if entry is not None and entry.owner is not None:
            raise ValueError(f"awareness client {client} belongs to a peer, not to this bridge")
        text = "null" if state is None else json.dumps(state, separators=(",", ":"))
        if entry is not None and entry.text == text:
            return
        if entry is None and state is None:
            return
        clock = entry.clock + 1 if entry is not None else 0
        self._entries[client] = _Entry(clock, text, None, parsed=state)
        self._emit([client])

    # -- peers (called by the room) --------------------------------------------------------

    def apply(self, entries: list[AwarenessEntry], owner: object) -> list[int]:
        """A peer's awareness update, with y-protocols' rules: a newer clock wins; a removal
        at the same clock wins. Returns the clients that changed."""
        changed = []
        now = time.monotonic()
        for client, clock, text in entries:
            entry = self._entries.get(client)
            if entry is not None and entry.owner is None and entry.text != "null":
                continue  # a peer cannot speak for a local participant
            if entry is None or entry.clock < clock or (entry.clock == clock and text == "null" != entry.text):
                if entry is None and text == "null":
                    continue
                self._entries[client] = _Entry(clock, text, owner, now)
                changed.append(client)
            elif entry.text != "null":
                entry.updated = now  # a renewal: same state, the client is still there
        if changed:
            self._emit(changed)
        return changed

    def remove(self, clients: list[int]) -> None:
        """The clients left (their peer disconnected): everyone is told (clock + 1, null)."""
        removed = []
        for client in clients:
            entry = self._entries.get(client)
            if entry is not None and entry.text != "null":
                self._entries[client] = _Entry(entry.clock + 1, "null", entry.owner)
                removed.append(client)
        if removed:
            self._emit(removed)

    def expire(self, before: float) -> list[int]:
        """Remove peers' states not renewed since `before` (monotonic): y-protocols clients
        renew every 15 s, so one silent for 30 s is gone (a frozen tab, a half-open socket)."""
        stale = [c for c, e in self._entries.items() if e.owner is not None and e.text != "null" and e.updated < before]
        self.remove(stale)
        return stale

    def forget(self) -> None:
        """Drop entries of clients that left (kept until then so a late, older update of a
        client that left is recognised as old)."""
        self._entries = {c: e for c, e in self._entries.items() if e.text != "null"}

    def observe(self, callback: PresenceCallback) -> Callable[[], None]:
        """`callback(room, changed_client_ids)` after every change; returns an unsubscribe."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def _emit(self, clients: list[int]) -> None:
        self._changed(clients)
        for callback in list(self._observers):
            try:
                callback(self._room, clients)
            except Exception:  # one observer's bug must not stop the relay
                log.exception("a presence observer of room %s failed", self._room.name)


def presence_state(
    *,
    name: str,
    color: str,
    user_id: str,
    role: str,
    file: str | None = None,
    cursor: dict[str, Any] | None = None,
    viewport: tuple[int, int] | None = None,
    talking: bool = False,
) -> dict[str, Any]:
    """The awareness state shape every CodeForge client uses."""
    state: dict[str, Any] = {"user": {"name": name, "color": color, "id": user_id}, "role": role, "talking": talking}
    if file is not None:
        state["file"] = file
    if cursor is not None:
        state["cursor"] = cursor
    if viewport is not None:
        state["viewport"] = list(viewport)
    return state


def to_sticky(text: Text, offset: int, assoc: int = relative.AFTER) -> dict[str, Any]:
    """A byte offset in `text` as a relative position (JSON), which follows its character."""
    return relative.create(text, offset, assoc).to_json()


def from_sticky(text: Text, sticky: Any) -> int | None:
    """The byte offset a relative position (JSON) points at now (where its character was,
    if deleted); None when it is malformed or not one of this text's."""
    try:
        position = relative.RelativePosition.from_json(sticky)
    except relative.PositionError:
        return None
    return relative.resolve(text, position, deleted="collapse")
