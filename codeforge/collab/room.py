"""One shared file: a pycrdt document, its awareness, its peers, and the fan-out to them.

Speed comes from doing each thing once. A peer's update is applied with the peer as origin
and its bytes are relayed as they came (never re-encoded); only changes made here (language
server, disk) are encoded by the document observer. Whatever is due to go out during one
event-loop turn is sent together at the end of it: several updates merged into one, the
awareness changes into one message, each encoded once, and the same bytes object handed to
every peer's `send` (which writes it to its socket without awaiting). A peer that can take
websocket frames as bytes (`Peer.write`: the bridge's endpoint, no extension negotiated)
is handed the same frame, built once per flush, holding every message of the flush: one
socket write per peer and no per-peer framing.

A room with many peers (`COALESCE_PEERS` or more) flushes at most once every
`COALESCE_PER_PEER` x peers seconds (`COALESCE_MAX` at most: 10 ms from 50 peers). A flush
costs a socket write per peer (about 7 us each), so this holds the fan-out's writes to a few
percent of a core however fast the room types, and every client takes in one merged update
instead of several (each update message costs a Yjs client a parse and a transaction). A
flush after a quiet spell goes out at once, as in a small room: only edits that arrive
within the window of the previous flush wait, and none longer than the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, Text, TextEvent, TransactionEvent, merge_updates

from codeforge.collab import protocol
from codeforge.collab.presence import Presence
from codeforge.collab.protocol import ProtocolError

__all__ = ["CONTENT", "MARKER", "Peer", "Room", "RoomClosed", "StaleClient"]

log = logging.getLogger(__name__)

CONTENT = "content"  # the Text's name: Yjs clients read ydoc.getText("content")
MARKER = "codeforge"  # a Map written once per room lifetime: {"lifetime": hex}
STALE_CODE = 4409
STALE_REASON = "the room was rebuilt: discard your copy and reconnect"
COALESCE_PEERS = 8  # from this many peers on, flushes are spaced (see the module's doc)
COALESCE_PER_PEER = 0.0002  # seconds of spacing per peer
COALESCE_MAX = 0.010
COALESCE: float | None = None  # a fixed spacing instead (benchmarks)

ChangeCallback = Callable[["Room", TextEvent, Any], None]


class StaleClient(Exception):
    """The peer holds a copy of an earlier lifetime of this room (close it with `code`)."""

    code = STALE_CODE

    def __init__(self, reason: str = STALE_REASON) -> None:
        super().__init__(reason)
        self.reason = reason


class RoomClosed(Exception):
    """The room was closed (idle, the bridge stopping); open it again through the hub."""


@dataclass(eq=False, slots=True)
class Peer:
    """One connection to the room (one websocket). `send` must not block: it writes the
    bytes to the socket's buffer. `close(code, reason)` ends the connection."""

    send: Callable[[bytes], None]
    username: str
    may_edit: Callable[[], bool]
    close: Callable[[int, str], None] | None = None
    # Writes websocket frames (protocol.websocket_frame) to the socket as they are; when set,
    # the fan-out uses it instead of `send`.
    write: Callable[[bytes], None] | None = None
    clients: set[int] = field(default_factory=set)  # awareness client ids it announced
    told_refused: bool = False

    def __hash__(self) -> int:  # an origin of pycrdt transactions must be hashable
        return id(self)


class Room:
    """See docs/collab.md, "Room API". Built by `RoomHub.open`, which loads its content."""

    def __init__(self, name: str, *, lifetime: str | None = None, root: int | None = None) -> None:
        self.name = name
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(CONTENT, type=Text)
        self.lifetime = lifetime or uuid.uuid4().hex
        # The client id that wrote this lifetime's marker: every copy synced from this
        # lifetime has it in its state vector; one that has history but not it is stale.
        self.root = root
        self.peers: list[Peer] = []
        self.presence = Presence(self, self._presence_changed)
        self.conflicts: list[Any] = []  # disk.Conflict, added by the disk mirror
        self.closed = False
        self.on_update: Callable[[bytes], None] | None = None  # the store's append, set by the hub
        self.on_resolve: Callable[[str, str], None] | None = None  # the disk mirror's, when present
        self.holds = 0  # local users (language-server documents) keeping the room open
        self.idle_since: float | None = time.monotonic()
        self._updates: list[tuple[Peer | None, bytes]] = []
        self._awareness: set[int] = set()
        self._flush_scheduled = False
        self._last_flush = 0.0  # the event loop's time of the last flush
        self.coalesce = COALESCE  # None: COALESCE_PER_PEER x peers, COALESCE_MAX at most
        self._applying = False
        self._subscription = self.doc.observe(self._on_transaction)

    # -- content -----------------------------------------------------------------------------

    def seed(self, content: str) -> None:
        """Start a lifetime from `content` (the file's text; "" for a new file). Its marker and
        its text are written by a client id derived from the room's name and that content, so
        two lifetimes seeded from the same file hold the very same items: a client that kept
        its copy through a crash that lost the store's last writes merges back into the new
        lifetime without duplicating the file, and brings those writes back. A copy seeded
        from other content lacks this root and is stale (4409)."""
        digest = hashlib.sha256(f"{self.name}\0{content}".encode()).digest()
        self.lifetime = digest[:16].hex()
        self.root = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1  # Yjs ids are uint32
        seeded: Doc[Any] = Doc(client_id=self.root)
        seeded[MARKER] = Map({"lifetime": self.lifetime})
        if content:
            seeded.get(CONTENT, type=Text).insert(0, content)
        self.doc.apply_update(seeded.get_update())

    @contextlib.contextmanager
    def local(self, origin: Any = "local") -> Iterator[Text]:
        """An edit made here (language server, disk): one transaction, sent to every peer."""
        self._check_open()
        with self.doc.transaction(origin=origin):
            yield self.text

    def observe(self, callback: ChangeCallback) -> Callable[[], None]:
        """`callback(room, event, origin)` after every change of the text; origin is the
        `Peer` for a Yjs client's edit, else what `local(origin)` was given."""

        def relay(event: TextEvent) -> None:
            try:
                callback(self, event, event.transaction.origin)
            except Exception:  # pycrdt would re-raise it from the peer's transaction
                log.exception("an observer of room %s failed", self.name)

        subscription = self.text.observe(relay)
        return lambda: self.text.unobserve(subscription)

    def resolve(self, conflict_id: str, text: str) -> None:
        """Settle a conflict with the chosen text, applied as a diff against the room's."""
        conflict = next((c for c in self.conflicts if getattr(c, "id", None) == conflict_id), None)
        if conflict is None:
            raise KeyError(f"no conflict {conflict_id} in {self.name} (already resolved?)")
        if self.on_resolve is not None:
            self.on_resolve(conflict_id, text)
        else:
            self.replace_text(text, origin="resolve")
        if conflict in self.conflicts:
            self.conflicts.remove(conflict)

    def replace_text(self, new: str, origin: Any = "local") -> None:
        """Make the text `new` with the smallest change: the common prefix and suffix are
        kept (CRDT items, cursors and comment anchors on them survive)."""
        old = str(self.text)
        if old == new:
            return
        start = 0
        limit = min(len(old), len(new))
        while start < limit and old[start] == new[start]:
            start += 1
        end_old, end_new = len(old), len(new)
        while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
            end_old, end_new = end_old - 1, end_new - 1
        offset = len(old[:start].encode())
        removed = len(old[start:end_old].encode())
        with self.local(origin) as text:
            if removed:
                del text[offset : offset + removed]
            if end_new > start:
                text.insert(offset, new[start:end_new])

    # -- peers -------------------------------------------------------------------------------

    def connect(
        self,
        send: Callable[[bytes], None],
        *,
        username: str,
        may_edit: Callable[[], bool],
        close: Callable[[int, str], None] | None = None,
        lifetime: str | None = None,
        write: Callable[[bytes], None] | None = None,
    ) -> Peer:
        """A new peer: it is sent sync step 1 and every awareness state at once. A client
        that names another `lifetime` (its copy is of an earlier room) is StaleClient.
        `write`, when given, takes the fan-out's websocket frames (see `Peer.write`)."""
        self._check_open()
        if lifetime and lifetime != self.lifetime:
            raise StaleClient()
        peer = Peer(send, username, may_edit, close, write)
        self.peers.append(peer)
        self.idle_since = None
        send(protocol.step1(self.doc.get_state()))
        if entries := self.presence.entries():
            send(protocol.awareness_message(entries))
        return peer

    def disconnect(self, peer: Peer) -> None:
        """The peer is gone: its awareness states are removed for everyone."""
        if peer in self.peers:
            self.peers.remove(peer)
        self.presence.remove(sorted(peer.clients))
        peer.clients.clear()
        self._update_idle()

    async def receive(self, peer: Peer, data: bytes) -> None:
        """One websocket message from `peer`. ProtocolError (close 1007) for garbage,
        StaleClient (close 4409) for a copy of an earlier lifetime; the room is unchanged."""
        self._check_open()
        message = protocol.parse(data)
        if message.kind == protocol.SYNC:
            if message.step == protocol.STEP1:
                self._check_stale(message.payload)
                try:
                    missing = self.doc.get_update(message.payload)
                except Exception:
                    raise ProtocolError("sync step 1: the state vector could not be read") from None
                peer.send(protocol.step2(missing))
            else:
                self._apply(peer, message.payload)
        elif message.kind == protocol.AWARENESS:
            entries = protocol.decode_awareness(message.payload)
            for client, _clock, text in entries:
                if text != "null":
                    peer.clients.add(client)
            self.presence.apply(entries, peer)
        elif message.kind == protocol.QUERY_AWARENESS:
            peer.send(protocol.awareness_message(self.presence.entries()))
        # AUTH from a client means nothing to a server: ignored, as y-websocket's does.

    def _apply(self, peer: Peer, update: bytes) -> None:
        if update == b"\x00\x00":  # an empty update (Yjs sends one as step 2 of an empty doc)
            return
        if not peer.may_edit():
            # Told once per connection: a guest's editor keeps sending while its user types.
            if not peer.told_refused:
                peer.told_refused = True
                peer.send(protocol.permission_denied(f"{peer.username} may not edit {self.name} (read-only)"))
            return
        # The observer cannot read a committing transaction's origin (pycrdt holds it
        # borrowed), so this flag tells it the change is a peer's.
        self._applying = True
        try:
            with self.doc.transaction(origin=peer):
                self.doc.apply_update(update)
        except Exception as exc:
            raise ProtocolError(f"the update could not be applied: {exc}") from None
        finally:
            self._applying = False
        self._queue_update(peer, update)

    def _check_stale(self, state_vector: bytes) -> None:
        theirs = protocol.decode_state_vector(state_vector)
        if not theirs or self.root is None or self.root in theirs:
            return
        ours = protocol.decode_state_vector(self.doc.get_state())
        if any(clock > ours.get(client, 0) for client, clock in theirs.items()):
            raise StaleClient()

    # -- fan-out -----------------------------------------------------------------------------

    def _on_transaction(self, event: TransactionEvent) -> None:
        if self._applying:
            return  # a peer's update: relayed as received, by _apply
        update = event.update
        if update != b"\x00\x00":
            self._queue_update(None, update)

    def _queue_update(self, origin: Peer | None, update: bytes) -> None:
        self._updates.append((origin, update))
        if self.on_update is not None:
            self.on_update(update)
        self._schedule()

    def _presence_changed(self, clients: list[int]) -> None:
        self._awareness.update(clients)
        self._schedule()
        self._update_idle()

    def _schedule(self) -> None:
        if not self._flush_scheduled and self.peers:
            self._flush_scheduled = True
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): now
                self.flush()
                return
            wait = 0.0
            if len(self.peers) >= COALESCE_PEERS:
                window = self.coalesce
                if window is None:
                    window = min(COALESCE_MAX, COALESCE_PER_PEER * len(self.peers))
                wait = self._last_flush + window - loop.time()
            if wait > 0:
                loop.call_later(wait, self.flush)
            else:
                loop.call_soon(self.flush)
        elif not self.peers:
            self._updates.clear()
            self._awareness.clear()

    def flush(self) -> None:
        """Send what is due: called once per event-loop turn (in a large room, spaced: see
        the module's doc)."""
        self._flush_scheduled = False
        with contextlib.suppress(RuntimeError):
            self._last_flush = asyncio.get_running_loop().time()
        updates, self._updates = self._updates, []
        clients, self._awareness = self._awareness, set()
        messages: list[bytes] = []
        skip: Peer | None = None
        if len(updates) == 1:
            skip, update = updates[0]
            messages.append(protocol.update_message(update))
        elif updates:
            try:
                merged = merge_updates(*(u for _, u in updates))
            except Exception:  # never lose one for the others: send them one by one
                messages += (protocol.update_message(u) for _, u in updates)
            else:
                messages.append(protocol.update_message(merged))
        if skip is not None and clients:  # the sender lacks nothing but the awareness
            self._send_all(messages, skip)
            messages = []
        if clients:
            messages.append(protocol.awareness_message(self.presence.entries(sorted(clients))))
            self.presence.forget()
        if messages:
            self._send_all(messages, None if clients else skip)

    def _send_all(self, messages: list[bytes], skip: Peer | None = None) -> None:
        """The same bytes to every peer but `skip`: the frame for those that take frames,
        each message for the others. Nothing here is per peer but the write itself."""
        frame = b"".join(map(protocol.websocket_frame, messages))
        for peer in list(self.peers):
            if peer is skip:
                continue
            try:
                if peer.write is not None:
                    peer.write(frame)
                else:
                    for message in messages:
                        peer.send(message)
            except Exception as exc:  # a dead socket: that peer goes, the others go on
                log.info("dropping a peer of %s whose send failed: %s", self.name, exc)
                self.drop(peer, 1011, "could not write to the connection")

    def drop(self, peer: Peer, code: int, reason: str) -> None:
        """End a peer's connection (too slow, no access any more) and forget it."""
        self.disconnect(peer)
        if peer.close is not None:
            try:
                peer.close(code, reason)
            except Exception:
                log.exception("closing a peer of %s failed", self.name)

    # -- lifetime ----------------------------------------------------------------------------

    def hold(self) -> Callable[[], None]:
        """A local user (a language-server document) keeps the room open until the returned
        release is called."""
        self.holds += 1
        self.idle_since = None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.holds -= 1
                self._update_idle()

        return release

    @property
    def idle(self) -> bool:
        return not self.peers and self.holds <= 0 and not self.presence.local_clients()

    def _update_idle(self) -> None:
        if self.idle and self.idle_since is None:
            self.idle_since = time.monotonic()
        elif not self.idle:
            self.idle_since = None

    def close(self, code: int = 1001, reason: str = "the room closed") -> None:
        """Close every peer's connection; the room takes no more messages."""
        if self.closed:
            return
        for peer in list(self.peers):
            self.drop(peer, code, reason)
        self.closed = True
        self.doc.unobserve(self._subscription)

    def _check_open(self) -> None:
        if self.closed:
            raise RoomClosed(f"room {self.name} is closed; open it again")

    def __repr__(self) -> str:
        return f"<Room {self.name!r} lifetime={self.lifetime} peers={len(self.peers)}>"
