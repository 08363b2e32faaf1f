"""Watching one side's tree with watchfiles, within the inotify budget, never missing a change.

Linux gives each user `fs.inotify.max_user_watches` watches, one per folder. A tree with more
folders than the budget (the configured `max_watches`, else half the system limit, leaving
room for editors and other tools) is watched in as many whole subtrees as fit; the folders
left over are named in a warning and rescanned every `rescan_seconds`. If watching fails
anyway (the limit is reached meanwhile), everything is rescanned periodically, and the user
is told. Changes are reported as relative paths; the sync compares them with what the other
side holds, so a path reported twice costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import watchfiles

from codeforge.bridge.sync.ignore import TEMP_PREFIX, Ignorer
from codeforge.bridge.sync.paths import STATE_DIR

__all__ = ["FLAT", "GONE", "INOTIFY_LIMIT_FILE", "TreeWatcher", "plan_watches", "watch_budget"]

log = logging.getLogger(__name__)

INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
# In a batch: FLAT + path is a path a rescan found (not to be expanded: the rescan walked what
# needs walking); GONE + folder asks to check whether something known in that folder vanished.
FLAT = "\0"
GONE = "\0\0"
# How long watchfiles waits for more changes before reporting (ms): low, for latency.
STEP_MS = 5
DEBOUNCE_MS = 200


def watch_budget(configured: int | None) -> tuple[int, str]:
    """How many folders may be watched, and where that number comes from (for messages)."""
    if configured is not None:
        return configured, f"max_watches: {configured} in .codeforge/sync.yaml"
    try:
        limit = int(INOTIFY_LIMIT_FILE.read_text().strip())
    except (OSError, ValueError):
        return 1 << 30, "no inotify limit found"
    return max(1, limit // 2), f"half of fs.inotify.max_user_watches={limit}"


def plan_watches(folders: list[str], budget: int) -> tuple[list[str], list[str]]:
    """(subtrees to watch recursively, folders left to rescan) for `folders` ("" the root).

    Whole subtrees are taken from the top while they fit; a subtree too big is split into
    its children and its own folder goes to the rescanned list."""
    children: dict[str, list[str]] = {}
    for folder in folders:
        if folder:
            parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
            children.setdefault(parent, []).append(folder)
    sizes: dict[str, int] = {}
    for folder in sorted(folders, key=lambda f: -f.count("/") if f else 1):
        sizes[folder] = 1 + sum(sizes.get(c, 1) for c in children.get(folder, []))
    watched: list[str] = []
    rescanned: list[str] = []
    left = budget
    todo = [""]
    while todo:
        folder = todo.pop(0)
        size = sizes.get(folder, 1)
        if size <= left:
            watched.append(folder)
            left -= size
        else:
            rescanned.append(folder)
            todo.extend(sorted(children.get(folder, [])))
    return watched, rescanned


class TreeWatcher:
    """Yields batches of changed relative paths (see the module's docstring)."""

    def __init__(
        self,
        root: Path,
        ignorer: Ignorer,
        *,
        max_watches: int | None,
        rescan_seconds: float,
        warn: Callable[[str, dict[str, object]], None],
    ) -> None:
        self.root = root
        self.ignorer = ignorer
        self.max_watches = max_watches
        self.rescan_seconds = rescan_seconds
        self.warn = warn
        self.queue: asyncio.Queue[set[str]] = asyncio.Queue()
        self.rescanned: list[str] = []
        self.watched: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._prefix = str(root) + os.sep

    def start(self, folders: list[str]) -> None:
        budget, source = watch_budget(self.max_watches)
        watched, rescanned = plan_watches(folders, budget)
        self.rescanned = rescanned
        self.watched = watched
        if rescanned:
            shown = ", ".join((f or ".") + "/" for f in rescanned[:10])
            more = f" and {len(rescanned) - 10} more" if len(rescanned) > 10 else ""
            self.warn(
                f"{self.root}: {len(folders)} folders exceed the watch budget of {budget} ({source}); "
                f"{len(rescanned)} folder(s) are not watched but rescanned every {self.rescan_seconds:g} s: "
                f"{shown}{more}. Raise fs.inotify.max_user_watches (sysctl) to watch them all.",
                {"unwatched": rescanned, "budget": budget},
            )
        if watched:
            self._tasks.append(asyncio.ensure_future(self._watch([self.root / w if w else self.root for w in watched])))
        else:
            self.ready.set()
        if rescanned:
            self._tasks.append(asyncio.ensure_future(self._rescan_loop(rescanned, recursive_roots=False)))

    def _filter(self, change: watchfiles.Change, path: str) -> bool:
        # Called for every event (thousands while a sync writes a tree): cheap checks only;
        # ignore rules are applied when the batch is compared (`Peer.current`).
        if not path.startswith(self._prefix):
            return False
        if path.endswith("/.gitignore"):
            rel = path[len(self._prefix) :]
            self.ignorer.forget(rel.rsplit("/", 1)[0] if "/" in rel else "")
        name = path.rsplit("/", 1)[-1]
        return not (name.startswith(TEMP_PREFIX) or "/.git/" in path or STATE_DIR in path)

    async def _watch(self, paths: list[Path]) -> None:
        try:
            watcher = watchfiles.awatch(
                *paths,
                watch_filter=self._filter,
                step=STEP_MS,
                debounce=DEBOUNCE_MS,
                stop_event=self._stop,
                yield_on_timeout=True,
                rust_timeout=100,  # also how soon `ready` is known once watching
                ignore_permission_denied=True,
            )
            async for changes in watcher:
                self.ready.set()
                rels = {p[len(self._prefix) :] for _, p in changes if p.startswith(self._prefix)}
                if rels:
                    self.queue.put_nowait(rels)
        except (OSError, RuntimeError) as exc:
            self.ready.set()
            self.warn(
                f"{self.root}: watching for changes failed ({exc}); the whole tree is rescanned every "
                f"{self.rescan_seconds:g} s instead. Raise fs.inotify.max_user_watches (sysctl) to watch it.",
                {"unwatched": [""], "error": str(exc)},
            )
            self.watched = []
            await self._rescan_loop([""], recursive_roots=True)

    async def _rescan_loop(self, folders: list[str], *, recursive_roots: bool) -> None:
        """Report every path in the unwatched folders every rescan period (see `FLAT`)."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.rescan_seconds)
            if self._stop.is_set():
                return
            found = await asyncio.to_thread(self._walk, folders, recursive_roots)
            self.queue.put_nowait(found)

    def _walk(self, folders: list[str], recursive: bool) -> set[str]:
        """Paths in `folders`, marked FLAT, with a GONE marker per folder; folders below them
        that no watch covers (new ones, or all when `recursive`) are walked too."""
        found: set[str] = set()
        todo = list(folders)
        covered = set(self.watched)
        while todo:
            folder = todo.pop()
            found.add(GONE + folder)
            try:
                listing = list(os.scandir(self.root / folder if folder else self.root))
            except OSError:
                continue
            for item in listing:
                rel = f"{folder}/{item.name}" if folder else item.name
                is_dir = item.is_dir(follow_symlinks=False)
                if self.ignorer.ignored(rel, is_dir):
                    continue
                found.add(FLAT + rel)
                if is_dir and (recursive or (rel not in covered and rel not in self.rescanned)):
                    todo.append(rel)
        return found

    async def changes(self) -> AsyncIterator[set[str]]:
        while True:
            batch = await self.queue.get()
            while not self.queue.empty():
                batch |= self.queue.get_nowait()
            yield batch

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
