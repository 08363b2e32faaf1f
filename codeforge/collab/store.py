"""Rooms' history on disk: pycrdt.store's SQLite store, written in batches by one task.

`append` only queues (the room never waits for the disk). The writer wakes after
`batch_delay`, merges each room's queued updates into one (`pycrdt.merge_updates`) and
writes one row per room. An update leaves the queue only once its write committed: a
failing write (disk full, a read-only file) keeps everything queued and is retried with
backoff, and `error` says why meanwhile (`RoomStore.health`, `RoomHub.health`).

pycrdt.store's connection is made to log and swallow SQLite errors (its `exception_logger`):
a write that failed would look like one that succeeded and its updates would be dropped
from the queue. The store therefore re-raises them (`_SQLite.start`).

Each room also has a row in `collab_rooms` (its lifetime id and root client, see room.py):
a room is restored with the same lifetime, so reconnecting clients merge into the same
history. Compaction replaces a room's rows with one update when it closes (pycrdt.store's
own squash-on-write is left off: in 0.1.5 it drops the history when no compression is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pycrdt import Doc, merge_updates
from pycrdt.store import SQLiteYStore, YDocNotFound

__all__ = ["RoomRecord", "RoomStore", "StoreError"]

log = logging.getLogger(__name__)

ROOMS_TABLE = "CREATE TABLE IF NOT EXISTS collab_rooms (name TEXT PRIMARY KEY, lifetime TEXT NOT NULL, root INTEGER)"
COMPACT_ABOVE = 200  # rows of one room before it is squashed on close


class StoreError(Exception):
    """The store cannot be read: a room cannot be restored (it would lose history)."""


@dataclass(frozen=True)
class RoomRecord:
    lifetime: str
    root: int | None


@dataclass
class _Reset:
    """A room built afresh (new lifetime): its old rows go, in the same write as its first."""

    lifetime: str
    root: int | None


class _SQLite(SQLiteYStore):
    checkpoint_interval = None  # rooms are compacted on close instead

    def __init__(self, db_path: str) -> None:
        super().__init__("")
        self.db_path = db_path

    async def ready(self) -> None:
        assert self.db_initialized is not None
        await self.db_initialized.wait()
        self._db._exception_handler = None  # raise, never swallow (see the module's docstring)
        await self._db.execute("PRAGMA journal_mode=WAL")  # commits without rewriting the file
        await self._db.execute("PRAGMA synchronous=NORMAL")  # a crash loses no committed row
        await self._db.execute(ROOMS_TABLE)
        await self._db.commit()


class RoomStore:
    """The bridge's collaboration store (one SQLite file, outside the workspace)."""

    def __init__(self, path: Path, *, batch_delay: float = 0.05, max_backoff: float = 5.0) -> None:
        self.path = path
        self.batch_delay = batch_delay
        self.max_backoff = max_backoff
        self.error: str | None = None
        self._queue: dict[str, list[bytes]] = {}
        self._resets: dict[str, _Reset] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()  # one statement sequence at a time on the one connection
        self._ystore: _SQLite | None = None
        self._runner: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ystore = _SQLite(str(self.path))
        self._runner = asyncio.create_task(ystore.start())
        await ystore.started.wait()
        await ystore.ready()
        self._ystore = ystore
        self._writer = asyncio.create_task(self._write_loop())

    @property
    def pending(self) -> int:
        """Updates queued, not yet committed."""
        return sum(len(updates) for updates in self._queue.values())

    def append(self, name: str, update: bytes) -> None:
        """Queue an update of room `name`; never blocks, never drops."""
        self._queue.setdefault(name, []).append(update)
        self._idle.clear()
        self._wake.set()

    def reset(self, name: str, lifetime: str, root: int | None) -> None:
        """Room `name` starts a new lifetime: its stored history is replaced by what is
        appended from now on (written before any of it)."""
        self._resets[name] = _Reset(lifetime, root)
        self._queue[name] = []
        self._idle.clear()
        self._wake.set()

    async def load(self, name: str, doc: Doc) -> RoomRecord | None:
        """Apply room `name`'s history (stored and still queued) to `doc`; None when the
        store has no such room. StoreError when the store cannot be read."""
        ystore = self._started()
        if (reset := self._resets.get(name)) is not None:  # not written yet: the queue holds it all
            record: RoomRecord | None = RoomRecord(reset.lifetime, reset.root)
        else:
            try:
                async with self._lock:
                    row = await (
                        await ystore._db.execute("SELECT lifetime, root FROM collab_rooms WHERE name = ?", (name,))
                    ).fetchone()
                    if row is None:
                        return None
                    ystore.path = name
                    with contextlib.suppress(YDocNotFound):  # a room whose first write is still queued
                        await ystore.apply_updates(doc)
            except Exception as exc:
                raise StoreError(f"the collaboration store {self.path} cannot be read: {exc}") from exc
            record = RoomRecord(row[0], row[1])
        for update in self._queue.get(name, []):
            doc.apply_update(update)
        return record

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is written; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def compact(self, name: str) -> None:
        """Squash room `name`'s rows into one update (after its queue was written)."""
        ystore = self._started()
        async with self._lock:
            row = await (await ystore._db.execute("SELECT count(*) FROM yupdates WHERE path = ?", (name,))).fetchone()
            if row is None or row[0] <= COMPACT_ABOVE:
                return
            cursor = await ystore._db.cursor()
            await ystore._squash_document_history(cursor, name)
            await ystore._db.commit()

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to `timeout`), then close the file."""
        if self._ystore is None:
            return
        if not await self.flush(timeout):
            log.error(
                "collaboration store %s: %d updates could not be written (%s); clients resend them on reconnect",
                self.path,
                self.pending,
                self.error,
            )
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        async with self._lock:
            await self._ystore.stop()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._runner, 5)
        self._ystore = None

    def _started(self) -> _SQLite:
        if self._ystore is None:
            raise StoreError("the collaboration store is not started")
        return self._ystore

    async def _write_loop(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            await asyncio.sleep(backoff or self.batch_delay)  # let a batch gather
            self._wake.clear()
            try:
                await self._write_batch()
            except Exception as exc:
                backoff = min(self.max_backoff, backoff * 2 or 0.1)
                if self.error is None:
                    log.error("collaboration store %s: a write failed, retrying: %s", self.path, exc)
                self.error = f"{type(exc).__name__}: {exc}"
                self._wake.set()
                continue
            if self.error is not None:
                log.warning("collaboration store %s: writing again", self.path)
            backoff, self.error = 0.0, None
            if not self._queue and not self._resets:
                self._idle.set()

    async def _write_batch(self) -> None:
        ystore = self._started()
        for name in list(self._queue):
            updates = list(self._queue.get(name, ()))
            reset = self._resets.get(name)
            async with self._lock:
                await self._write_room(ystore, name, reset, updates)
            # Only now: what was appended meanwhile stays queued.
            if reset is not None and self._resets.get(name) is reset:
                del self._resets[name]
            queued = self._queue.get(name)
            if queued is not None:
                del queued[: len(updates)]
                if not queued and name not in self._resets:
                    del self._queue[name]

    async def _write_room(self, ystore: _SQLite, name: str, reset: _Reset | None, updates: list[bytes]) -> None:
        """One transaction: a reset's deletions and room row commit with the first update,
        so a crash between them cannot leave a room without its beginning."""
        db = ystore._db
        try:
            if reset is not None:
                await db.execute("DELETE FROM yupdates WHERE path = ?", (name,))
                await db.execute("DELETE FROM ycheckpoints WHERE path = ?", (name,))
                await db.execute(
                    "INSERT OR REPLACE INTO collab_rooms (name, lifetime, root) VALUES (?, ?, ?)",
                    (name, reset.lifetime, reset.root),
                )
            if updates:
                ystore.path = name
                await ystore.write(updates[0] if len(updates) == 1 else merge_updates(*updates))  # commits
            else:
                await db.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await db.rollback()
            raise

    def health(self) -> dict[str, object]:
        return {"pending_writes": self.pending, "store_error": self.error}
