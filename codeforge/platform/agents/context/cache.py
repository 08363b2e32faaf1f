"""The maps of the workspaces agents ran on, kept current by watchfiles between runs.

Mapping a 50,000-line workspace takes most of a second of CPU; a run starts instead from the
workspace's map kept up to date by a watcher (only the files that change are parsed again)
and copied onto the run's sandbox (`RepoMap.copy_to`). The cache holds a few workspaces, the
least recently used one leaving first with its watcher."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from .repomap import RepoMap, Watcher

__all__ = ["MapCache"]

log = logging.getLogger(__name__)

MAX_WORKSPACES = 8


class MapCache:
    def __init__(self, *, max_workspaces: int = MAX_WORKSPACES, debounce_ms: int = 200) -> None:
        self.max_workspaces = max_workspaces
        self.debounce_ms = debounce_ms
        self._maps: OrderedDict[Path, tuple[RepoMap, Watcher]] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0  # full builds made (a test and the benchmark read it)

    def workspace_map(self, workspace: Path) -> RepoMap:
        """The workspace's map, built and watched on first use."""
        root = Path(workspace).resolve()
        with self._lock:
            held = self._maps.get(root)
            if held is not None and held[1].alive:
                self._maps.move_to_end(root)
                return held[0]
        repo = RepoMap.build(root)  # outside the lock: another workspace's run need not wait
        watcher = repo.watch(debounce_ms=self.debounce_ms)
        with self._lock:
            self.builds += 1
            old = self._maps.pop(root, None)
            self._maps[root] = (repo, watcher)
            evicted = [self._maps.popitem(last=False)[1] for _ in range(len(self._maps) - self.max_workspaces)]
        for _, stale in [*evicted, *([old] if old else [])]:
            stale.stop()
        return repo

    def for_sandbox(self, workspace: Path, sandbox_root: Path) -> RepoMap:
        """A map of the sandbox's copy of `workspace`, from the workspace's own."""
        return self.workspace_map(workspace).copy_to(sandbox_root)

    def close(self) -> None:
        with self._lock:
            held = list(self._maps.values())
            self._maps.clear()
        for _, watcher in held:
            watcher.stop()
