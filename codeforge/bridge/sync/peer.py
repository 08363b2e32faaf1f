"""A sync side: `Peer` sends this side's changes (`send.py`) and applies the other side's
(here): staged batches written, flushed and renamed by workers, conflicts resolved by the
workspace half. The model (three records per path, `prev`) is in `core.py`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeforge.bridge.link import LinkClosed
from codeforge.bridge.sync import apply
from codeforge.bridge.sync.core import Emit, Held, Job, Stats
from codeforge.bridge.sync.paths import PathRefused, check_rel, target_path, target_str
from codeforge.bridge.sync.protocol import (
    Message,
    ProtocolError,
    decode,
    decode_entries,
)
from codeforge.bridge.sync.send import Sender
from codeforge.bridge.sync.tree import (
    DIR_HASH,
    link_hash,
)

__all__ = ["Emit", "Held", "Peer", "Stats"]

log = logging.getLogger(__name__)
_HEX = re.compile(r"[0-9a-f]{32}")
# Kinds applied only once every staged batch before them is in place (a move or delete may
# name a file still being written; sync_end answers for everything before it).
_ORDERED = frozenset({"dirs", "link", "delete", "move", "mode", "agree", "want", "sync_end"})


def _reader(data: bytes | memoryview) -> Callable[[], bytes]:
    """The incoming content, copied only when the conflict hand-off asks for it."""
    return lambda: bytes(data)


class Peer(Sender):
    """One side of a sync link: both directions."""

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
            if self.durable:
                job = await asyncio.to_thread(self._stage_files, work)  # flushed by the commit worker
            else:
                # Nothing to flush: each file is renamed into place as soon as the batch is
                # written, in the same hand-off (under the lock, as every rename is).
                async with self.lock:
                    job = await asyncio.to_thread(self._stage_files, work, place=True)
            job.names = names
            for rel, held in job.same.items():
                self.synced(rel, held)
            self._commits.put_nowait(job)

    def _queue_job(self, job: Job) -> None:
        """A job staged outside the staging worker (a completed large file)."""
        self._pending |= job.names
        self._outstanding += 1
        self._idle.clear()
        self._commits.put_nowait(job)

    async def _commit_worker(self) -> None:
        while True:
            job = await self._commits.get()
            # Batches staged meanwhile share one hand-off (and, with `fsync: true`, one
            # syncfs, which also holds up file creation while the journal commits).
            while not self._commits.empty():
                job.merge(self._commits.get_nowait())
            results = job.placed
            if job.staged:
                async with self.lock:
                    results |= await asyncio.to_thread(apply.commit, self.root, job.staged, durable=self.durable)
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

    def _stage_files(self, work: list[tuple[dict[str, Any], bytes | memoryview]], *, place: bool = False) -> Job:
        """Write a batch to temporary files (in a thread); `place`: rename them into place too."""
        job = Job()
        known: set[str] = set()
        for item, data in work:
            try:
                final = target_str(self._base, item["p"], known)  # checks the path first
                rel = final[len(self._base) + 1 :]
                digest, mode = str(item["h"]), int(item["m"])
                if len(data) != int(item["n"]):
                    raise apply.ApplyError(f"{rel} arrived truncated")
                decision = self._decide(rel, digest, item.get("prev"), checked=True)
                if decision == "same":
                    job.same[rel] = (digest, mode)
                    job.same_sizes[rel] = (digest, mode, len(data))
                    continue
                if decision == "conflict":
                    if not self.resolver:
                        job.conflicts.append((rel, ""))
                        continue
                    job.conflicts.append((rel, self._set_aside(rel, _reader(data))))
                mtime = int(item.get("mt") or 0)
                job.staged.append(
                    apply.stage_file(self.root, rel, data, mode, mtime, durable=self.durable, known=known, final=final)
                )
                job.meta[rel] = (digest, mode)
            except (PathRefused, apply.ApplyError) as exc:
                job.errors.append((str(item.get("p")), str(exc)))
        if place:
            job.placed = apply.commit(self.root, job.staged)
            job.staged = []
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

    def _set_aside(self, rel: str, incoming: Callable[[], bytes] | None = None) -> str:
        """Keep this side's version of a conflicting file under a conflict name. With the
        incoming content (a file, not a link), the conflict hand-off hears of it first: a
        collaboration room on the file turns it into a conflict for its participants."""
        copy = apply.conflict_name(self.root, rel, self.side)
        if incoming is not None and self.before_conflict is not None:
            base = self.state.base.get(rel)
            try:
                self.before_conflict(rel, incoming, base[0] if base else None, copy)
            except Exception:  # the copy is kept all the same: nothing is lost without it
                log.exception("sync: handing the conflict on %s over failed", rel)
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
        await asyncio.to_thread(self._write_chunk, partial, offset, message.payload, rel)
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

    def _write_chunk(self, partial: Path, offset: int, data: bytes | memoryview, rel: str) -> None:
        """Store a chunk (in a thread) and hash it as it goes by when the file arrived in
        order from its start on this link; otherwise the completed file is read to check it."""
        key = str(partial)
        known = self.hashing.pop(key, None)
        apply.write_partial(partial, offset, data, rel)
        if offset == 0:
            hasher: Any = hashlib.blake2b(digest_size=16)
        elif known is not None and known[0] == offset:
            hasher = known[1]
        else:
            return  # resumed from an earlier link (or sent again from further back)
        hasher.update(data)
        self.hashing[key] = (offset + len(data), hasher)

    def _stage_large(self, rel: str, digest: str, mode: int, mtime_ns: int, prev: object) -> Job:
        job = Job()
        partial = self.state.partial_path(digest, rel)
        hashed = self.hashing.pop(str(partial), None)
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
                job.conflicts.append((rel, self._set_aside(rel, partial.read_bytes)))
            job.staged.append(
                apply.stage_partial(
                    self.root,
                    partial,
                    rel,
                    digest,
                    mode,
                    mtime_ns,
                    durable=self.durable,
                    content_hash=hashed[1].hexdigest() if hashed is not None else None,
                )
            )
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
