"""The workspace half of file sync (channel `sync`).

On `hello` it starts watching, scans the workspace (hashes cached in its record, so a
restart does not re-read unchanged files) and answers with its manifest: every path with its
hash and mode, the last synced state it recorded for this sync pair, and the large files it
holds partially. The client half plans from that; this half applies what arrives, resolves
conflicts (keeping both versions) and, once the client's `sync_end` is answered, sends its
own changes as the watcher reports them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.sync.core import BeforeConflict
from codeforge.bridge.sync.ignore import Ignorer
from codeforge.bridge.sync.peer import Peer
from codeforge.bridge.sync.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode, encode_entries
from codeforge.bridge.sync.state import PARTIAL_KEY, SyncState, load_config, save_periodically
from codeforge.bridge.sync.tree import hash_missing, scan_tree
from codeforge.bridge.sync.watch import TreeWatcher

if TYPE_CHECKING:
    from codeforge.bridge.sessions import ChannelContext

__all__ = ["room_hand_off", "serve", "serve_folder"]

log = logging.getLogger(__name__)

_SYNC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SAVE_EVERY = 2.0
HAND_OFF_WAIT = 30.0  # seconds a writing thread waits for the rooms to take a conflict


async def serve(link: Link, ctx: ChannelContext) -> None:
    await serve_folder(link, ctx.workspace, rooms=ctx.shared.get("collab"))


def _notice(link: Link, kind: str, message: str, data: dict[str, Any]) -> None:
    with contextlib.suppress(LinkClosed):
        link.send_nowait(encode("notice", {"kind": kind, "message": message, "data": data}))


def room_hand_off(rooms: Any, loop: asyncio.AbstractEventLoop) -> BeforeConflict:
    """The conflict hand-off to the bridge's collaboration rooms (`shared["collab"]`, a
    `codeforge.collab.RoomHub`, used by duck typing: the bridge does not import collab).

    Called from the thread that writes received files, before a conflicting file takes the
    path: on the event loop (where the rooms live), an open room on that path gets the
    conflict from its disk mirror (`DiskMirror.sync_conflict`: the room's text as ours, the
    incoming text as theirs, the last synced text as base when known), so the write that
    follows is known to it rather than merged as an ordinary disk change; its participants
    choose in their editors' three-way views. The thread waits for that (a few ms)."""

    def on_loop(rel: str, incoming: Callable[[], bytes], base: str | None, copy: str) -> None:
        mirror = getattr(rooms, "mirrors", {}).get(rel)
        room = rooms.get(rel) if hasattr(rooms, "get") else None
        if mirror is None or room is None or getattr(room, "closed", False):
            return
        data = incoming()
        if b"\0" in data:
            return
        try:
            theirs = data.decode("utf-8")
        except UnicodeDecodeError:
            return  # not text: no room holds it as one
        mirror.sync_conflict(theirs, base_digest=base, copy=copy)

    def hand_off(rel: str, incoming: Callable[[], bytes], base: str | None, copy: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            on_loop(rel, incoming, base, copy)
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                on_loop(rel, incoming, base, copy)
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        done.result(timeout=HAND_OFF_WAIT)

    return hand_off


async def serve_folder(link: Link, workspace: Path, *, rooms: Any = None) -> None:
    """Serve one sync link for `workspace` until it closes. `rooms`: the bridge's
    collaboration hub, which hears of conflicts on the files its rooms hold."""
    root = workspace.resolve()
    try:
        hello = decode(await link.receive())
    except LinkClosed:
        return
    except ProtocolError as exc:
        await link.close(f"not a sync client: {exc}")
        return
    sync_id = str(hello.header.get("sync_id", ""))
    if hello.kind != "hello" or not _SYNC_ID.fullmatch(sync_id):
        await link.close("a sync link starts with hello and a sync_id of letters, digits, - and _")
        return
    if hello.header.get("v") != PROTOCOL_VERSION:
        await link.close(
            f"sync protocol {hello.header.get('v')} is not supported (this bridge speaks {PROTOCOL_VERSION})"
        )
        return
    if not root.is_dir():
        await link.close(f"the workspace folder {root} does not exist")
        return

    held: list[tuple[str, str, dict[str, Any]]] | None = []  # notices wait for the manifest to go first

    def emit(kind: str, message: str, data: dict[str, Any]) -> None:
        if held is not None:
            held.append((kind, message, data))
        else:
            _notice(link, kind, message, data)

    config, warnings = load_config(root)
    for warning in warnings:
        emit("warning", f"workspace: {warning}", {})
    state = SyncState(root, f"pair-{sync_id}")
    state.load()
    ignorer = Ignorer(root, config.ignore)
    peer = Peer(
        root, link, side="workspace", state=state, ignorer=ignorer, emit=emit, resolver=True, durable=config.fsync
    )
    if rooms is not None:
        peer.before_conflict = room_hand_off(rooms, asyncio.get_running_loop())
    partials = hello.header.get("partials") or {}
    peer.peer_partials = {k: int(v) for k, v in partials.items() if PARTIAL_KEY.fullmatch(str(k))}

    watcher = TreeWatcher(
        root,
        ignorer,
        max_watches=config.max_watches,
        rescan_seconds=config.rescan_seconds,
        warn=lambda message, data: emit("warning", f"workspace: {message}", data),
    )
    live = asyncio.Event()
    peer.after_sync_end = live.set
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with peer.lock:
            scan = await asyncio.to_thread(scan_tree, root, ignorer, state.cache)
            await asyncio.to_thread(hash_missing, root, scan.entries)
        for warning in scan.warnings:
            emit("warning", f"workspace: {warning}", {})
        for rel, entry in scan.entries.items():
            peer.remember(rel, entry)
        entries = []
        for rel in sorted(set(scan.entries) | set(state.base)):
            e = scan.entries.get(rel)
            base = state.base.get(rel)
            entries.append(
                [
                    rel,
                    # "i": known from the record, still there but ignored now: to be left alone.
                    e.kind if e else ("i" if os.path.lexists(root / rel) else None),
                    e.hash if e else None,
                    e.mode if e else 0,
                    e.size if e else 0,
                    base[0] if base else None,
                    base[1] if base else 0,
                ]
            )
        await link.send(encode("manifest", {"partials": state.partials()}, encode_entries(entries)))
        waiting, held = held or [], None
        for notice in waiting:
            _notice(link, *notice)
        tasks.append(asyncio.ensure_future(_live(peer, watcher, live)))
        tasks.append(asyncio.ensure_future(save_periodically(state, SAVE_EVERY)))
        await peer.receive_loop()
    except LinkClosed:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await watcher.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        state.save()


async def _live(peer: Peer, watcher: TreeWatcher, live: asyncio.Event) -> None:
    await live.wait()
    await peer.start_watching(watcher)
    async for changes in watcher.changes():
        try:
            await peer.push(changes)
        except LinkClosed:
            return
        except Exception:  # one bad batch must not end the sync: say so and go on
            log.exception("sync: sending workspace changes failed")
