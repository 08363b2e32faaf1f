"""The disk mirror against real files, real rooms (pycrdt), real clients speaking the room's
protocol and a real watcher (watchfiles). Each JupyterLab real-time-collaboration bug that
lost or duplicated text is reproduced as a scenario here; the issue is named in each test."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Assoc, Text

from codeforge.collab import comments
from codeforge.collab.disk import (
    DISK_ORIGIN,
    Conflict,
    DiskMirror,
    DiskWatcher,
    FileGone,
    NotText,
    SaveError,
    merge,
)
from codeforge.collab.room import Room
from codeforge.collab.rooms import RoomHub
from codeforge.collab.store import RoomStore
from codeforge.collab.text import Edit, apply, to_offset
from tests.collab.disk_helpers import RoomClient, settle, watching
from tests.conftest import require

LINES = "".join(f"line {i}: value = {i}\n" for i in range(40))


def opened(path: Path, name: str = "notes.txt") -> tuple[Room, DiskMirror]:
    room = Room(name)
    mirror = DiskMirror(room, path)
    assert mirror.load() is None
    return room, mirror


def restarted(room: Room) -> Room:
    """The room as the store brings it back after a restart: the same history, a new object."""
    again = Room(room.name, lifetime=room.lifetime)
    again.doc.apply_update(room.doc.get_update())
    return again


def deltas_of(room: Room) -> list[list[dict[str, Any]]]:
    seen: list[list[dict[str, Any]]] = []
    room.observe(lambda _room, event, origin: seen.append(event.delta) if origin == DISK_ORIGIN else None)
    return seen


def type_at(text: Text, offset: int, chars: str) -> None:
    text.insert(offset, chars)


# -- loading: never duplicated ------------------------------------------------------------


def test_a_fresh_room_is_filled_from_the_file_once(tmp_path: Path) -> None:
    """jupyter-collaboration #594 / jupyterlab #12996: the file loaded into a document that
    already had it, and the content appeared twice."""
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    assert str(room.text) == LINES
    assert mirror.load() is None  # opened again: nothing appended
    assert str(room.text) == LINES
    again = restarted(room)  # a restart restores the room from the store, then loads
    assert DiskMirror(again, path).load() is None
    assert str(again.text) == LINES
    # An empty document that was mirrored before (the user deleted everything, unsaved) is
    # not refilled from the file either: that is an unsaved edit.
    with room.local("lsp") as text:
        del text[0 : len(text)]
    emptied = restarted(room)
    assert DiskMirror(emptied, path).load() is None
    assert str(emptied.text) == ""


def test_a_file_changed_while_the_room_was_closed_arrives_as_a_diff(tmp_path: Path) -> None:
    """jupyter-collaboration #163: a file modified while JupyterLab was down was overwritten
    by the stored document. Here the file's change is merged into the restored document."""
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, _ = opened(path)
    anchor = comments.anchor(room.text, to_offset(LINES, 30, 0))
    path.write_text(LINES.replace("value = 3\n", "value = 33\n"))
    again = restarted(room)
    seen = deltas_of(again)
    assert DiskMirror(again, path).load() is None
    assert str(again.text) == path.read_text()
    assert seen == [[{"retain": to_offset(LINES, 3, 0) + len("line 3: value = 3")}, {"insert": "3"}]]
    assert comments.resolve(again.text, anchor) == to_offset(path.read_text(), 30, 0)


def test_unsaved_edits_survive_a_restart_when_the_file_did_not_change(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, _ = opened(path)
    with room.local("lsp") as text:
        type_at(text, 0, "# typed, not saved\n")
    again = restarted(room)
    mirror = DiskMirror(again, path)
    assert mirror.load() is None
    assert str(again.text) == "# typed, not saved\n" + LINES
    assert mirror.dirty and path.read_text() == LINES


def test_unsaved_edits_and_a_changed_file_after_a_restart_are_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, _ = opened(path)
    with room.local("lsp") as text:
        type_at(text, 0, "# ours\n")
    path.write_text("# theirs\n" + LINES)
    again = restarted(room)
    mirror = DiskMirror(again, path)
    conflict = mirror.load()
    assert isinstance(conflict, Conflict)
    assert (conflict.path, conflict.ours, conflict.theirs) == ("notes.txt", "# ours\n" + LINES, "# theirs\n" + LINES)
    assert str(again.text) == "# ours\n" + LINES  # left as it was for a person to decide


# -- disk changes while people type -----------------------------------------------------------


async def test_an_external_write_while_three_clients_type_loses_nothing(tmp_path: Path) -> None:
    """jupytext #1648 (and jupyter-collaboration's 'Out-of-band changes. Overwriting the
    content in room'): a file rewritten by another program replaced the live document and
    everything typed since the last save was lost. Three clients type concurrently through
    the room while another program rewrites the file; the real watcher reports it."""
    # Multi-byte text everywhere, so byte offsets (pycrdt), characters and UTF-16 all differ.
    initial = "".join(f"line {i}: 中文 value = {i} 😀\n" for i in range(40))
    path = tmp_path / "notes.txt"
    path.write_text(initial)
    room, mirror = opened(path)
    clients = [RoomClient(room, f"user{i}") for i in range(3)]
    await settle(clients)
    assert all(str(c.text) == initial for c in clients)
    results: list[Conflict | None] = []
    merged = asyncio.Event()

    def on_change(rel: str) -> None:
        if rel == "notes.txt":
            results.append(mirror.on_disk_change())
            merged.set()

    rng = random.Random(11)
    typed: list[str] = []
    async with watching(tmp_path, on_change):
        for round_ in range(40):
            for n, client in enumerate(clients):
                token = f"<{n}é{round_}👍>"
                current = str(client.text)
                line = rng.randrange(40)  # a line start: tokens never split each other
                with client.doc.transaction():
                    type_at(client.text, to_offset(current, line, 0), token)
                typed.append(token)
                if rng.random() < 0.5:
                    await client.pump()
            if round_ == 15:
                # Another program (a formatter, an agent) rewrites the file in place.
                on_disk = path.read_text()
                path.write_text(on_disk.replace("value = 7 😀\n", "value = 7̂00 😀\n") + "# appended by a tool 🛠\n")
            await asyncio.sleep(0.01)  # let the watcher's report in between keystrokes
        await asyncio.wait_for(merged.wait(), 30)
        await settle(clients)
        final = str(room.text)
        assert all(str(c.text) == final for c in clients)
        for token in typed:
            assert final.count(token) == 1, token
        assert "value = 7̂00 😀\n" in final and final.count("# appended by a tool 🛠\n") == 1
        assert results and all(r is None for r in results)  # merged, no conflict needed
        assert mirror.dirty  # the typing is not on disk yet
        # The save, and its echo through the watcher, change nothing in the document.
        merged.clear()
        assert await mirror.save() is None
        assert path.read_text() == final
        await asyncio.wait_for(merged.wait(), 30)
        assert str(room.text) == final and not mirror.dirty
        assert results[-1] is None


def test_a_formatter_rewrite_is_a_diff_not_a_replace(tmp_path: Path) -> None:
    """A formatter rewriting the whole file (jupyterlab_code_formatter #291, cursors jumping
    to the top): the document takes only what changed, so a cursor and a comment stay."""
    source = "".join(f"def f{i}( a,b ):\n    return a+b  # f{i}\n\n" for i in range(50))
    formatted = "".join(f"def f{i}(a, b):\n    return a + b  # f{i}\n\n" for i in range(50))
    path = tmp_path / "mod.py"
    path.write_text(source)
    room, mirror = opened(path, "mod.py")
    cursor_at = source.index("# f25")
    cursor = room.text.sticky_index(cursor_at, Assoc.AFTER)
    anchor = comments.anchor(room.text, source.index("# f40"))
    seen = deltas_of(room)
    path.write_text(formatted)
    assert mirror.on_disk_change() is None
    assert str(room.text) == formatted
    assert formatted[cursor.get_index() :].startswith("# f25")
    assert formatted[comments.resolve(room.text, anchor) or 0 :].startswith("# f40")
    deleted = sum(op.get("delete", 0) for op in seen[0])
    assert deleted <= 4 * 50  # a few spaces per function, not the whole file


async def test_a_change_overlapping_unsaved_edits_is_a_conflict_and_the_document_stays(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    five = to_offset(LINES, 5, len("line 5: value = "))
    with room.local("lsp") as text:  # ours: line 5's value edited, not saved
        del text[five : five + 1]
        text.insert(five, "five")
    ours = str(room.text)
    theirs = LINES.replace("line 5: value = 5", "line 5: value = 50").replace("line 30:", "line thirty:")
    path.write_text(theirs)
    conflict = mirror.on_disk_change()
    assert isinstance(conflict, Conflict)
    assert (conflict.base, conflict.ours, conflict.theirs) == (LINES, ours, theirs)
    assert str(room.text) == ours
    assert mirror.on_disk_change() is None  # the same disk content again: already reported
    assert await mirror.save() == conflict  # nothing written while it is open
    assert path.read_text() == theirs
    # Someone types elsewhere while the conflict waits; the resolution keeps it.
    with room.local("lsp") as text:
        text.insert(len(text), "# later\n")
    both = conflict.choose("both")
    assert "line 5: value = five50\n" in both and "line thirty:" in both
    room.conflicts.append(conflict)  # what RoomHub does with a returned conflict
    room.on_resolve = mirror.resolve
    room.resolve(conflict.id, both)
    assert str(room.text) == both + "# later\n"
    assert mirror.conflicts == {} and room.conflicts == []
    assert mirror.dirty
    assert await mirror.save() is None
    assert path.read_text() == both + "# later\n"
    with pytest.raises(ValueError, match="no open conflict"):
        mirror.resolve(conflict.id, "x")
    with pytest.raises(ValueError, match="unknown conflict choice"):
        conflict.choose("mine")  # type: ignore[arg-type]


async def test_a_conflict_whose_file_content_is_gone_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    with room.local("lsp") as text:
        text.insert(0, "# ours\n")
    path.write_text("# theirs\n" + LINES)
    conflict = mirror.on_disk_change()
    assert conflict is not None
    room.conflicts.append(conflict)  # as RoomHub does
    path.write_text(LINES)  # the other program reverted its change
    assert mirror.on_disk_change() is None
    assert mirror.conflicts == {} and room.conflicts == []
    assert await mirror.save() is None  # saving is no longer held up
    assert path.read_text() == "# ours\n" + LINES


def test_merge_by_regions() -> None:
    base = "alpha\nbeta\ngamma\n"
    # Separate regions merge; ours first where both insert at one point with the same text.
    edits = merge(base, "ALPHA\nbeta\ngamma\n", "alpha\nbeta\nGAMMA\n")
    assert edits is not None and apply("ALPHA\nbeta\ngamma\n", edits) == "ALPHA\nbeta\nGAMMA\n"
    assert merge(base, base + "x", base + "x") == []  # the same change on both sides, once
    assert merge(base, base + "x", base + "y") is None  # two different inserts at one point
    assert merge(base, "alpha\nBETA\ngamma\n", "alpha\nbetamax\ngamma\n") is None
    # Touching is a clash too: ours replaced "beta", theirs inserted right after it.
    assert merge(base, "alpha\nBETA\ngamma\n", "alpha\nbeta!\ngamma\n") is None
    # Same line, apart: merged (regions are characters, not lines).
    edits = merge(base, "alpha\nbeta\ngamma\n# x\n", "alpha\nBeta\ngamma\n")
    assert edits == [Edit(6, 7, "B")]
    # Offsets are bytes of ours: a multi-byte insert before theirs' change shifts it.
    edits = merge(base, "😀alpha\nbeta\ngamma\n", "alpha\nbeta\ngamma!\n")
    assert edits == [Edit(len("😀alpha\nbeta\ngamma".encode()), len("😀alpha\nbeta\ngamma".encode()), "!")]


# -- saving -------------------------------------------------------------------------------------


async def test_a_save_racing_an_edit_keeps_the_edit(tmp_path: Path) -> None:
    """jupyterlab #12996 / #11662 (documents emptied or duplicated around saves) and
    jupytext #1447 (our own save taken for a foreign change): an edit made while the file is
    being written stays in the document, the echo of the save is a no-op, the next save
    writes the edit."""
    path = tmp_path / "big.txt"
    path.write_text(LINES * 2000)
    room, mirror = opened(path, "big.txt")
    with room.local("lsp") as text:
        type_at(text, 0, "first ")
    saving = asyncio.create_task(mirror.save())
    await asyncio.sleep(0)  # the save took its snapshot and is writing in its thread
    with room.local("lsp") as text:
        type_at(text, 0, "second ")
    assert await saving is None
    assert path.read_text() == "first " + LINES * 2000
    assert str(room.text) == "second first " + LINES * 2000
    assert mirror.on_disk_change() is None  # the watcher's echo of our own write
    assert str(room.text) == "second first " + LINES * 2000 and mirror.dirty
    assert await mirror.save() is None
    assert path.read_text() == "second first " + LINES * 2000 and not mirror.dirty
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cfcollab-")]


async def test_a_save_merges_a_change_the_watcher_has_not_reported_yet(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    with room.local("lsp") as text:
        type_at(text, 0, "# ours\n")
    path.write_text(LINES + "# theirs\n")  # no on_disk_change: the save must not overwrite it
    assert await mirror.save() is None
    assert path.read_text() == "# ours\n" + LINES + "# theirs\n" == str(room.text)


async def test_save_keeps_the_mode_and_a_symbolic_link(tmp_path: Path) -> None:
    real = tmp_path / "real.sh"
    real.write_text("echo hi\n")
    real.chmod(0o750)
    link = tmp_path / "link.sh"
    link.symlink_to("real.sh")
    room, mirror = opened(link, "link.sh")
    with room.local("lsp") as text:
        text.insert(len(text), "echo bye\n")
    assert await mirror.save() is None
    assert link.is_symlink() and os.readlink(link) == "real.sh"
    assert real.read_text() == "echo hi\necho bye\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o750


async def test_a_new_file_is_created_and_a_racing_creation_is_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    room, mirror = opened(path, "new.txt")
    assert not mirror.on_disk and str(room.text) == ""
    with room.local("lsp") as text:
        text.insert(0, "ours\n")
    path.write_text("theirs\n")  # someone else created it meanwhile
    conflict = mirror.on_disk_change()
    assert isinstance(conflict, Conflict) and conflict.base == "" and str(room.text) == "ours\n"
    other = tmp_path / "other.txt"
    room2, mirror2 = opened(other, "other.txt")
    with room2.local("lsp") as text:
        text.insert(0, "hello\n")
    assert await mirror2.save() is None
    assert other.read_text() == "hello\n"


# -- faults -------------------------------------------------------------------------------------


async def test_a_deleted_file_is_reported_not_emptied(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    path.unlink()
    with pytest.raises(FileGone, match=r"notes\.txt was deleted on disk"):
        mirror.on_disk_change()
    assert str(room.text) == LINES
    assert mirror.on_disk_change() is None  # reported once
    with pytest.raises(FileGone, match="save with recreate"):
        await mirror.save()  # an autosave does not bring back what git checkout removed
    assert not path.exists()
    assert await mirror.save(recreate=True) is None
    assert path.read_text() == LINES
    # Replaced by a FIFO (reading would block the whole bridge) or a folder: not a file now.
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(FileGone, match="no longer a regular file"):
        mirror.on_disk_change()
    path.unlink()
    path.mkdir()
    assert mirror.on_disk_change() is None  # already reported gone
    assert str(room.text) == LINES


async def test_a_file_deleted_while_the_room_was_closed_is_not_brought_back(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, _ = opened(path)
    path.unlink()  # git checkout of a branch without it, while the bridge was down
    again = restarted(room)
    mirror = DiskMirror(again, path)
    assert mirror.load() is None and not mirror.on_disk
    assert str(again.text) == LINES
    with pytest.raises(FileGone, match="save with recreate"):
        await mirror.save()
    assert not path.exists()


async def test_a_file_made_binary_is_refused_and_the_document_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(NotText, match=r"notes.txt is binary \(a NUL byte at offset 8\)"):
        mirror.on_disk_change()
    path.write_bytes(b"caf\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(NotText, match="byte 0xe9 at offset 3"):
        mirror.on_disk_change()
    assert str(room.text) == LINES
    with pytest.raises(NotText):
        await mirror.save()  # not written over a file it cannot read as text
    assert path.read_bytes() == b"caf\xe9\n"
    with pytest.raises(NotText, match="not UTF-8"):
        DiskMirror(Room("latin.txt"), path).load()


async def test_a_read_only_file_is_not_saved_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    with room.local("lsp") as text:
        text.insert(0, "# edit\n")
    path.chmod(0o444)
    with pytest.raises(SaveError, match=r"cannot save notes.txt: the file is read-only \(mode 0444\)"):
        await mirror.save()
    assert path.read_text() == LINES and str(room.text) == "# edit\n" + LINES and mirror.dirty


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full (and read-only) filesystem (needs root; skipped elsewhere)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    require("tmpfs", done.returncode == 0, f"cannot mount a tmpfs ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_fails_the_save_and_keeps_the_file_whole(tiny_disk: Path) -> None:
    path = tiny_disk / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    with room.local("lsp") as text:
        text.insert(len(text), "x" * 200_000)  # more than the filesystem holds
    with pytest.raises(SaveError, match=r"cannot save notes\.txt: no space left on the device") as failed:
        await mirror.save()
    assert failed.value.errno == 28
    assert path.read_text() == LINES  # the old file, whole
    assert [p.name for p in tiny_disk.iterdir()] == ["notes.txt"]  # no temporary file left
    assert str(room.text) == LINES + "x" * 200_000 and mirror.dirty


async def test_a_read_only_filesystem_fails_the_save_clearly(tiny_disk: Path) -> None:
    path = tiny_disk / "notes.txt"
    path.write_text(LINES)
    room, mirror = opened(path)
    with room.local("lsp") as text:
        text.insert(0, "# edit\n")
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    with pytest.raises(SaveError, match=r"cannot save notes\.txt: the file system is read-only"):
        await mirror.save()
    assert path.read_text() == LINES and str(room.text) == "# edit\n" + LINES


# -- the watcher --------------------------------------------------------------------------------


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
async def test_the_watcher_reports_relative_paths_and_skips_internals(tmp_path: Path, polling: bool) -> None:
    reported: list[str] = []
    got = asyncio.Event()

    def on_change(rel: str) -> None:
        reported.append(rel)
        if rel == "src/end.txt":
            got.set()

    (tmp_path / "src").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".codeforge").mkdir()
    async with watching(tmp_path, on_change, polling=polling):
        (tmp_path / ".git" / "index").write_text("x")
        (tmp_path / ".codeforge" / "state.json").write_text("{}")
        (tmp_path / "src" / ".cfsync-1-2.tmp").write_text("x")
        (tmp_path / "src" / ".cfcollab-1-2.tmp").write_text("x")
        (tmp_path / "src" / "a b.txt").write_text("x")
        if polling:  # a poll sees states, not events: let it see the file before it goes
            while "src/a b.txt" not in reported:
                await asyncio.sleep(0.02)
        (tmp_path / "src" / "a b.txt").unlink()  # a deletion is reported too
        (tmp_path / "src" / "end.txt").write_text("x")
        await asyncio.wait_for(got.wait(), 30)
    assert set(reported) == {"src/a b.txt", "src/end.txt"}


async def test_a_failing_callback_does_not_stop_the_watcher(tmp_path: Path) -> None:
    calls: list[str] = []
    second = asyncio.Event()

    def on_change(rel: str) -> None:
        calls.append(rel)
        if rel == "two.txt":
            second.set()
        raise RuntimeError("a bug in a room")

    async with watching(tmp_path, on_change):
        (tmp_path / "one.txt").write_text("1")
        while "one.txt" not in calls:
            await asyncio.sleep(0.02)
        (tmp_path / "two.txt").write_text("2")
        await asyncio.wait_for(second.wait(), 30)
    assert DiskWatcher(tmp_path, print).relative(str(tmp_path / ".git" / "x")) is None


# -- through the hub and the store (a bridge restart) ------------------------------------------


async def restart_hub(workspace: Path, db: Path) -> tuple[RoomStore, RoomHub]:
    store = RoomStore(db)
    await store.start()
    hub = RoomHub(workspace, store, watch=False, autosave=False)
    await hub.start()
    return store, hub


async def test_a_bridge_restart_neither_duplicates_nor_loses_text(tmp_path: Path) -> None:
    """jupyter-collaboration #594 (content duplicated after a restart) and #163 (a file
    changed while the server was down overwritten by the stored document), through the real
    RoomHub and RoomStore: the room comes back from the store, the file's change arrives as
    a diff, unsaved edits stay, nothing appears twice."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    db = tmp_path / "state" / "rooms.sqlite"
    db.parent.mkdir()
    (workspace / "a.txt").write_text(LINES)
    (workspace / "b.txt").write_text(LINES)
    _, hub = await restart_hub(workspace, db)
    a = await hub.open("a.txt")
    b = await hub.open("b.txt")
    lifetime = a.lifetime
    with b.local("lsp") as text:
        text.insert(0, "# unsaved in b\n")
    await hub.close()
    # While the bridge is down: a's file changes (git pull), b's does not.
    (workspace / "a.txt").write_text(LINES.replace("line 20:", "line twenty:"))
    _, hub = await restart_hub(workspace, db)
    try:
        a = await hub.open("a.txt")
        b = await hub.open("b.txt")
        assert a.lifetime == lifetime  # restored from the store, not rebuilt
        assert str(a.text) == LINES.replace("line 20:", "line twenty:")
        assert str(b.text) == "# unsaved in b\n" + LINES
        assert a.conflicts == [] and b.conflicts == []
        assert await hub.save("b.txt") is None
        assert (workspace / "b.txt").read_text() == "# unsaved in b\n" + LINES
    finally:
        await hub.close()
    # And once more with nothing changed anywhere: still one copy of everything.
    _, hub = await restart_hub(workspace, db)
    try:
        a = await hub.open("a.txt")
        b = await hub.open("b.txt")
        assert str(a.text) == LINES.replace("line 20:", "line twenty:")
        assert str(b.text) == "# unsaved in b\n" + LINES
    finally:
        await hub.close()


def test_a_clean_merge_is_the_same_whichever_side_is_ours() -> None:
    """Randomized: when merge() finds no clash, both orders give one text holding both
    changes; with one side unchanged it is exactly the other side."""
    rng = random.Random(5)
    alphabet = ["a", "b", "\n", "é", "😀", "中", "\r\n", " "]

    def mutate(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(chars) + 1)
            if chars and rng.random() < 0.4:
                del chars[at : at + rng.randrange(1, 3)]
            else:
                chars[at:at] = rng.choices(alphabet, k=rng.randrange(1, 3))
        return "".join(chars)

    clean = 0
    for _ in range(400):
        base = "".join(rng.choices(alphabet, k=rng.randrange(0, 30)))
        ours, theirs = mutate(base), mutate(base)
        assert apply(ours, merge(base, ours, base) or []) == ours
        assert apply(base, merge(base, base, theirs) or []) == theirs
        forward, backward = merge(base, ours, theirs), merge(base, theirs, ours)
        assert (forward is None) == (backward is None)
        if forward is not None and backward is not None:
            clean += 1
            assert apply(ours, forward) == apply(theirs, backward)
    assert clean > 50  # the property was really exercised
