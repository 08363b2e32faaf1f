"""What a sync side knows and how it decides: the model both halves (and both directions) share.

Each side knows three things per path: what it holds (the disk, with a hash cache), what it
believes the other side holds (`peer`, updated when it sends or applies something) and the
last synced state (`state.base`, persisted, updated when the other side confirms). A change
travels with `prev`, what the sender believes the receiver holds; the receiver applies it
only if its disk really holds `prev` (or the new content already). Otherwise both sides
changed the file: the workspace half (`resolver=True`) keeps both versions, its own renamed
`name.conflict-workspace-<time>`, and tells the user; the local half drops the incoming
version and makes sure its own reaches the workspace, which then sees the conflict. Nothing
is overwritten that was not what the sender expected.

Echo suppression needs no bookkeeping of its own: a file sync wrote is what `peer` says the
other side holds, so the watcher's event for it finds nothing to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.sync import apply
from codeforge.bridge.sync.ignore import Ignorer
from codeforge.bridge.sync.paths import PathRefused, link_target_inside, target_str
from codeforge.bridge.sync.protocol import Message, encode
from codeforge.bridge.sync.state import SyncState
from codeforge.bridge.sync.tree import Entry, entry_for, hash_file

__all__ = ["STAGING_QUEUE", "BeforeConflict", "Emit", "Held", "Job", "PeerCore", "Stats"]

log = logging.getLogger(__name__)

# kind ("status" | "conflict" | "warning" | "error"), message for a person, data.
Emit = Callable[[str, str, dict[str, Any]], None]
Held = tuple[str, int]  # (hash, mode)
BeforeConflict = Callable[[str, Callable[[], bytes], str | None, str], None]
STAGING_QUEUE = 4  # received batches waiting to be written (each up to BATCH_BYTES)


@dataclass
class Job:
    """One batch of small files: staged temporary files, and what to report once renamed."""

    staged: list[apply.Staged] = field(default_factory=list)  # written, not yet renamed
    placed: dict[str, Entry | apply.ApplyError] = field(default_factory=dict)  # renamed already
    meta: dict[str, Held] = field(default_factory=dict)
    same: dict[str, Held] = field(default_factory=dict)
    same_sizes: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # every path the batch named
    count: int = 1  # batches merged into this one

    def merge(self, other: Job) -> None:
        self.names |= other.names
        self.count += other.count
        self.staged += other.staged
        self.placed |= other.placed
        self.meta |= other.meta
        self.same |= other.same
        self.same_sizes |= other.same_sizes
        self.conflicts += other.conflicts
        self.errors += other.errors


@dataclass
class Stats:
    files_sent: int = 0
    bytes_sent: int = 0  # file content bytes put on the link
    files_received: int = 0
    bytes_received: int = 0
    applied_by_peer: int = 0  # files the other side confirmed
    bytes_applied_by_peer: int = 0
    errors: list[str] = field(default_factory=list)


class PeerCore:
    """What both directions share: the tree, the records, the link (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        link: Link,
        *,
        side: str,
        state: SyncState,
        ignorer: Ignorer,
        emit: Emit,
        resolver: bool,
        durable: bool = False,
    ) -> None:
        self.root = root
        self.durable = durable  # flush received files before renaming them (`fsync: true`)
        self._base = str(root)
        self.link = link
        self.side = side
        self.state = state
        self.ignorer = ignorer
        self.emit = emit
        self.resolver = resolver
        self.peer: dict[str, Held] = {}
        self.peer_partials: dict[str, int] = {}
        self._unreadable: list[str] = []  # filled by reading threads, told on the event loop
        self.stats = Stats()
        self.lock = asyncio.Lock()  # one writer or reader of this tree's bookkeeping at a time
        self.after_applied: Callable[[], None] | None = None
        self.after_sync_end: Callable[[], None] | None = None
        # The conflict hand-off (the workspace half, in a bridge with collaboration rooms):
        # called from a worker thread before a conflicting incoming file takes the path, with
        # the path, a reader of the incoming content, the hash both sides last had and the
        # name this side's version is kept under (docs/collab.md, "File-sync conflicts").
        self.before_conflict: BeforeConflict | None = None
        self.handlers: dict[str, Callable[[Message], Any]] = {}
        # Pushes the receiving loop asks for (wants, conflict copies), sent in order by one task,
        # since a send may wait and the receiving loop must not. None: send `sync_end` here.
        self._out: asyncio.Queue[list[str] | None] = asyncio.Queue()
        # Staged batches of small files waiting for their flush and renames (see on_files).
        self._staging: asyncio.Queue[tuple[list[tuple[dict[str, Any], bytes | memoryview]], set[str]]] = asyncio.Queue(
            maxsize=STAGING_QUEUE
        )
        self._commits: asyncio.Queue[Job] = asyncio.Queue()
        self._pending: set[str] = set()  # paths named by batches not yet in place
        self._outstanding = 0  # batches received, not yet in place
        self._idle = asyncio.Event()
        self._idle.set()
        # Large files arriving in order on this link: the partial's path -> (its length, the
        # hash of it so far), so a completed file is checked without reading it again.
        self.hashing: dict[str, tuple[int, Any]] = {}

    def current(self, rel: str) -> Entry | None:
        """What the disk holds at `rel` now (hash filled in), None for nothing syncable."""
        try:
            path = target_str(self._base, rel)
        except PathRefused:
            return None
        entry = entry_for(path, rel)
        if entry is None or self.ignorer.ignored(rel, entry.kind == "d"):
            return None
        if entry.kind == "l" and not link_target_inside(rel, entry.target):
            return None
        if entry.kind == "f" and not self._hash(rel, path, entry, remember=True):
            return None
        return entry

    def held(self, rel: str) -> Entry | None:
        """What the disk holds at `rel`, ignore rules aside: what a change would replace."""
        path = f"{self._base}/{rel}"
        entry = entry_for(path, rel)
        if entry is not None and entry.kind == "f" and not self._hash(rel, path, entry, remember=False):
            return None
        return entry

    def _hash(self, rel: str, path: str, entry: Entry, *, remember: bool) -> bool:
        """Fill in a file's hash, from the cache while its size and mtime are unchanged;
        False when it cannot be read. A fresh hash is remembered when asked."""
        known = self.state.cache.get(rel)
        if known is not None and known.hash and known.same_stat(entry):
            entry.hash = known.hash
            return True
        try:
            entry.hash = hash_file(path)
        except OSError:
            return False
        if remember:
            self.remember(rel, entry)
        return True

    def remember(self, rel: str, entry: Entry | None) -> None:
        if entry is not None and entry.kind == "f" and entry.hash:
            self.state.cache[rel] = entry
        else:
            self.state.cache.pop(rel, None)
        self.state.dirty = True

    def synced(self, rel: str, held: Held | None) -> None:
        """Both sides hold `held` at `rel` now."""
        if held is None:
            self.peer.pop(rel, None)
            self.state.base.pop(rel, None)
        else:
            self.peer[rel] = held
            self.state.base[rel] = held
        self.state.dirty = True

    def _prev(self, rel: str) -> str | None:
        held = self.peer.get(rel)
        return held[0] if held else None

    async def _send(self, kind: str, header: dict[str, Any], payload: bytes | list[bytes] = b"") -> None:
        await self.link.send(encode(kind, header, payload))

    def send_now(self, kind: str, header: dict[str, Any], payload: bytes = b"") -> None:
        """For small replies from the receiving loop, which must never wait on the window."""
        with contextlib.suppress(LinkClosed):
            self.link.send_nowait(encode(kind, header, payload))

    def fail(self, rel: object, message: str) -> None:
        self.stats.errors.append(message)
        log.warning("sync: %s", message)
        self.emit("error", message, {"path": rel if isinstance(rel, str) else ""})
