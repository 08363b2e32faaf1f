"""Faults: a client dropping mid-transaction, the store's disk filling up, malformed messages,
a 5 MB room, and a client sending another room's updates. Real rooms, real sockets, a real
SQLite store on a real (small) filesystem: nothing of the room is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from codeforge.collab import protocol
from tests.collab.conftest import CollabServer, NodeClient, PyClient, eventually, run_server
from tests.conftest import require


def updates_of(doc: Doc, *edits: tuple[int, str]) -> list[bytes]:
    """One update per edit, each depending on the one before."""
    out: list[bytes] = []
    subscription = doc.observe(lambda e: out.append(e.update))
    text = doc.get("content", type=Text)
    for index, chunk in edits:
        text.insert(index, chunk)
    doc.unobserve(subscription)
    return out


async def closed_with(websocket: Any) -> tuple[int, str]:
    with contextlib.suppress(ConnectionClosed):
        async for _ in websocket:
            pass
    assert websocket.close_code is not None
    return websocket.close_code, websocket.close_reason or ""


async def test_a_client_dropping_mid_transaction_leaves_the_room_whole(collab_server: CollabServer) -> None:
    watcher = await PyClient.connect(f"{collab_server.url}/app.py")
    await asyncio.wait_for(watcher.synced.wait(), 30)
    original = str(watcher.text)
    room = collab_server.hub.get("app.py")
    assert room is not None
    # 1. Half of a change: the second update arrives, the first (it depends on) never does.
    dropper = await connect(f"{collab_server.url}/app.py", compression=None)
    await dropper.send(protocol.awareness_message([(424242, 0, '{"user":{"name":"dropper"}}')]))
    doc: Doc = Doc()
    doc.apply_update(room.doc.get_update())
    first, second = updates_of(doc, (0, "# part one\n"), (11, "# part two\n"))
    await dropper.send(protocol.update_message(second))
    await eventually(lambda: 424242 in room.presence.states, "the dropper's awareness")
    # 2. The connection dies inside a frame: a header announcing 1000 bytes, ten sent.
    transport = dropper.transport
    transport.write(b"\x82\xfe\x03\xe8" + b"\x00" * 4 + b"0123456789")
    transport.abort()
    await eventually(lambda: len(room.peers) == 1, "the dropped peer to be gone")
    assert str(room.text) == original == str(watcher.text)  # nothing half-applied
    removed = await eventually(
        lambda: any((424242, 1, "null") in entries for entries in watcher.awareness), "the dropper's removal"
    )
    assert removed
    # 3. It reconnects with the same document: the room completes, once.
    back = await PyClient.connect(f"{collab_server.url}/app.py")
    back.doc.apply_update(doc.get_update())
    await asyncio.wait_for(back.synced.wait(), 30)
    await back.websocket.send(protocol.update_message(first))
    expected = "# part one\n# part two\n" + original
    await eventually(lambda: str(room.text) == str(watcher.text) == expected, "the room to complete the change")
    await back.close()
    await watcher.close()


async def test_malformed_messages_close_that_peer_with_a_reason_and_the_room_carries_on(
    collab_server: CollabServer,
) -> None:
    good = await PyClient.connect(f"{collab_server.url}/app.py")
    await asyncio.wait_for(good.synced.wait(), 30)
    room = collab_server.hub.get("app.py")
    assert room is not None
    before = str(room.text)
    for garbage, says in (
        (b"\x00\x02\x05ab", "says 5 bytes, 2 follow"),
        (protocol.update_message(b"\x01\x02\xff\xff\xff\xff\xff\xff"), "could not be applied"),
        (protocol.step1(b"\x05\x01"), "state vector"),
        (protocol.awareness_message([]) + b"\x00", "unexpected bytes"),
        (b"\x09", "unknown message type 9"),
    ):
        bad = await connect(f"{collab_server.url}/app.py", compression=None)
        await bad.send(garbage)
        code, reason = await closed_with(bad)
        assert (code, says in reason) == (1007, True), (garbage, reason)
    text_frame = await connect(f"{collab_server.url}/app.py", compression=None)
    await text_frame.send("hello")
    assert (await closed_with(text_frame))[0] == 1007
    assert str(room.text) == before
    with good.doc.transaction():
        good.text.insert(0, "# still fine\n")
    await eventually(lambda: str(room.text).startswith("# still fine\n"), "the good peer's edit")
    assert len(room.peers) == 1
    await good.close()


async def test_a_client_cannot_touch_a_room_it_did_not_join(collab_server: CollabServer) -> None:
    (collab_server.workspace / "other.py").write_text("OTHER\n")
    other_watcher = await PyClient.connect(f"{collab_server.url}/other.py")
    intruder = await PyClient.connect(f"{collab_server.url}/app.py")
    await asyncio.wait_for(other_watcher.synced.wait(), 30)
    await asyncio.wait_for(intruder.synced.wait(), 30)
    other = collab_server.hub.get("other.py")
    app = collab_server.hub.get("app.py")
    assert other is not None and app is not None
    # An update made against other.py's document, sent on app.py's websocket.
    forged: Doc = Doc()
    forged.apply_update(other.doc.get_update())
    [update] = updates_of(forged, (0, "INJECTED "))
    received_before = len(other_watcher.awareness)
    await intruder.websocket.send(protocol.update_message(update))
    await intruder.websocket.send(protocol.step1(b"\x00"))  # a round trip: the update was handled
    await asyncio.sleep(0.2)
    assert str(other.text) == "OTHER\n" == str(other_watcher.text)  # never reaches the other room
    assert "INJECTED" not in str(app.text)  # its insert's position is in another document: pending
    assert len(other_watcher.awareness) == received_before
    await intruder.close()
    await other_watcher.close()


async def test_a_room_with_5_mb_of_text_opens_syncs_and_converges(collab_server: CollabServer) -> None:
    line = "print('the quick brown fox — jumps over the lazy dog ✓')\n"
    big = line * (5 * 1024 * 1024 // len(line.encode()) + 1)
    (collab_server.workspace / "big.py").write_text(big)
    yjs = await NodeClient.start(collab_server.url, "big.py")
    py = await PyClient.connect(f"{collab_server.url}/big.py")
    try:
        await yjs.event("synced")
        await asyncio.wait_for(py.synced.wait(), 120)
        assert str(py.text) == big
        assert await yjs.text() == big
        await yjs.command("insert", index=0, text="# top\n")
        await yjs.command("append", text="# bottom\n")
        with py.doc.transaction():
            py.text.insert(len(line.encode()) * 1000, "# middle\n")
        expected_len = len(big) + len("# top\n# bottom\n# middle\n")

        async def converged() -> bool:
            text = await yjs.text()
            return len(text) == expected_len and text == str(py.text)

        await eventually(converged, "the 5 MB room to converge", timeout=120)
    finally:
        await yjs.close()
        await py.close()


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs: the store's disk, filled up on purpose."""
    mount = tmp_path / "small"
    mount.mkdir()
    tool = shutil.which("mount")
    done = (
        subprocess.run([tool, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
        if tool and os.geteuid() == 0
        else None
    )
    require(
        "tmpfs mount", done is not None and done.returncode == 0, "needs root and mount(8) to make a small filesystem"
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\x00" * 65536)
            out.flush()
    return filler


async def test_a_full_disk_loses_no_update(tmp_path: Path, small_filesystem: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "app.py").write_text("x = 1\n")
    store_path = small_filesystem / "collab.sqlite"
    async with run_server(workspace, store_path, watch=False, autosave=False) as server:
        writer = await PyClient.connect(f"{server.url}/app.py")
        reader = await PyClient.connect(f"{server.url}/app.py")
        await asyncio.wait_for(writer.synced.wait(), 30)
        await asyncio.wait_for(reader.synced.wait(), 30)
        assert await server.store.flush(timeout=30)
        filler = fill(small_filesystem)
        for i in range(40):
            with writer.doc.transaction():
                writer.text.insert(0, f"# line {i} " + "z" * 2000 + "\n")
        await eventually(lambda: server.hub.health()["store_error"] is not None, "the store to report the failure")
        health = server.hub.health()
        assert "full" in str(health["store_error"]) and health["pending_writes"] > 0
        # The room does not wait for the disk: everyone has every line.
        await eventually(lambda: str(reader.text).count("# line ") == 40, "the reader to have all 40 lines")
        filler.unlink()
        await eventually(lambda: server.hub.health()["pending_writes"] == 0, "the queued updates to be written")
        assert server.hub.health()["store_error"] is None
        expected = str(writer.text)
        await writer.close()
        await reader.close()
    # Restored from the store alone (the file was never saved): every line, once.
    async with run_server(workspace, store_path, watch=False, autosave=False) as server:
        room = await server.hub.open("app.py")
        assert str(room.text) == expected
        assert (workspace / "app.py").read_text() == "x = 1\n"
