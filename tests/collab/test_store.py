"""RoomStore on pycrdt.store's SQLite: batched writes, restore, a new lifetime replacing old
history, compaction, and a store that cannot be read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from codeforge.collab import RoomStore, StoreError


def edits(doc: Doc, *chunks: str) -> list[bytes]:
    out: list[bytes] = []
    subscription = doc.observe(lambda e: out.append(e.update))
    text = doc.get("content", type=Text)
    for chunk in chunks:
        text.insert(len(text), chunk)
    doc.unobserve(subscription)
    return out


def rows(path: Path, name: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM yupdates WHERE path = ?", (name,)).fetchone()[0])


async def test_appends_are_batched_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "state" / "collab.sqlite"
    store = RoomStore(path)
    await store.start()
    try:
        source: Doc = Doc()
        store.reset("a.py", "life-1", source.client_id)
        for update in edits(source, *(f"{i} " for i in range(100))):
            store.append("a.py", update)  # never awaits
        assert store.pending == 100
        restored: Doc = Doc()
        record = await store.load("a.py", restored)  # the queue counts before it is written
        assert record is not None and record.lifetime == "life-1"
        assert str(restored.get("content", type=Text)) == str(source.get("content", type=Text))
        assert await store.flush(timeout=30)
        assert store.pending == 0 and store.error is None
        assert rows(path, "a.py") < 100  # merged into a few rows, not one per update
    finally:
        await store.close()
    again = RoomStore(path)
    await again.start()
    try:
        doc: Doc = Doc()
        record = await again.load("a.py", doc)
        assert record is not None and (record.lifetime, record.root) == ("life-1", source.client_id)
        assert str(doc.get("content", type=Text)) == str(source.get("content", type=Text))
        assert await again.load("missing.py", Doc()) is None
    finally:
        await again.close()


async def test_a_new_lifetime_replaces_the_old_history(tmp_path: Path) -> None:
    path = tmp_path / "collab.sqlite"
    store = RoomStore(path)
    await store.start()
    try:
        old: Doc = Doc()
        store.reset("a.py", "old", old.client_id)
        for update in edits(old, "old text"):
            store.append("a.py", update)
        assert await store.flush(timeout=30)
        new: Doc = Doc()
        store.reset("a.py", "new", new.client_id)
        for update in edits(new, "new text"):
            store.append("a.py", update)
        assert await store.flush(timeout=30)
        doc: Doc = Doc()
        record = await store.load("a.py", doc)
        assert record is not None and record.lifetime == "new"
        assert str(doc.get("content", type=Text)) == "new text"  # not "old textnew text"
    finally:
        await store.close()


async def test_compaction_keeps_the_text(tmp_path: Path) -> None:
    path = tmp_path / "collab.sqlite"
    store = RoomStore(path, batch_delay=0)
    await store.start()
    try:
        doc: Doc = Doc()
        store.reset("a.py", "l", doc.client_id)
        for update in edits(doc, *(f"{i}," for i in range(300))):
            store.append("a.py", update)
            assert await store.flush(timeout=30)  # one row each
        assert rows(path, "a.py") > 200
        await store.compact("a.py")
        assert rows(path, "a.py") == 1
        restored: Doc = Doc()
        await store.load("a.py", restored)
        assert str(restored.get("content", type=Text)) == str(doc.get("content", type=Text))
    finally:
        await store.close()


async def test_a_store_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    path = tmp_path / "collab.sqlite"
    store = RoomStore(path)
    await store.start()
    try:
        doc: Doc = Doc()
        store.reset("a.py", "l", doc.client_id)
        for update in edits(doc, "text"):
            store.append("a.py", update)
        assert await store.flush(timeout=30)
        with sqlite3.connect(path) as db:  # someone else's tool breaks the schema under us
            db.execute("DROP TABLE yupdates")
        with pytest.raises(StoreError, match="cannot be read"):
            await store.load("a.py", Doc())
    finally:
        await store.close()
