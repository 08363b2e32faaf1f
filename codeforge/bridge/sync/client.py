"""The local half of file sync: `codeforge connect URL --sync DIR [--once]`.

It plans the initial sync from both sides' trees and records (see `plan.py`): what is the
same on both sides is only recorded, never sent; what changed on one side goes to the other;
what changed on both is sent so the workspace half keeps both versions. Many small files
travel per message and large ones in chunks that continue where a dropped sync stopped.
Progress, conflicts, warnings and errors reach the user as `SyncEvent`s (`connect` turns
them into editor notifications). With `watch`, local changes are sent as watchfiles reports
them, until the link closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from codeforge.bridge.link import Dial, DialRefused, Link, LinkClosed
from codeforge.bridge.sync.ignore import Ignorer
from codeforge.bridge.sync.peer import Peer
from codeforge.bridge.sync.plan import Plan, make_plan, read_manifest
from codeforge.bridge.sync.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode
from codeforge.bridge.sync.state import SyncConfig, SyncState, load_config, save_periodically
from codeforge.bridge.sync.tree import Scan, scan_tree
from codeforge.bridge.sync.watch import TreeWatcher

__all__ = ["SyncEvent", "SyncEventKind", "run_sync"]

log = logging.getLogger(__name__)

SyncEventKind = Literal["status", "conflict", "warning", "error"]
STATUS_EVERY = 0.25  # seconds between progress events
SAVE_EVERY = 2.0
RETRIES = 8  # consecutive failed links while watching before giving up


@dataclass
class SyncEvent:
    """What the user should hear about: progress ("status"), a conflict (both versions kept),
    a warning (a symbolic link skipped, folders not watched) or an error (a refused path,
    a full disk). `data` carries the details (paths, counts, bytes)."""

    kind: SyncEventKind
    message: str
    data: dict[str, Any] = field(default_factory=dict)


class _Progress:
    def __init__(self, peer: Peer, plan: Plan, on_event: Callable[[SyncEvent], None]) -> None:
        self.peer, self.plan, self.on_event = peer, plan, on_event
        self.last = 0.0
        self.started = time.monotonic()

    def data(self, phase: str) -> dict[str, Any]:
        s = self.peer.stats
        return {
            "phase": phase,
            "files_total": self.plan.push_files + self.plan.pull_files,
            "files_done": s.applied_by_peer + s.files_received,
            "bytes_total": self.plan.push_bytes + self.plan.pull_bytes,
            "bytes_done": s.bytes_applied_by_peer + s.bytes_received,
            "bytes_sent": s.bytes_sent,
            "files_sent": s.files_sent,
            "unchanged": self.plan.unchanged,
            "conflicts": self.plan.conflicts,
            "errors": len(s.errors),
        }

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < STATUS_EVERY:
            return
        self.last = now
        d = self.data("initial")
        self.on_event(
            SyncEvent(
                "status",
                f"syncing: {d['files_done']}/{d['files_total']} files, "
                f"{d['bytes_done'] / 1e6:.1f}/{d['bytes_total'] / 1e6:.1f} MB",
                d,
            )
        )


async def run_sync(dial: Dial, local: Path, *, watch: bool, on_event: Callable[[SyncEvent], None]) -> int:
    """Sync `local` with the workspace: once (`watch=False`) or until the link ends.
    Returns 0 when everything synced, 1 when some paths failed (each told as an error
    event), 2 when the sync could not run at all."""
    root = local.expanduser().resolve()
    if not root.is_dir():
        on_event(SyncEvent("error", f"cannot sync {local}: it is not a folder (create it or name another)"))
        return 2

    def emit(kind: str, message: str, data: dict[str, Any]) -> None:
        on_event(SyncEvent(kind if kind in ("status", "conflict", "warning", "error") else "status", message, data))  # type: ignore[arg-type]

    config, warnings = load_config(root)
    for warning in warnings:
        emit("warning", warning, {})
    state = SyncState(root, "local")
    state.load()
    sync_id = state.new_sync_id()
    ignorer = Ignorer(root, config.ignore)
    failures = 0
    while True:
        # The local tree is scanned while the link is dialled (a token check with the platform,
        # a TLS handshake): the plan needs both the scan and the workspace's manifest.
        scanning = asyncio.ensure_future(asyncio.to_thread(scan_tree, root, ignorer, state.cache))
        scanning.add_done_callback(_retrieve)
        try:
            link = await dial("sync", {"sync_id": sync_id})
        except DialRefused as exc:
            if exc.status != 410 or not watch or failures >= RETRIES:
                on_event(SyncEvent("error", f"the bridge refused the sync channel: {exc.status} {exc.reason}"))
                return 2
            failures += 1
            await asyncio.sleep(_backoff(failures))
            continue
        except OSError as exc:
            if not watch or failures >= RETRIES:
                on_event(SyncEvent("error", f"cannot reach the bridge for file sync: {exc}"))
                return 2
            failures += 1
            await asyncio.sleep(_backoff(failures))
            continue
        try:
            rc = await _sync(link, root, state, ignorer, config, scanning, watch, emit, on_event)
            if rc is not None:
                return rc
            reason = link.close_reason or "closed"
            failures = 0
        except LinkClosed as exc:
            reason = exc.reason or link.close_reason or "closed"
            if not watch:
                on_event(SyncEvent("error", f"the sync link closed: {reason}; run the sync again to resume"))
                return 2
            failures += 1
        except ProtocolError as exc:
            on_event(SyncEvent("error", f"the workspace spoke an unknown sync protocol: {exc}"))
            return 2
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A folder that vanished, a damaged record: the user needs the reason, not a traceback.
            log.exception("file sync failed")
            on_event(SyncEvent("error", f"file sync failed: {exc!r}"))
            return 2
        finally:
            if state.dirty:  # saved already when the sync ended, unless something changed since
                state.save()
            with contextlib.suppress(Exception):
                await link.close("sync finished")
        # Watching and the link ended under us (a restarted bridge, an ended session): sync
        # again on a new link; the scan and the records mean nothing that arrived is resent.
        if failures > RETRIES:
            on_event(SyncEvent("error", f"file sync stopped: the link keeps closing ({reason})"))
            return 2
        on_event(SyncEvent("warning", f"file sync link closed ({reason}); syncing again", {"phase": "reconnecting"}))
        await asyncio.sleep(_backoff(failures))


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A scan whose link was never dialled: its outcome is not needed (nor logged)."""
    if not future.cancelled():
        future.exception()


def _backoff(failures: int) -> float:
    return float(min(0.2 * 2**failures, 10.0))


async def _sync(
    link: Link,
    root: Path,
    state: SyncState,
    ignorer: Ignorer,
    config: SyncConfig,
    scanning: asyncio.Future[Scan],
    watch: bool,
    emit: Callable[[str, str, dict[str, Any]], None],
    on_event: Callable[[SyncEvent], None],
) -> int | None:
    """One link's sync: the result when not watching, None when the link ended while watching."""
    peer = Peer(root, link, side="local", state=state, ignorer=ignorer, emit=emit, resolver=False, durable=config.fsync)
    await link.send(encode("hello", {"sync_id": state.sync_id, "v": PROTOCOL_VERSION, "partials": state.partials()}))
    watcher = TreeWatcher(
        root,
        ignorer,
        max_watches=config.max_watches,
        rescan_seconds=config.rescan_seconds,
        warn=lambda m, d: emit("warning", m, d),
    )
    scan = await scanning
    for warning in scan.warnings:
        emit("warning", warning, {})
    message = decode(await link.receive())
    while message.kind == "notice":  # a workspace warning may come first
        peer.on_notice(message)
        message = decode(await link.receive())
    if message.kind != "manifest":
        raise ProtocolError(f"expected the workspace's manifest, got {message.kind}")
    remote, remote_partials, refused = read_manifest(message)
    for text in refused:
        peer.fail("", text)
    peer.peer_partials = remote_partials
    done = asyncio.Event()
    peer.after_sync_end = done.set
    receiver = asyncio.ensure_future(peer.receive_loop())
    tasks: list[asyncio.Task[Any]] = [receiver]
    try:
        plan = await make_plan(peer, scan.entries, remote)
        progress = _Progress(peer, plan, on_event)
        peer.after_applied = progress.tick
        progress.tick(force=True)
        await plan.execute(peer)
        await link.send(encode("sync_end", {}))
        waiter = asyncio.ensure_future(done.wait())
        finished, _ = await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in finished:
            waiter.cancel()
            raise LinkClosed(link.close_reason)
        await asyncio.to_thread(state.write, state.snapshot())
        final = progress.data("done")
        on_event(
            SyncEvent(
                "status",
                f"in sync: {final['files_done']} files transferred, {plan.unchanged} already the same"
                + (f", {final['errors']} failed" if final["errors"] else ""),
                final,
            )
        )
        if not watch:
            return 1 if peer.stats.errors else 0
        tasks.append(asyncio.ensure_future(save_periodically(state, SAVE_EVERY)))
        await peer.start_watching(watcher)  # and sends what changed while the initial sync ran
        await watcher.ready.wait()
        on_event(SyncEvent("status", "watching for changes", {"phase": "watching"}))
        async for changes in _until(watcher, receiver):
            await peer.push(changes)
        return None  # the link ended: the caller syncs again on a new one
    finally:
        await watcher.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _until(watcher: TreeWatcher, receiver: asyncio.Task[None]) -> Any:
    """The watcher's batches until the receiving loop ends (the link closed)."""
    changes = watcher.changes().__aiter__()
    while True:
        nxt = asyncio.ensure_future(changes.__anext__())
        finished, _ = await asyncio.wait({nxt, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if nxt not in finished:
            nxt.cancel()
            return
        yield nxt.result()
