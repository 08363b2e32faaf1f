"""`RoomHub`: the rooms of one workspace, opened once, restored from the store, closed idle.

Opening is the moment many clients arrive together (a session starts, a bridge restarts and
every editor reconnects), so the first `open(name)` starts one task that builds the room and
every other caller awaits that same task: one load from the store or disk, one room, never
a half-built one handed out (pycrdt-websocket 0.16.5 left clients hanging there).

A room comes back from the store with its lifetime, so reconnecting clients merge into the
same history. Only when the store has no history (new file, store lost) is it built from
the file on disk: a lifetime seeded from the file's text (`Room.seed`), the same one again
for the same text, so copies of it merge back and copies of another are stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

from codeforge.collab.access import Access
from codeforge.collab.disk import DiskError, DiskMirror, DiskWatcher, FileGone, NotText, read_text
from codeforge.collab.room import MARKER, Room
from codeforge.collab.store import RoomStore

__all__ = ["RoomHub", "RoomPathError", "check_room_name"]

log = logging.getLogger(__name__)

AWARENESS_TIMEOUT = 30.0  # seconds a peer's awareness state lives without renewal (y-protocols')
HIDDEN = (".git", ".codeforge")  # never shared: repository internals, the bridge's own state


class RoomPathError(ValueError):
    """The name is not a shareable file of the workspace; the text says why."""


def check_room_name(name: str) -> str:
    """`name` as the canonical room name (posix, relative, normalised) or RoomPathError."""
    if not name or "\x00" in name or "\\" in name:
        raise RoomPathError(f"{name!r} is not a file path (give a path relative to the workspace)")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise RoomPathError(f"{name} is absolute: give a path relative to the workspace")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise RoomPathError(f"{name!r} names the workspace, not a file")
    if ".." in parts:
        raise RoomPathError(f"{name} leaves the workspace (..)")
    if parts[0] in HIDDEN:
        raise RoomPathError(f"{name} is inside {parts[0]}/, which is not shared")
    return "/".join(parts)


class RoomHub:
    """See docs/collab.md, "Room API"."""

    def __init__(
        self,
        workspace: Path | None = None,
        store: RoomStore | None = None,
        *,
        idle_close: float = 60.0,
        watch: bool = True,
        autosave: bool = True,
    ) -> None:
        self.workspace = workspace.resolve() if workspace is not None else None
        self.store = store
        self.idle_close = idle_close
        self.rooms: dict[str, Room] = {}
        self.access = Access()  # who may edit, per session: the endpoint and language server share it
        self.mirrors: dict[str, DiskMirror] = {}
        self._opening: dict[str, asyncio.Task[Room]] = {}
        self._closing: dict[str, asyncio.Future[None]] = {}  # rooms saving before they close
        self._watch = watch
        self.autosave = autosave
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._watcher: DiskWatcher | None = None

    async def start(self) -> None:
        """Start the idle reaper and, for a workspace, the disk watcher."""
        self._spawn(self._reap())
        if self._watch and self.workspace is not None:
            self._watcher = DiskWatcher(self.workspace, self._on_disk_change)
            self._spawn(self._watcher.run())

    # -- rooms -------------------------------------------------------------------------------

    async def open(self, name: str) -> Room:
        """The room of `name` (a workspace-relative posix path), built once however many ask
        at the same time."""
        if self._closed:
            raise RuntimeError("the collaboration hub is closed")
        name = check_room_name(name)
        if (closing := self._closing.get(name)) is not None:
            await asyncio.shield(closing)  # a room on its way out: open the next one
        room = self.rooms.get(name)
        if room is not None and not room.closed:
            return room
        task = self._opening.get(name)
        if task is None:
            task = asyncio.create_task(self._build(name))
            self._opening[name] = task
            task.add_done_callback(lambda _: self._opening.pop(name, None))
        # shield: one caller giving up (its client left) must not cancel the others' room
        return await asyncio.shield(task)

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def path_of(self, name: str) -> Path:
        """The file behind room `name`; RoomPathError when it would leave the workspace."""
        if self.workspace is None:
            raise RoomPathError("this hub serves no workspace folder")
        path = self.workspace / check_room_name(name)
        resolved = path.resolve()
        if resolved != self.workspace and self.workspace not in resolved.parents:
            raise RoomPathError(f"{name} leads outside the workspace (a symbolic link)")
        return path

    async def _build(self, name: str) -> Room:
        room = Room(name)
        restored = False
        if self.store is not None:
            record = await self.store.load(name, room.doc)
            # A record whose marker never reached the file lost its beginning: rebuild.
            if record is not None and MARKER in set(room.doc.keys()):
                room.lifetime, room.root = record.lifetime, record.root
                restored = True
            elif record is not None:
                room = Room(name)
        if not restored:
            room.seed(self._seed_text(name))
        before = room.doc.get_state()
        if self.workspace is not None:
            # The file: a new room's content, or a restored room's changes while it was closed.
            mirror = DiskMirror(room, self.path_of(name), name=name)
            try:
                conflict = mirror.load()  # in the loop: pycrdt documents belong to one thread
            except NotText as exc:
                room.close()
                raise RoomPathError(str(exc)) from None
            if conflict is not None:
                room.conflicts.append(conflict)
            self.mirrors[name] = mirror
            room.on_resolve = mirror.resolve
        if self.store is not None:
            if not restored:  # the new lifetime replaces any old history, starting with this
                self.store.reset(name, room.lifetime, room.root)
                self.store.append(name, room.doc.get_update())
            elif (changes := room.doc.get_update(before)) != b"\x00\x00":
                self.store.append(name, changes)
            store, room_name = self.store, name
            room.on_update = lambda update: store.append(room_name, update)
        self.rooms[name] = room
        log.debug("room %s opened (%s, lifetime %s)", name, "store" if restored else "disk", room.lifetime)
        return room

    def _seed_text(self, name: str) -> str:
        """The file's text a new lifetime starts from ("" when there is none: the mirror then
        says what is wrong with it)."""
        if self.workspace is None:
            return ""
        try:
            return read_text(self.path_of(name), name)
        except DiskError:
            return ""

    async def close_room(self, name: str, reason: str = "the room closed") -> None:
        """Close a room: peers are told, its history written, its rows compacted. The room
        stays the hub's until it is closed (`get` never answers None for a room still
        saving); `open` meanwhile waits and then opens the next one."""
        room = self.rooms.get(name)
        if room is None:
            return
        if (closing := self._closing.get(name)) is not None:
            await asyncio.shield(closing)  # closed by another caller (the reaper, the bridge stopping)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing[name] = done
        try:
            mirror = self.mirrors.pop(name, None)
            if mirror is not None and self.autosave and mirror.dirty:
                # Yjs-only rooms have nobody to press save: their edits reach the file when the
                # room closes (a conflict or a failed save is logged; the store keeps the text).
                try:
                    if (conflict := await mirror.save()) is not None:
                        log.warning("room %s closed unsaved: conflict %s with the file", name, conflict.id)
                except DiskError as exc:
                    log.warning("room %s closed unsaved: %s", name, exc)
        finally:
            room.close(1001, reason)  # also when the save was cancelled (the bridge stopping)
            if self.rooms.get(name) is room:
                del self.rooms[name]
            del self._closing[name]
            done.set_result(None)
        if self.store is not None and await self.store.flush(timeout=5.0) and self.store.error is None:
            with contextlib.suppress(Exception):
                await self.store.compact(name)

    def _on_disk_change(self, relpath: str) -> None:
        mirror = self.mirrors.get(relpath)
        room = self.rooms.get(relpath)
        if mirror is None or room is None or room.closed:
            return
        try:
            conflict = mirror.on_disk_change()
        except FileGone:
            log.info("%s was deleted on disk; its room keeps the text", relpath)
            return
        except DiskError as exc:
            log.warning("%s changed on disk and was not merged: %s", relpath, exc)
            return
        if conflict is not None:
            room.conflicts.append(conflict)

    async def save(self, name: str) -> Any:
        """Write room `name`'s text to its file (DiskMirror.save): None, or the Conflict that
        stopped it. SaveError / FileGone when it could not be written."""
        mirror = self.mirrors.get(check_room_name(name))
        if mirror is None:
            raise KeyError(f"room {name} is not open")
        return await mirror.save()

    # -- presence and health -------------------------------------------------------------------

    def presence_of(self, username: str) -> tuple[str, dict[str, Any]] | None:
        """Where `username` was last seen (for follow mode): the room and its state."""
        best: tuple[float, str, dict[str, Any]] | None = None
        for room in self.rooms.values():
            owners = {client for peer in room.peers if peer.username == username for client in peer.clients}
            for client, state in room.presence.states.items():
                user = state.get("user")
                if client in owners or (isinstance(user, dict) and user.get("id") == username):
                    seen = room.presence.updated(client)
                    if best is None or seen > best[0]:
                        best = (seen, room.name, state)
        return (best[1], best[2]) if best else None

    def health(self) -> dict[str, Any]:
        store = self.store.health() if self.store is not None else {"pending_writes": 0, "store_error": None}
        return {**store, "rooms": len(self.rooms)}

    # -- lifetime ------------------------------------------------------------------------------

    async def _reap(self) -> None:
        interval = max(0.5, min(self.idle_close / 2, 10.0))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                room.presence.expire(now - AWARENESS_TIMEOUT)
            for name, room in list(self.rooms.items()):
                if room.idle and room.idle_since is not None and now - room.idle_since >= self.idle_close:
                    await self.close_room(name, "closed while idle")

    async def close(self, reason: str = "the bridge is stopping") -> None:
        """Close every room (peers get 1001 and reconnect to the next bridge), write the
        store and close it."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for opening in list(self._opening.values()):
            opening.cancel()
        for name in list(self.rooms):
            await self.close_room(name, reason)
        if self.store is not None:
            await self.store.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a collaboration task failed", exc_info=task.exception())
