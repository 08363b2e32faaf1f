"""Collaboration rooms: one CRDT document per shared file, served over the y-websocket
protocol, persisted, with presence and access (docs/collab.md). Imports neither the
platform, the language server, the bridge nor the catalog: they use it."""

from codeforge.collab.access import Access, Participant, Role, SessionState, may_edit
from codeforge.collab.protocol import ProtocolError
from codeforge.collab.room import Peer, Room, RoomClosed, StaleClient
from codeforge.collab.rooms import RoomHub, RoomPathError, check_room_name
from codeforge.collab.store import RoomStore, StoreError

__all__ = [
    "Access",
    "Participant",
    "Peer",
    "ProtocolError",
    "Role",
    "Room",
    "RoomClosed",
    "RoomHub",
    "RoomPathError",
    "RoomStore",
    "SessionState",
    "StaleClient",
    "StoreError",
    "check_room_name",
    "may_edit",
]
