"""The file on disk and the room's document, kept in step without losing anyone's text.

Other writers change workspace files all the time (git checkout, formatters, the terminal,
agents, file sync). JupyterLab's collaboration replaced the document with the file when that
happened and lost what people had typed, appended the file to a restored document
(duplicated content), and took its own saves for foreign changes. Here:

- the mirror remembers its *base*, the last text it read from or wrote to the file;
- a disk change is applied to the document as a minimal diff (`text.diff`), never a
  replace, so cursors, comment anchors and concurrent typing outside the change stay put;
- when the document also has unsaved edits, both changes are merged three-way (base, ours,
  theirs) by regions; only if they touch the same region is a `Conflict` raised for a
  person, and the document is left as it is;
- a save writes atomically and becomes the new base, so the watcher's echo compares equal;
- a document restored from the store (after a restart) is compared with the file through
  the hash of its base, recorded in the document itself (`codeforge:disk` map, key `base`):
  the store keeps it with the text, so the mirror knows whether the file or the document
  moved on while the room was closed.

Deleted and non-UTF-8 files raise `FileGone` / `NotText` (the document is never emptied or
filled with garbage); a failed save raises `SaveError` and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

import watchfiles
from pycrdt import Map, Text

from codeforge.collab.text import Edit, apply, apply_to_ytext, diff

__all__ = [
    "DISK_ORIGIN",
    "Conflict",
    "DiskError",
    "DiskMirror",
    "DiskWatcher",
    "FileGone",
    "NotText",
    "SaveError",
    "merge",
]

log = logging.getLogger(__name__)

# Texts of the last bases kept for `sync_conflict` (by count and in all).
BASES_KEPT = 8
BASES_BYTES = 16 * 1024 * 1024
# The origin of the document changes the mirror makes (room observers see it).
DISK_ORIGIN = "disk"
RECORD = "codeforge:disk"
TEMP_PREFIX = ".cfcollab-"
# File sync's temporary files (codeforge/bridge/sync/ignore.py TEMP_PREFIX; not imported:
# collab must not depend on the bridge). Their rename onto the real name is what we react to.
FOREIGN_TEMP_PREFIXES = (TEMP_PREFIX, ".cfsync-")


class DiskError(Exception):
    """A file the mirror cannot take into, or write from, the document. The message says why."""


class FileGone(DiskError):
    """The file was deleted (or is no longer a file). The document is kept as it is."""


class NotText(DiskError):
    """The file is binary or not UTF-8: it is not merged into the document."""


class SaveError(DiskError):
    """The document could not be written; the file and the document are unchanged."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


class MirrorRoom(Protocol):
    """What the mirror needs of a room (docs/collab.md, Room API)."""

    @property
    def text(self) -> Text: ...

    def local(self, origin: Any) -> AbstractContextManager[Text]: ...


@dataclass(frozen=True)
class Conflict:
    """A disk change that overlaps unsaved edits. `base`: the text both started from ("" when
    unknown: a restored document with unsaved edits whose file changed meanwhile).

    `origin` "sync": file sync found the file changed on both machines since they were last
    in step (`DiskMirror.sync_conflict`); `theirs` is the other machine's version, which sync
    puts at the file's name, and `copy` the workspace-relative name sync keeps the
    workspace's own file under (`copy_digest`: that file's content hash then)."""

    id: str
    path: str
    base: str
    ours: str
    theirs: str
    origin: Literal["disk", "sync"] = "disk"
    copy: str = ""
    copy_digest: str = ""

    def choose(self, choice: Literal["ours", "theirs", "both"]) -> str:
        """The text for a resolution choice; "both" keeps both sides of each clashing region
        (ours first) and every change that did not clash."""
        if choice == "ours":
            return self.ours
        if choice == "theirs":
            return self.theirs
        if choice == "both":
            return _both(self.base, self.ours, self.theirs)
        raise ValueError(f"unknown conflict choice {choice!r}: expected ours, theirs or both")


def _delta(edit: Edit) -> int:
    return len(edit.text.encode()) - (edit.end - edit.start)


def merge(base: str, ours: str, theirs: str) -> list[Edit] | None:
    """The edits that bring theirs' changes (base -> theirs) into `ours` (byte offsets of
    `ours`), or None when a change of theirs overlaps or touches one of ours. Regions are
    characters, not lines: a formatter's change to a line someone types in elsewhere merges.
    Touching counts as a clash ("5" made "five" here, "50" there must not become "five0");
    identical changes on both sides count once."""
    mine, their = diff(base, ours), diff(base, theirs)
    out: list[Edit] = []
    shift = at = 0
    for t in their:
        while at < len(mine):
            m = mine[at]
            if m.end < t.start:
                shift += _delta(m)
                at += 1
                continue
            break
        if at < len(mine):
            m = mine[at]
            if m == t:  # both made this very change
                shift += _delta(m)
                at += 1
                continue
            if m.start <= t.end and t.start <= m.end:
                return None
        out.append(Edit(t.start + shift, t.end + shift, t.text))
    return out


def _both(base: str, ours: str, theirs: str) -> str:
    """Every change of both sides; a region both changed differently appears twice (ours, theirs)."""
    raw = base.encode()
    tagged = sorted([(e, 0) for e in diff(base, ours)] + [(e, 1) for e in diff(base, theirs)], key=lambda p: p[0].start)
    pieces: list[str] = []
    at = 0
    k = 0
    while k < len(tagged):
        start, end = tagged[k][0].start, tagged[k][0].end
        group = [tagged[k]]
        k += 1
        while k < len(tagged) and tagged[k][0].start <= end:  # overlapping or touching: one region
            end = max(end, tagged[k][0].end)
            group.append(tagged[k])
            k += 1
        region = raw[start:end].decode()
        sides = []
        for side in (0, 1):
            edits = [Edit(e.start - start, e.end - start, e.text) for e, s in group if s == side]
            if edits:
                sides.append(apply(region, edits))
        pieces.append(raw[at:start].decode())
        pieces.append(sides[0] if len(sides) == 1 or sides[0] == sides[1] else sides[0] + sides[1])
        at = end
    pieces.append(raw[at:].decode())
    return "".join(pieces)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def read_text(path: Path, name: str) -> str:
    """The file's text, or FileGone / NotText / DiskError naming what is wrong."""
    try:
        data = _read_settled(path, name)
    except (FileNotFoundError, NotADirectoryError):
        raise FileGone(f"{name} was deleted on disk") from None
    except IsADirectoryError:
        raise FileGone(f"{name} is no longer a regular file on disk") from None
    except OSError as e:
        raise DiskError(f"cannot read {name}: {e.strerror}") from e
    nul = data.find(b"\0")
    if nul >= 0:
        raise NotText(f"{name} is binary (a NUL byte at offset {nul}): it is not shared as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotText(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): it is not shared as text"
        ) from None


def _read_settled(path: Path, name: str) -> bytes:
    """The file's bytes, read again while another program is still writing it (its size or
    mtime moved during the read), so a half-written file is not merged as an edit."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: a FIFO would block the open
        raise FileGone(f"{name} is no longer a regular file on disk")
    with open(path, "rb") as f:
        for _ in range(5):
            before = os.fstat(f.fileno())
            f.seek(0)
            data = f.read()
            after = os.fstat(f.fileno())
            settled = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
            if settled and len(data) == after.st_size:
                return data
            time.sleep(0.005)
    return data


def _write_atomic(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Write beside the file, flush, rename over it: readers see the old or the new file, never
    a half-written one, and a full disk leaves the old file whole."""
    tmp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            if owner is not None:
                with contextlib.suppress(PermissionError):  # only root may; a user keeps their own
                    os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable; not all filesystems allow it
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class DiskMirror:
    """One room's file. `load()` when the room opens, `on_disk_change()` when the watcher
    reports the path, `await save()` to write, `resolve()` for a conflict's chosen text."""

    def __init__(self, room: MirrorRoom, path: Path | str, *, name: str | None = None) -> None:
        self.room = room
        self.path = Path(path)
        # Conflicts name the room (the workspace-relative path editors know), not the absolute path.
        self.name = name if name is not None else str(getattr(room, "name", self.path.name))
        self.base: str | None = None  # None: never read or written (a new file)
        self.on_disk = False
        self.conflicts: dict[str, Conflict] = {}
        # The last bases by their hash (file sync's hash too: BLAKE2b-128 of the bytes), so a
        # sync conflict can name the version both machines last had (`sync_conflict`).
        self._bases: dict[str, str] = {}
        self._lock = asyncio.Lock()

    # -- the document --------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """The document holds edits the file does not."""
        return str(self.room.text) != (self.base or "")

    def _record(self, text: Text) -> Map[Any]:
        return text.doc.get(RECORD, type=Map)

    def _set_base(self, base: str, edits: list[Edit] | None = None) -> None:
        """Apply `edits` (against the document now) and record the new base, in one transaction."""
        self.base = base
        digest = _digest(base)
        self._remember(digest, base)
        with self.room.local(DISK_ORIGIN) as text:
            if edits:
                apply_to_ytext(text, edits)
            record = self._record(text)
            if record.get("base") != digest:
                record["base"] = digest

    def _remember(self, digest: str, text: str) -> None:
        """Keep `text` among the last bases (at most BASES_KEPT, BASES_BYTES in all)."""
        self._bases.pop(digest, None)
        self._bases[digest] = text
        size = sum(len(t) for t in self._bases.values())
        while len(self._bases) > 1 and (len(self._bases) > BASES_KEPT or size > BASES_BYTES):
            oldest = next(iter(self._bases))
            size -= len(self._bases.pop(oldest))

    # -- reading -------------------------------------------------------------------------

    def load(self) -> Conflict | None:
        """Bring a just-opened room in step with the file. An empty, never-mirrored document
        is filled from it; a document restored from the store takes the file's change as a
        diff when it had no unsaved edits, keeps its edits when the file did not change, and
        returns a Conflict when both moved on. A missing file is a new one (`on_disk` False),
        unless the document was mirrored before: then it was deleted while the room was
        closed, and `save()` will not quietly bring it back."""
        ours = str(self.room.text)
        recorded = self._record(self.room.text).get("base")
        try:
            theirs = read_text(self.path, self.name)
        except FileGone:
            self.on_disk = False
            if recorded is not None:
                self.base = ours if recorded == _digest(ours) else ""
            return None
        self.on_disk = True
        if ours == theirs:
            self._set_base(theirs)
            return None
        if recorded is None and not ours:  # a fresh room: the file is the content, once
            self._set_base(theirs, diff(ours, theirs))
            return None
        if recorded == _digest(ours):  # nothing unsaved: the file's change, as a diff
            self._set_base(theirs, diff(ours, theirs))
            return None
        if recorded == _digest(theirs):  # the file did not change: the unsaved edits stay
            self._set_base(theirs)
            return None
        # Unsaved edits and a changed file (or a document the mirror never recorded): the base
        # is unknown, so a person decides; the document stays as it is.
        return self._conflict("", ours, theirs)

    def on_disk_change(self) -> Conflict | None:
        """The watcher saw the file change: merge it in (see the module). Returns a Conflict
        when it overlaps unsaved edits; raises FileGone once when the file disappears, and
        NotText when it is no longer text. The document is never replaced or emptied."""
        try:
            theirs = read_text(self.path, self.name)
        except FileGone:
            if not self.on_disk:
                return None  # already reported, or never existed
            self.on_disk = False
            raise
        self.on_disk = True
        if any(c.theirs == theirs for c in self.conflicts.values()):
            return None  # already waiting for a person
        # Any open conflict was about a file content that is gone now: it is moot.
        self._drop_conflicts()
        if theirs == self.base:  # our own save's echo, or a touch
            return None
        ours = str(self.room.text)
        # A file that did not exist when the room opened started empty: typing into the new
        # document and another writer creating the file meanwhile is a conflict, not a replace.
        base = self.base if self.base is not None else ""
        if ours == theirs:
            self._set_base(theirs)
            return None
        if ours == base:
            self._set_base(theirs, diff(ours, theirs))
            return None
        edits = merge(base, ours, theirs)
        if edits is None:
            return self._conflict(base, ours, theirs)
        self._set_base(theirs, edits)
        return None

    def sync_conflict(self, theirs: str, *, base_digest: str | None, copy: str) -> Conflict | None:
        """File sync is about to put `theirs`, another machine's version, at this file, which
        changed on both machines since they were last in step (the last synced content had
        hash `base_digest`); the workspace's own file goes to `copy`. Called before the file
        changes, so the disk change that follows is known (`on_disk_change` leaves it to the
        person) instead of being merged against a base the other machine never had. Returns
        the Conflict (base: the last synced text when this mirror had it as a base, else "");
        None when the document holds `theirs` already (nothing to choose)."""
        ours = str(self.room.text)
        if ours == theirs:
            return None
        self._drop_conflicts()  # about a file content that is going away
        base = self._bases.get(base_digest, "") if base_digest else ""
        try:
            on_disk = _digest(read_text(self.path, self.name))
        except DiskError:
            on_disk = ""
        conflict = Conflict(uuid.uuid4().hex, self.name, base, ours, theirs, "sync", copy, on_disk)
        self.conflicts[conflict.id] = conflict
        log.info("conflict %s on %s: changed on both sides of file sync", conflict.id, self.name)
        return conflict

    def drop_copy(self, conflict: Conflict) -> bool:
        """Delete the copy file sync kept of the workspace's version of a resolved sync
        conflict, when it still holds what it was made with (the person saw it as part of
        ours and chose); file sync then deletes it on the other machine too."""
        if conflict.origin != "sync" or not conflict.copy or not conflict.copy_digest:
            return False
        copy = self.path.parent / PurePosixPath(conflict.copy).name
        try:
            if _digest(read_text(copy, conflict.copy)) != conflict.copy_digest:
                return False
            copy.unlink()
        except (DiskError, OSError):
            return False
        return True

    def _drop_conflicts(self) -> None:
        if not self.conflicts:
            return
        listed = getattr(self.room, "conflicts", None)
        for conflict in self.conflicts.values():
            log.info("conflict %s on %s is moot: the file changed again", conflict.id, self.name)
            if isinstance(listed, list) and conflict in listed:
                listed.remove(conflict)
        self.conflicts.clear()

    def _conflict(self, base: str, ours: str, theirs: str) -> Conflict:
        conflict = Conflict(uuid.uuid4().hex, self.name, base, ours, theirs)
        self.conflicts[conflict.id] = conflict
        log.info("conflict %s on %s: a disk change overlaps unsaved edits", conflict.id, self.name)
        return conflict

    def resolve(self, conflict_id: str, chosen: str) -> None:
        """Put a conflict's chosen text into the document, as a diff. Edits typed since the
        conflict was raised are kept where they do not clash with the choice. The file is not
        written: the chosen text is unsaved until `save()`."""
        conflict = self.conflicts.pop(conflict_id, None)
        if conflict is None:
            raise ValueError(f"no open conflict {conflict_id!r} on {self.name} (already resolved?)")
        now = str(self.room.text)
        edits = merge(conflict.ours, now, chosen)
        if edits is None:
            edits = diff(now, chosen)
        # The person saw the file as `theirs`: that is now what the document is compared with.
        self._set_base(conflict.theirs, edits)

    # -- writing -------------------------------------------------------------------------

    async def save(self, *, recreate: bool = False) -> Conflict | None:
        """Write the document's text atomically (temp file beside it, fsync, rename; mode and
        owner kept). A disk change not yet seen is merged first; if it conflicts, nothing is
        written and the Conflict is returned (also while one is open). A file deleted on disk
        is not brought back unless `recreate`. Raises SaveError (nothing changed) on failure."""
        async with self._lock:
            try:
                conflict = self.on_disk_change()
            except FileGone:
                conflict = None
            if not os.path.lexists(self.path) and self.base is not None and not recreate:
                # Deleted by someone (git checkout of another branch, rm): an autosave must
                # not quietly bring it back.
                raise FileGone(f"{self.name} was deleted on disk: not saved (save with recreate to write it again)")
            if conflict is None and self.conflicts:
                conflict = next(iter(self.conflicts.values()))
            if conflict is not None:
                return conflict
            snapshot = str(self.room.text)
            target = Path(os.path.realpath(self.path))  # through a symlink, not over it
            mode, owner = 0o666 & ~_umask(), None
            try:
                st = os.stat(target)
                mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise SaveError(f"cannot save {self.name}: {e.strerror}", e.errno) from e
            refused = _refusal(target, mode) if owner is not None else None
            if refused is not None:
                raise SaveError(f"cannot save {self.name}: {refused[1]}", refused[0])
            try:
                await asyncio.to_thread(_write_atomic, target, snapshot.encode(), mode, owner)
            except OSError as e:
                reason = "no space left on the device" if e.errno == errno.ENOSPC else e.strerror
                raise SaveError(f"cannot save {self.name}: {reason}", e.errno) from e
            self.on_disk = True
            # Edits made while writing stay in the document, unsaved (dirty) until the next save.
            self._set_base(snapshot)
            return None


def _refusal(target: Path, mode: int) -> tuple[int, str] | None:
    """Why an existing file must not be replaced, or None. The rename would succeed in a
    writable folder even over a read-only file: that protection is kept by asking first."""
    with contextlib.suppress(OSError):
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return errno.EROFS, "the file system is read-only"
    if mode & 0o222 == 0:
        return errno.EACCES, f"the file is read-only (mode {mode:04o})"
    if not os.access(target, os.W_OK):
        return errno.EACCES, "permission denied (the file is not writable by the bridge's user)"
    return None


def _umask() -> int:
    """The process umask, for the mode of a new file. Read from /proc: os.umask can only be
    read by setting it, which would race other threads creating files."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


class DiskWatcher:
    """One watcher per hub over the whole workspace. Calls `on_change(relative posix path)`
    for every changed, created or deleted file, once per batch of changes (watchfiles groups
    a burst: a formatter's write-and-rename is one call). `.git/` and `.codeforge/` and
    temporary files of saves and file sync are not reported. When the system refuses more
    inotify watches (a huge tree, or file sync holding the budget), it polls instead."""

    def __init__(
        self,
        workspace: Path | str,
        on_change: Callable[[str], None],
        *,
        step_ms: int = 50,
        debounce_ms: int = 400,
        polling: bool = False,
        poll_ms: int = 500,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.on_change = on_change
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.polling = polling
        self.poll_ms = poll_ms
        self._stop = asyncio.Event()

    def relative(self, path: str) -> str | None:
        """The reported path relative to the workspace, or None when it is not for rooms."""
        try:
            rel = Path(path).relative_to(self.workspace).as_posix()
        except ValueError:
            return None
        parts = rel.split("/")
        if rel == "." or ".git" in parts or parts[0] == ".codeforge":
            return None
        if parts[-1].startswith(FOREIGN_TEMP_PREFIXES):
            return None
        return rel

    def _filter(self, change: watchfiles.Change, path: str) -> bool:
        # Folders are not rooms (polling reports a folder whose entries changed).
        return self.relative(path) is not None and not os.path.isdir(path)

    async def run(self) -> None:
        """Watch until `stop()`. A failing callback is logged; the watcher carries on."""
        while not self._stop.is_set():
            try:
                await self._watch()
                return
            except FileNotFoundError:
                raise  # no workspace: nothing to fall back to
            except OSError as exc:
                if self.polling:
                    raise
                # inotify's per-user watch limit (ENOSPC) or instance limit (EMFILE): a poll
                # every poll_ms still sees every other writer, a little later.
                log.warning("watching %s failed (%s): polling every %d ms instead", self.workspace, exc, self.poll_ms)
                self.polling = True

    async def _watch(self) -> None:
        async for changes in watchfiles.awatch(
            self.workspace,
            watch_filter=self._filter,
            step=self.step_ms,
            debounce=self.debounce_ms,
            stop_event=self._stop,
            ignore_permission_denied=True,
            force_polling=self.polling,
            poll_delay_ms=self.poll_ms,
        ):
            for rel in sorted({r for _, p in changes if (r := self.relative(p)) is not None}):
                try:
                    self.on_change(rel)
                except Exception:
                    log.exception("handling a disk change of %s failed", rel)

    def stop(self) -> None:
        self._stop.set()
