"""Each side's own record: the last synced hash of every path, a hash cache, the settings.

The record lives in `.codeforge/sync-state/` inside the synced folder (never synced, and
ignored by git through a `.gitignore` of its own). The last synced hash per path is what
tells "changed here", "changed there" and "changed on both sides" (a conflict) apart when a
sync (re)starts. Partial large files wait in `partial/`, named by the hash they will have,
so a restarted sync continues them at their current length.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codeforge.bridge.sync.paths import STATE_DIR
from codeforge.bridge.sync.tree import Entry

__all__ = ["CONFIG_FILE", "PARTIAL_KEY", "SyncConfig", "SyncState", "load_config", "partial_key", "save_periodically"]

log = logging.getLogger(__name__)

CONFIG_FILE = ".codeforge/sync.yaml"
_HEX = re.compile(r"[0-9a-f]{32}")
PARTIAL_KEY = re.compile(r"[0-9a-f]{32}-[0-9a-f]{8}")


@dataclass
class SyncConfig:
    """`.codeforge/sync.yaml`: `ignore` (gitignore patterns), `max_watches` (folders to
    watch at most; the rest is rescanned every `rescan_seconds`), `fsync` (flush received
    files to the disk before they are renamed into place: durable across a power loss or a
    kernel crash, at a cost; a full disk never leaves a partial file either way)."""

    ignore: list[str] = field(default_factory=list)
    max_watches: int | None = None
    rescan_seconds: float = 5.0
    fsync: bool = False


def load_config(root: Path) -> tuple[SyncConfig, list[str]]:
    """The settings, and warnings naming what in the file was wrong (then ignored)."""
    path = root / CONFIG_FILE
    config = SyncConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config, []
    except (OSError, yaml.YAMLError) as exc:
        return config, [f"{CONFIG_FILE} cannot be read ({exc}); default sync settings are used"]
    if data is None:
        return config, []
    if not isinstance(data, dict):
        return config, [f"{CONFIG_FILE} must be a mapping (ignore:, max_watches:, rescan_seconds:, fsync:)"]
    warnings: list[str] = []
    ignore = data.get("ignore", [])
    if isinstance(ignore, list) and all(isinstance(p, str) for p in ignore):
        config.ignore = list(ignore)
    else:
        warnings.append(f"{CONFIG_FILE}: ignore must be a list of gitignore patterns")
    watches = data.get("max_watches")
    if watches is not None:
        if isinstance(watches, int) and watches >= 0:
            config.max_watches = watches
        else:
            warnings.append(f"{CONFIG_FILE}: max_watches must be a whole number of folders")
    rescan = data.get("rescan_seconds", config.rescan_seconds)
    if isinstance(rescan, int | float) and rescan > 0:
        config.rescan_seconds = float(rescan)
    else:
        warnings.append(f"{CONFIG_FILE}: rescan_seconds must be a positive number")
    fsync = data.get("fsync", config.fsync)
    if isinstance(fsync, bool):
        config.fsync = fsync
    else:
        warnings.append(f"{CONFIG_FILE}: fsync must be true or false")
    unknown = sorted(set(data) - {"ignore", "max_watches", "rescan_seconds", "fsync"})
    if unknown:
        warnings.append(f"{CONFIG_FILE}: unknown settings {', '.join(unknown)} are ignored")
    return config, warnings


def partial_key(digest: str, rel: str) -> str:
    """A partial large file's name: its content hash and its path's (two files with the same
    content may arrive at once; each resumes its own)."""
    return f"{digest}-{hashlib.blake2b(rel.encode('utf-8', 'surrogateescape'), digest_size=4).hexdigest()}"


class SyncState:
    """One side's record for one sync pair (`name`: the pair's id on the workspace side)."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.dir = root / STATE_DIR
        self.file = self.dir / f"{name}.json"
        self.partial_dir = self.dir / "partial"
        self.sync_id = ""
        self.base: dict[str, tuple[str, int]] = {}  # rel -> (hash, mode) last synced
        self.cache: dict[str, Entry] = {}  # rel -> entry with hash, for stat-unchanged files
        self.dirty = False

    def load(self) -> None:
        try:
            data: dict[str, Any] = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # A damaged record only costs conflict detection for one start: say so, go on.
            log.warning("sync record %s unreadable (%s); starting without it", self.file, exc)
            return
        self.sync_id = str(data.get("sync_id", ""))
        self.base = {str(k): (str(v[0]), int(v[1])) for k, v in data.get("base", {}).items()}
        for rel, (size, mtime_ns, ino, digest) in data.get("cache", {}).items():
            self.cache[rel] = Entry("f", 0, size, mtime_ns, ino, digest)

    def new_sync_id(self) -> str:
        if not self.sync_id:
            self.sync_id = secrets.token_hex(8)
            self.dirty = True
        return self.sync_id

    def snapshot(self) -> dict[str, Any]:
        """The record as data (taken on the event loop, which is the only one changing it)."""
        self.dirty = False
        # dict() copies at once under the GIL: reading threads may add to the cache meanwhile.
        base, cache = dict(self.base), dict(self.cache)
        return {
            "sync_id": self.sync_id,
            "base": {k: list(v) for k, v in base.items()},
            "cache": {k: [e.size, e.mtime_ns, e.ino, e.hash] for k, e in cache.items() if e.kind == "f" and e.hash},
        }

    def save(self) -> None:
        self.write(self.snapshot())

    def write(self, data: dict[str, Any]) -> None:
        """Write a snapshot (safe in a thread) atomically."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            marker = self.dir / ".gitignore"
            if not marker.exists():
                marker.write_text("*\n")
        except OSError as exc:
            log.warning("cannot save the sync record in %s (%s)", self.dir, exc)
            return
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(data, separators=(",", ":")))  # dumps: the C encoder, dump is not
            os.replace(tmp, self.file)
        except OSError as exc:
            log.warning("cannot save the sync record %s (%s)", self.file, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return

    def partials(self) -> dict[str, int]:
        """Partial large files: {partial_key: bytes already here}."""
        found: dict[str, int] = {}
        try:
            for item in os.scandir(self.partial_dir):
                if item.name.endswith(".part"):
                    found[item.name[: -len(".part")]] = item.stat().st_size
        except FileNotFoundError:
            pass
        return found

    def partial_path(self, digest: str, rel: str) -> Path:
        if not _HEX.fullmatch(digest):
            raise ValueError(f"not a content hash: {digest!r}")
        return self.partial_dir / f"{partial_key(digest, rel)}.part"


async def save_periodically(state: SyncState, every: float = 2.0) -> None:
    """Write the record every `every` seconds while it changed (until cancelled)."""
    while True:
        await asyncio.sleep(every)
        if state.dirty:
            try:
                await asyncio.to_thread(state.write, state.snapshot())
            except Exception:  # the next round tries again; the sync itself goes on
                log.exception("saving the sync record failed")
