"""The half of sync both sides share: sending local changes, applying the other side's.

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
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.sync import apply
from codeforge.bridge.sync.ignore import Ignorer
from codeforge.bridge.sync.paths import PathRefused, check_rel, link_target_inside, target_path, target_str
from codeforge.bridge.sync.protocol import (
    BATCH_BYTES,
    BATCH_ITEMS,
    CHUNK_SIZE,
    SMALL_FILE,
    Message,
    ProtocolError,
    decode,
    decode_entries,
    encode,
    encode_entries,
)
from codeforge.bridge.sync.state import SyncState, partial_key
from codeforge.bridge.sync.tree import (
    DIR_HASH,
    Entry,
    entry_for,
    hash_bytes,
    hash_file,
    hash_missing,
    link_hash,
    scan_tree,
)
from codeforge.bridge.sync.watch import FLAT, GONE, TreeWatcher

__all__ = ["Emit", "Peer", "Stats"]

log = logging.getLogger(__name__)

# kind ("status" | "conflict" | "warning" | "error"), message for a person, data.
Emit = Callable[[str, str, dict[str, Any]], None]
Held = tuple[str, int]  # (hash, mode)
_HEX = re.compile(r"[0-9a-f]{32}")
STAGING_QUEUE = 4  # received batches waiting to be written (each up to BATCH_BYTES)
# Kinds applied only once every staged batch before them is in place (a move or delete may
# name a file still being written; sync_end answers for everything before it).
_ORDERED = frozenset({"dirs", "link", "delete", "move", "mode", "agree", "want", "sync_end"})


@dataclass
class _Job:
    """One batch of small files: staged temporary files, and what to report once renamed."""

    staged: list[apply.Staged] = field(default_factory=list)
    meta: dict[str, Held] = field(default_factory=dict)
    same: dict[str, Held] = field(default_factory=dict)
    same_sizes: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # every path the batch named
    count: int = 1  # batches merged into this one

    def merge(self, other: _Job) -> None:
        self.names |= other.names
        self.count += other.count
        self.staged += other.staged
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


class Peer:
    def __init__(
        self, root: Path, link: Link, *, side: str, state: SyncState, ignorer: Ignorer, emit: Emit, resolver: bool
    ) -> None:
        self.root = root
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
        self.handlers: dict[str, Callable[[Message], Any]] = {}
        # Pushes the receiving loop asks for (wants, conflict copies), sent in order by one task,
        # since a send may wait and the receiving loop must not. None: send `sync_end` here.
        self._out: asyncio.Queue[list[str] | None] = asyncio.Queue()
        # Staged batches of small files waiting for their flush and renames (see on_files).
        self._staging: asyncio.Queue[tuple[list[tuple[dict[str, Any], bytes | memoryview]], set[str]]] = asyncio.Queue(
            maxsize=STAGING_QUEUE
        )
        self._commits: asyncio.Queue[_Job] = asyncio.Queue()
        self._pending: set[str] = set()  # paths named by batches not yet in place
        self._outstanding = 0  # batches received, not yet in place
        self._idle = asyncio.Event()
        self._idle.set()

    # -- what this side holds ---------------------------------------------------------------

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
        if entry.kind == "f":
            known = self.state.cache.get(rel)
            if known is not None and known.hash and known.same_stat(entry):
                entry.hash = known.hash
            else:
                try:
                    entry.hash = hash_file(path)
                except OSError:
                    return None
                self.remember(rel, entry)
        return entry

    def held(self, rel: str) -> Entry | None:
        """What the disk holds at `rel`, ignore rules aside: what a change would replace."""
        path = f"{self._base}/{rel}"
        entry = entry_for(path, rel)
        if entry is not None and entry.kind == "f":
            known = self.state.cache.get(rel)
            if known is not None and known.hash and known.same_stat(entry):
                entry.hash = known.hash
            else:
                try:
                    entry.hash = hash_file(path)
                except OSError:
                    return None
        return entry

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

    async def start_watching(self, watcher: TreeWatcher) -> None:
        """Watch from now on, then compare the whole tree once with what the other side
        holds (hashes cached: mostly stat calls), so a change made while the initial sync
        ran is sent too. Watching starts only now so the sync's own writes are not reported
        by the thousand while it runs."""
        async with self.lock:
            scan = await asyncio.to_thread(scan_tree, self.root, self.ignorer, self.state.cache)
            watcher.start(scan.folders)
            found: dict[str, Entry | None] = dict(scan.entries)
            for rel in self.peer:
                if rel not in found and not os.path.lexists(f"{self._base}/{rel}"):
                    found[rel] = None
            await asyncio.to_thread(hash_missing, self.root, scan.entries)
        for rel, entry in scan.entries.items():
            if entry.kind == "f":
                self.remember(rel, entry)
        await self.send_changes(found)

    # -- sending local changes ----------------------------------------------------------------

    def _collect(self, rels: Iterable[str]) -> dict[str, Entry | None]:
        """The current entries of `rels`, folders expanded to what is (or was) below them."""
        found: dict[str, Entry | None] = {}
        todo: list[str] = []
        for rel in rels:
            if rel.startswith(GONE):  # a rescan: what the other side holds in that folder
                folder = rel[len(GONE) :]
                todo.extend(p for p in self.peer if (p.rsplit("/", 1)[0] if "/" in p else "") == folder)
            elif rel.startswith(FLAT):  # a rescan walked this folder already: do not expand
                found[rel[len(FLAT) :]] = self.current(rel[len(FLAT) :])
            else:
                todo.append(rel)
        while todo:
            rel = todo.pop()
            if rel in found:
                continue
            entry = self.current(rel)
            if entry is None and rel in self.peer and os.path.lexists(f"{self._base}/{rel}"):
                continue  # there but ignored now (or not syncable): leave the other side's copy alone
            found[rel] = entry
            if entry is not None and entry.kind == "d":
                if rel not in self.peer:
                    # New here (made, or moved in): what is below it may never be reported.
                    scan = scan_tree(self.root, self.ignorer, self.state.cache, folders=[rel])
                    todo.extend(p for p in scan.entries if p not in found)
            elif self.peer.get(rel, ("",))[0] == DIR_HASH:
                # Gone (deleted, or moved away): so is all the other side holds below it.
                prefix = rel + "/"
                todo.extend(p for p in self.peer if p.startswith(prefix) and p not in found)
        return found

    async def push(self, rels: Iterable[str]) -> None:
        """Send whatever differs between the disk and what the other side holds at `rels`."""
        async with self.lock:
            found = await asyncio.to_thread(self._collect, rels)
        await self.send_changes(found)

    async def send_changes(
        self, found: dict[str, Entry | None], *, new_unhashed: Iterable[tuple[str, Entry]] = ()
    ) -> None:
        """Send the differences; paths in `new_unhashed` are files the other side lacks whose
        hash is computed while they are read for sending (one read instead of two)."""
        dirs: list[tuple[str, Entry]] = []
        files: list[tuple[str, Entry]] = []
        links: list[tuple[str, Entry]] = []
        modes: list[tuple[str, Entry]] = []
        gone: list[str] = []
        for rel, entry in found.items():
            held = self.peer.get(rel)
            if entry is None:
                if held is not None:
                    gone.append(rel)
                continue
            if held is not None and held[0] == entry.hash:
                if held[1] != entry.mode and entry.kind != "l":
                    modes.append((rel, entry))
                continue
            {"d": dirs, "f": files, "l": links}[entry.kind].append((rel, entry))
        files.extend(new_unhashed)
        # A delete and a create of the same content is a rename: move it there, send nothing.
        by_hash = {self.peer[rel][0]: rel for rel in gone if self.peer[rel][0] not in (DIR_HASH, "")}
        moved: set[str] = set()
        remaining: list[tuple[str, Entry]] = []
        dirs.sort(key=lambda item: item[0].count("/"))
        for start in range(0, len(dirs), BATCH_ITEMS):
            part = dirs[start : start + BATCH_ITEMS]
            await self._send("dirs", {"items": [[rel, entry.mode] for rel, entry in part]})
            for rel, entry in part:
                self.peer[rel] = (DIR_HASH, entry.mode)
        for rel, entry in files:
            src = by_hash.pop(entry.hash, None) if entry.hash and rel not in self.peer else None
            if src is not None and src not in moved:
                moved.add(src)
                await self._send("move", {"src": src, "dst": rel, "h": entry.hash})
                self.peer[rel] = old = self.peer.pop(src)
                if entry.mode != old[1]:
                    modes.append((rel, entry))
            else:
                remaining.append((rel, entry))
        await self._send_files(remaining)
        for rel, entry in links:
            await self._send("link", {"p": rel, "target": entry.target, "prev": self._prev(rel)})
            self.peer[rel] = (entry.hash or "", entry.mode)
        for rel, entry in modes:
            await self._send("mode", {"p": rel, "m": entry.mode, "h": entry.hash})
            self.peer[rel] = (self.peer[rel][0], entry.mode)
        # Deepest first, so a folder is empty by the time its own delete arrives.
        for rel in sorted((r for r in gone if r not in moved), key=lambda r: -r.count("/")):
            await self._send("delete", {"p": rel, "prev": self._prev(rel)})
            self.peer.pop(rel, None)

    def _prev(self, rel: str) -> str | None:
        held = self.peer.get(rel)
        return held[0] if held else None

    async def _send(self, kind: str, header: dict[str, Any], payload: bytes = b"") -> None:
        await self.link.send(encode(kind, header, payload))

    def send_now(self, kind: str, header: dict[str, Any], payload: bytes = b"") -> None:
        """For small replies from the receiving loop, which must never wait on the window."""
        with contextlib.suppress(LinkClosed):
            self.link.send_nowait(encode(kind, header, payload))

    async def _send_files(self, files: list[tuple[str, Entry]]) -> None:
        small = [(rel, e) for rel, e in files if e.size <= SMALL_FILE]
        large = [(rel, e) for rel, e in files if e.size > SMALL_FILE]
        batch: list[tuple[str, Entry]] = []
        size = 0
        pending: asyncio.Task[tuple[dict[str, Any], bytes]] | None = None
        # Read the next batch in a thread while the previous one goes out.
        for rel, entry in small:
            batch.append((rel, entry))
            size += entry.size
            if size >= BATCH_BYTES or len(batch) >= BATCH_ITEMS:
                if pending is not None:
                    await self._send("files", *(await pending))
                pending = asyncio.ensure_future(asyncio.to_thread(self._read_batch, batch))
                batch, size = [], 0
        if batch:
            if pending is not None:
                await self._send("files", *(await pending))
            pending = asyncio.ensure_future(asyncio.to_thread(self._read_batch, batch))
        if pending is not None:
            await self._send("files", *(await pending))
        self._warn_unreadable()
        for rel, entry in large:
            await self._send_large(rel, entry)

    def _warn_unreadable(self) -> None:
        while self._unreadable:
            self.emit("warning", self._unreadable.pop(0), {})

    def _read_batch(self, batch: list[tuple[str, Entry]]) -> tuple[dict[str, Any], bytes]:
        items: list[dict[str, Any]] = []
        parts: list[bytes] = []
        for rel, entry in batch:
            try:
                with open(f"{self._base}/{rel}", "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue  # gone meanwhile: the watcher reports it
            except OSError as exc:
                self._unreadable.append(f"cannot read {rel} ({exc.strerror}); it is not synced until it can be read")
                continue
            digest = hash_bytes(data)
            entry.hash, entry.size = digest, len(data)
            self.remember(rel, entry)
            items.append(
                {"p": rel, "h": digest, "m": entry.mode, "mt": entry.mtime_ns, "prev": self._prev(rel), "n": len(data)}
            )
            self.peer[rel] = (digest, entry.mode)
            parts.append(data)
            self.stats.files_sent += 1
            self.stats.bytes_sent += len(data)
        return {"items": items}, b"".join(parts)

    async def _send_large(self, rel: str, entry: Entry) -> None:
        path = self.root / rel
        if entry.hash is None:
            try:
                entry.hash = await asyncio.to_thread(hash_file, path)
            except OSError:
                return
            self.remember(rel, entry)
        digest = entry.hash
        offset = self.peer_partials.pop(partial_key(digest, rel), 0)
        if not 0 <= offset <= entry.size:
            offset = 0
        prev = self._prev(rel)
        try:
            f = open(path, "rb")  # noqa: SIM115 - opened here to skip a vanished file, closed by `with`
        except OSError:
            return
        with f:
            f.seek(offset)
            self.stats.files_sent += 1
            while True:
                data = await asyncio.to_thread(f.read, CHUNK_SIZE)
                last = offset + len(data) >= entry.size or not data
                header = {"p": rel, "h": digest, "m": entry.mode, "mt": entry.mtime_ns, "prev": prev}
                header |= {"size": entry.size, "off": offset, "last": last}
                await self._send("chunk", header, data)
                self.stats.bytes_sent += len(data)
                offset += len(data)
                if last:
                    break
        self.peer[rel] = (digest, entry.mode)

    # -- receiving ----------------------------------------------------------------------------

    async def receive_loop(self) -> None:
        """Apply what the other side sends until the link closes."""
        workers = [
            asyncio.ensure_future(self._want_worker()),
            asyncio.ensure_future(self._stage_worker()),
            asyncio.ensure_future(self._commit_worker()),
        ]
        try:
            async for raw in self.link:
                try:
                    message = decode(raw)
                except ProtocolError as exc:
                    self.fail("", f"a bad sync message from the other side: {exc}")
                    continue
                handler = self.handlers.get(message.kind) or getattr(self, f"on_{message.kind}", None)
                if handler is None:
                    self.fail("", f"an unknown sync message kind {message.kind!r}")
                    continue
                try:
                    if message.kind in _ORDERED or (
                        message.kind == "chunk" and str(message.header.get("p")) in self._pending
                    ):
                        await self.barrier()  # in order: what came before is in place first
                    result = handler(message)
                    if asyncio.iscoroutine(result):
                        await result
                except (PathRefused, apply.ApplyError) as exc:
                    self.fail(getattr(exc, "path", ""), str(exc))
                except (KeyError, TypeError, ValueError) as exc:
                    self.fail("", f"a malformed {message.kind} message: {exc!r}")
                except LinkClosed:
                    raise
                except Exception as exc:  # a bug here must not end the sync: report it, go on
                    log.exception("sync: handling %s failed", message.kind)
                    self.fail("", f"handling a {message.kind} message failed: {exc!r} (a bug: please report it)")
        finally:
            # Staged files are complete: put them in place even though the link ended (the
            # records then say so, and a restarted sync does not send them again).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.barrier(), 60)
            for worker in workers:
                worker.cancel()

    def fail(self, rel: object, message: str) -> None:
        self.stats.errors.append(message)
        log.warning("sync: %s", message)
        self.emit("error", message, {"path": rel if isinstance(rel, str) else ""})

    async def on_files(self, message: Message) -> None:
        offset = 0
        work: list[tuple[dict[str, Any], bytes | memoryview]] = []
        for item in message.header["items"]:
            n = int(item["n"])
            work.append((item, message.payload[offset : offset + n]))
            offset += n
        names = {str(item.get("p")) for item, _ in work}
        if not names.isdisjoint(self._pending):
            await self.barrier()  # a path still on its way into place: decide after it
        # Handed to the staging worker: this loop goes on receiving (so the link acknowledges
        # and the sender keeps sending) while batches are written, flushed and renamed.
        self._pending |= names
        self._outstanding += 1
        self._idle.clear()
        await self._staging.put((work, names))

    async def barrier(self) -> None:
        """Wait until every batch received so far is in place."""
        while self._outstanding:
            self._idle.clear()
            await self._idle.wait()

    async def _stage_worker(self) -> None:
        while True:
            work, names = await self._staging.get()
            job = await asyncio.to_thread(self._stage_files, work)
            job.names = names
            for rel, held in job.same.items():
                self.synced(rel, held)
            self._commits.put_nowait(job)

    def _queue_job(self, job: _Job) -> None:
        """A job staged outside the staging worker (a completed large file)."""
        self._pending |= job.names
        self._outstanding += 1
        self._idle.clear()
        self._commits.put_nowait(job)

    async def _commit_worker(self) -> None:
        while True:
            job = await self._commits.get()
            # Batches staged meanwhile share one flush: fewer syncfs calls, each of which
            # also holds up file creation while the journal commits.
            while not self._commits.empty():
                job.merge(self._commits.get_nowait())
            async with self.lock:
                results = await asyncio.to_thread(apply.commit, self.root, job.staged)
            applied = [[rel, h, m, n] for rel, (h, m, n) in job.same_sizes.items()]
            for rel, result in results.items():
                if isinstance(result, Exception):
                    job.errors.append((rel, str(result)))
                    continue
                digest, mode = job.meta[rel]
                result.hash = digest
                self.remember(rel, result)
                self.synced(rel, (digest, mode))
                applied.append([rel, digest, mode, result.size])
                self.stats.files_received += 1
                self.stats.bytes_received += result.size
            self._pending -= job.names
            self._outstanding -= job.count
            if not self._outstanding:
                self._idle.set()
            self._after_apply(applied, job.conflicts, job.errors)

    def _stage_files(self, work: list[tuple[dict[str, Any], bytes | memoryview]]) -> _Job:
        job = _Job()
        known: set[str] = set()
        for item, data in work:
            try:
                rel = check_rel(item["p"])
                digest, mode = str(item["h"]), int(item["m"])
                if len(data) != int(item["n"]):
                    raise apply.ApplyError(f"{rel} arrived truncated")
                final = target_str(self._base, rel, known)
                decision = self._decide(rel, digest, item.get("prev"), checked=True)
                if decision == "same":
                    job.same[rel] = (digest, mode)
                    job.same_sizes[rel] = (digest, mode, len(data))
                    continue
                if decision == "conflict":
                    if not self.resolver:
                        job.conflicts.append((rel, ""))
                        continue
                    job.conflicts.append((rel, self._set_aside(rel)))
                mtime = int(item.get("mt") or 0)
                job.staged.append(apply.stage_file(self.root, rel, data, mode, mtime, known=known, final=final))
                job.meta[rel] = (digest, mode)
            except (PathRefused, apply.ApplyError) as exc:
                job.errors.append((str(item.get("p")), str(exc)))
        return job

    def _decide(self, rel: str, new: str, prev: object, *, checked: bool = False) -> str:
        """Whether to apply: "same" (already there), "apply", or "conflict" (the disk holds
        something else). `checked`: the caller ran `target_str` on `rel` already."""
        if not checked:
            target_str(self._base, rel)
        cur = self.held(rel)
        if cur is not None and cur.hash == new:
            return "same"
        if (cur is None and prev is None) or (cur is not None and cur.hash == prev):
            return "apply"
        if cur is None and prev is not None:
            return "apply"  # deleted here, changed there: the change wins (nothing is lost)
        return "conflict"

    def _set_aside(self, rel: str) -> str:
        """Keep this side's version of a conflicting file under a conflict name."""
        copy = apply.conflict_name(self.root, rel, self.side)
        apply.move_path(self.root, rel, copy)
        self.remember(rel, None)
        return copy

    def _after_apply(
        self, applied: list[list[Any]], conflicts: list[tuple[str, str]], errors: list[tuple[str, str]]
    ) -> None:
        if applied:
            self.send_now("applied", {"items": applied})
            if self.after_applied:
                self.after_applied()
        for rel, message in errors:
            self.fail(rel, message)
            self.send_now("failed", {"p": rel, "message": message})
        for rel, copy in conflicts:
            if copy:
                text = f"{rel} changed on both sides: the local version is kept as {rel}, the workspace's as {copy}"
                self.emit("conflict", text, {"path": rel, "copy": copy})
                self._out.put_nowait([copy])
            else:
                # Ours changed too: make sure it goes out; the workspace keeps both.
                self._out.put_nowait([rel])

    async def on_chunk(self, message: Message) -> None:
        h = message.header
        rel, digest = check_rel(h["p"]), str(h["h"])
        if not _HEX.fullmatch(digest):
            raise apply.ApplyError(f"{rel}: a chunk with a malformed hash")
        partial = self.state.partial_path(digest, rel)
        offset, size = int(h["off"]), int(h["size"])
        have = partial.stat().st_size if partial.exists() else 0
        if offset > have:
            raise apply.ApplyError(f"{rel}: a chunk at {offset} but only {have} bytes arrived; it is sent again")
        target_path(self.root, rel)  # refuse early, before any byte is stored
        await asyncio.to_thread(apply.write_partial, partial, offset, message.payload, rel)
        self.stats.bytes_received += len(message.payload)
        if not h["last"]:
            return
        if offset + len(message.payload) != size:
            raise apply.ApplyError(f"{rel}: arrived with the wrong length; it is sent again")
        # Complete: checked and staged here, renamed by the commit worker with the next flush.
        job = await asyncio.to_thread(self._stage_large, rel, digest, int(h["m"]), int(h["mt"]), h["prev"])
        for path, held in job.same.items():
            self.synced(path, held)
        job.names = {rel}
        self._queue_job(job)

    def _stage_large(self, rel: str, digest: str, mode: int, mtime_ns: int, prev: object) -> _Job:
        job = _Job()
        partial = self.state.partial_path(digest, rel)
        try:
            decision = self._decide(rel, digest, prev)
            if decision == "same":
                partial.unlink(missing_ok=True)
                job.same[rel] = (digest, mode)
                job.same_sizes[rel] = (digest, mode, 0)
                return job
            if decision == "conflict":
                if not self.resolver:
                    partial.unlink(missing_ok=True)
                    job.conflicts.append((rel, ""))
                    return job
                job.conflicts.append((rel, self._set_aside(rel)))
            job.staged.append(apply.stage_partial(self.root, partial, rel, digest, mode, mtime_ns))
            job.meta[rel] = (digest, mode)
        except (PathRefused, apply.ApplyError) as exc:
            job.errors.append((rel, str(exc)))
        return job

    async def on_link(self, message: Message) -> None:
        h = message.header
        rel, target = check_rel(h["p"]), str(h["target"])
        async with self.lock:
            decision = self._decide(rel, link_hash(target), h.get("prev"))
            conflicts: list[tuple[str, str]] = []
            if decision == "conflict":
                if not self.resolver:
                    self._after_apply([], [(rel, "")], [])
                    return
                conflicts.append((rel, self._set_aside(rel)))
            if decision != "same":
                entry = apply.make_link(self.root, rel, target)
                self.remember(rel, entry)
        self.synced(rel, (link_hash(target), 0))
        self._after_apply([[rel, link_hash(target), 0, 0]], conflicts, [])

    async def on_dirs(self, message: Message) -> None:
        items = [(str(rel), int(mode)) for rel, mode in message.header["items"]]
        async with self.lock:
            made, errors = await asyncio.to_thread(self._make_dirs, items)
        for rel, mode in made:
            self.synced(rel, (DIR_HASH, mode))
        self._after_apply([[rel, DIR_HASH, mode, 0] for rel, mode in made], [], errors)

    def _make_dirs(self, items: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
        made: list[tuple[str, int]] = []
        errors: list[tuple[str, str]] = []
        for rel, mode in items:
            try:
                apply.make_dir(self.root, check_rel(rel), mode)
                made.append((rel, mode))
            except (PathRefused, apply.ApplyError) as exc:
                errors.append((rel, str(exc)))
        return made, errors

    async def on_mode(self, message: Message) -> None:
        rel, mode, digest = check_rel(message.header["p"]), int(message.header["m"]), message.header["h"]
        async with self.lock:
            cur = self.current(rel)
            if cur is None or cur.hash != digest:
                return  # the content changed meanwhile: its own update carries the mode
            apply.set_mode(self.root, rel, mode)
            self.remember(rel, None)
        self.synced(rel, (digest, mode))
        self.send_now("applied", {"items": [[rel, digest, mode, 0]]})

    async def on_delete(self, message: Message) -> None:
        rel, prev = check_rel(message.header["p"]), message.header.get("prev")
        async with self.lock:
            cur = self.current(rel)
            if cur is not None and cur.hash != prev:
                # Deleted there, changed here: keep the change and send it back.
                self.peer.pop(rel, None)
                self.state.base.pop(rel, None)
                if cur.kind != "d":
                    self.emit(
                        "conflict",
                        f"{rel} was deleted on one side and changed on the other: the changed version is kept",
                        {"path": rel, "copy": ""},
                    )
                restore = True
            else:
                restore = not apply.delete_path(self.root, rel)  # a folder with new content stays
                self.remember(rel, None)
                if not restore:
                    self.synced(rel, None)
        if restore:
            self._out.put_nowait([rel])
        else:
            self.send_now("applied", {"items": [[rel, None, 0, 0]]})

    async def on_move(self, message: Message) -> None:
        src, dst, digest = check_rel(message.header["src"]), check_rel(message.header["dst"]), message.header["h"]
        async with self.lock:
            cur, there = self.current(src), self.current(dst)
            movable = cur is not None and cur.hash == digest and there is None
            if movable:
                apply.move_path(self.root, src, dst)
                self.remember(src, None)
                self.synced(src, None)
                moved = self.current(dst)
                if moved is not None:
                    self.synced(dst, (digest, moved.mode))
        if movable:
            self.send_now("applied", {"items": [[src, None, 0, 0], [dst, digest, moved.mode if moved else 0, 0]]})
        else:
            # Not what the sender thinks is here: ask for the content instead (src's delete follows).
            self.send_now("want", {"items": [[dst, there.hash if there else None, there.mode if there else 0]]})
            if cur is not None and cur.hash != digest:
                self.peer.pop(src, None)

    def on_agree(self, message: Message) -> None:
        for rel, (digest, mode) in decode_entries(message.payload).items():
            self.synced(check_rel(rel), (str(digest), int(mode)))

    def on_applied(self, message: Message) -> None:
        for rel, digest, mode, size in message.header["items"]:
            if digest is None:
                self.state.base.pop(rel, None)
            else:
                self.state.base[rel] = (digest, mode)
                if digest not in (DIR_HASH,) and not str(digest).startswith("l:"):
                    self.stats.applied_by_peer += 1
                    self.stats.bytes_applied_by_peer += int(size)
        self.state.dirty = True
        if self.after_applied:
            self.after_applied()

    def on_failed(self, message: Message) -> None:
        # The other side could not apply it: it does not hold what we sent.
        rel = str(message.header.get("p"))
        self.peer.pop(rel, None) if self.state.base.get(rel) is None else self.peer.update({rel: self.state.base[rel]})
        if self.resolver:
            return  # the other side (the user's) reported it already
        self.stats.errors.append(str(message.header.get("message")))

    def on_want(self, message: Message) -> None:
        rels = []
        for item in message.header["items"]:
            rel, have = check_rel(item[0]), item[1]
            if have is None:
                self.peer.pop(rel, None)
            else:
                self.peer[rel] = (str(have), int(item[2]) if len(item) > 2 else 0)
            rels.append(rel)
        self._out.put_nowait(rels)

    async def _want_worker(self) -> None:
        """Send what the receiving loop queued, in order (sends may wait; it must not)."""
        while True:
            rels = await self._out.get()
            if rels is None:
                await self._send("sync_end", {})
                if self.after_sync_end:
                    self.after_sync_end()
                continue
            await self.push(rels)

    def on_sync_end(self, message: Message) -> None:
        if self.resolver:
            self._out.put_nowait(None)  # answer after everything queued before it went out
        elif self.after_sync_end:
            self.after_sync_end()

    def on_notice(self, message: Message) -> None:
        h = message.header
        self.emit(str(h.get("kind", "status")), str(h.get("message", "")), dict(h.get("data") or {}))

    def send_agree(self, entries: dict[str, Held]) -> None:
        self.send_now("agree", {}, encode_entries({k: list(v) for k, v in entries.items()}))
