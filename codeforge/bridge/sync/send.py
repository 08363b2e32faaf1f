"""Sending this side's changes: comparing the disk with what the other side holds, and
putting the differences on the link (batched small files, chunked large ones, renames as
moves). See `core.py` for the model."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any

from codeforge.bridge.sync.core import Held, PeerCore
from codeforge.bridge.sync.protocol import (
    BATCH_BYTES,
    BATCH_ITEMS,
    CHUNK_SIZE,
    SMALL_FILE,
    encode_entries,
)
from codeforge.bridge.sync.state import partial_key
from codeforge.bridge.sync.tree import (
    DIR_HASH,
    Entry,
    hash_bytes,
    hash_file,
    hash_missing,
    scan_tree,
)
from codeforge.bridge.sync.watch import FLAT, GONE, TreeWatcher

__all__ = ["Sender"]


class Sender(PeerCore):
    """The sending half of a `Peer`."""

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

    def _collect(self, rels: Iterable[str]) -> dict[str, Entry | None]:
        """The current entries of `rels`, folders expanded to what is (or was) below them."""
        found: dict[str, Entry | None] = {}
        todo: list[str] = []
        for rel in rels:
            if rel.startswith(GONE):  # a rescan: what the other side holds in that folder
                folder = rel[len(GONE) :]
                # list(): a copy taken at once (this runs in a thread; the loop may change it)
                todo.extend(p for p in list(self.peer) if (p.rsplit("/", 1)[0] if "/" in p else "") == folder)
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
                todo.extend(p for p in list(self.peer) if p.startswith(prefix) and p not in found)
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

    async def _send_files(self, files: list[tuple[str, Entry]]) -> None:
        # Smallest first: when the other side's disk (or the link) gives out, the most files
        # have arrived, and no more than the one that did not fit is missing.
        small = sorted(((rel, e) for rel, e in files if e.size <= SMALL_FILE), key=lambda item: item[1].size)
        large = [(rel, e) for rel, e in files if e.size > SMALL_FILE]
        # A large file's hash names its resumable partial, so it is needed before its first
        # chunk: computed in a thread of its own while the small files go out.
        unhashed = [(rel, e) for rel, e in large if e.hash is None]
        hashing = asyncio.ensure_future(asyncio.to_thread(self._hash_large, unhashed)) if unhashed else None
        batch: list[tuple[str, Entry]] = []
        size = 0
        pending: asyncio.Task[tuple[dict[str, Any], list[bytes], list[tuple[str, Entry]]]] | None = None
        # Read the next batch in a thread while the previous one goes out.
        for rel, entry in small:
            batch.append((rel, entry))
            size += entry.size
            if size >= BATCH_BYTES or len(batch) >= BATCH_ITEMS:
                if pending is not None:
                    await self._send_batch(await pending)
                pending = asyncio.ensure_future(asyncio.to_thread(self._read_batch, batch))
                batch, size = [], 0
        if batch:
            if pending is not None:
                await self._send_batch(await pending)
            pending = asyncio.ensure_future(asyncio.to_thread(self._read_batch, batch))
        if pending is not None:
            await self._send_batch(await pending)
        self._warn_unreadable()
        if hashing is not None:
            for rel, entry in await hashing:
                self.remember(rel, entry)  # the records change on the event loop
        for rel, entry in large:
            await self._send_large(rel, entry)

    def _hash_large(self, files: list[tuple[str, Entry]]) -> list[tuple[str, Entry]]:
        """Hash large files (in a thread); those that cannot be read are left unhashed (and
        `_send_large` tries once more, then skips them)."""
        hashed: list[tuple[str, Entry]] = []
        for rel, entry in files:
            try:
                entry.hash = hash_file(f"{self._base}/{rel}")
            except OSError:
                continue
            hashed.append((rel, entry))
        return hashed

    def _warn_unreadable(self) -> None:
        while self._unreadable:
            self.emit("warning", self._unreadable.pop(0), {})

    async def _send_batch(self, read: tuple[dict[str, Any], list[bytes], list[tuple[str, Entry]]]) -> None:
        header, parts, sent = read
        # The records change here, on the event loop, not in the reading thread.
        for rel, entry in sent:
            self.remember(rel, entry)
            self.peer[rel] = (entry.hash or "", entry.mode)
        await self._send("files", header, parts)

    def _read_batch(
        self, batch: list[tuple[str, Entry]]
    ) -> tuple[dict[str, Any], list[bytes], list[tuple[str, Entry]]]:
        """Read and hash a batch (in a thread): the message's header and contents, and the
        entries it carries. Each file is read with one `read` of its scanned size and one
        more byte (a file grown since is read to its end), hashed as read: one pass."""
        items: list[dict[str, Any]] = []
        parts: list[bytes] = []
        sent: list[tuple[str, Entry]] = []
        base, peer = self._base, self.peer
        for rel, entry in batch:
            try:
                fd = os.open(f"{base}/{rel}", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # gone meanwhile: the watcher reports it
            except OSError as exc:
                self._unreadable.append(f"cannot read {rel} ({exc.strerror}); it is not synced until it can be read")
                continue
            try:
                data = os.read(fd, entry.size + 1)
                if len(data) > entry.size:
                    more = [data]
                    while chunk := os.read(fd, 1024 * 1024):
                        more.append(chunk)
                    data = b"".join(more)
            except OSError as exc:
                self._unreadable.append(f"cannot read {rel} ({exc.strerror}); it is not synced until it can be read")
                continue
            finally:
                os.close(fd)
            digest = hash_bytes(data)
            entry.hash, entry.size = digest, len(data)
            held = peer.get(rel)
            items.append(
                {
                    "p": rel,
                    "h": digest,
                    "m": entry.mode,
                    "mt": entry.mtime_ns,
                    "prev": held[0] if held else None,
                    "n": len(data),
                }
            )
            sent.append((rel, entry))
            parts.append(data)
        self.stats.files_sent += len(sent)
        self.stats.bytes_sent += sum(map(len, parts))
        return {"items": items}, parts, sent

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

    def send_agree(self, entries: dict[str, Held]) -> None:
        self.send_now("agree", {}, encode_entries({k: list(v) for k, v in entries.items()}))
