"""Rooms and the hub, driven with real pycrdt documents and real y-websocket messages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from codeforge.collab import RoomHub, RoomPathError, RoomStore, StaleClient, check_room_name, protocol
from codeforge.collab.room import Peer, Room
from tests.collab.conftest import CollabServer, PyClient, eventually


class Inbox:
    """A peer's socket: what the room sent it, parsed."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.raw.append(data)

    def messages(self, kind: int, step: int | None = None) -> list[protocol.Message]:
        parsed = [protocol.parse(d) for d in self.raw]
        return [m for m in parsed if m.kind == kind and (step is None or m.step == step)]


def client_update(text: str, index: int = 0, doc: Doc | None = None) -> tuple[Doc, bytes]:
    doc = doc or Doc()
    updates: list[bytes] = []
    subscription = doc.observe(lambda e: updates.append(e.update))
    doc.get("content", type=Text).insert(index, text)
    doc.unobserve(subscription)
    return doc, updates[-1]


def peer(room: Room, *, username: str = "ada", may_edit: bool = True) -> tuple[Peer, Inbox]:
    inbox = Inbox()
    return room.connect(inbox, username=username, may_edit=lambda: may_edit), inbox


async def settle() -> None:
    await asyncio.sleep(0)  # the room sends what is due at the end of this loop turn
    await asyncio.sleep(0)


async def test_a_peer_is_sent_step1_and_the_awareness_of_those_present() -> None:
    room = Room("a.py")
    first, _ = peer(room)
    await room.receive(first, protocol.awareness_message([(11, 0, '{"user":{"name":"ada"}}')]))
    _, inbox = peer(room, username="bob")
    [step1] = inbox.messages(protocol.SYNC, protocol.STEP1)
    assert step1.payload == room.doc.get_state()
    [awareness] = inbox.messages(protocol.AWARENESS)
    assert protocol.decode_awareness(awareness.payload) == [(11, 0, '{"user":{"name":"ada"}}')]


async def test_a_peers_update_is_relayed_as_received_and_not_echoed() -> None:
    room = Room("a.py")
    (a, a_inbox), (_, b_inbox) = peer(room), peer(room, username="bob")
    _, update = client_update("hello")
    await room.receive(a, protocol.update_message(update))
    await settle()
    assert str(room.text) == "hello"
    assert [m.payload for m in b_inbox.messages(protocol.SYNC, protocol.UPDATE)] == [update]  # the same bytes
    assert a_inbox.messages(protocol.SYNC, protocol.UPDATE) == []


async def test_updates_of_one_loop_turn_go_out_merged_once_as_the_same_bytes() -> None:
    room = Room("a.py")
    (a, _), (b, _) = peer(room), peer(room, username="bob")
    sent: list[bytes] = []
    watchers = [room.connect(sent.append, username=f"w{i}", may_edit=lambda: True) for i in range(3)]
    sent.clear()
    doc, first = client_update("one ")
    _, second = client_update("two", doc=doc, index=4)
    await room.receive(a, protocol.update_message(first))
    await room.receive(b, protocol.update_message(second))
    await settle()
    assert len(sent) == 3 and sent[0] is sent[1] is sent[2]  # encoded once, written three times
    merged: Doc = Doc()
    merged.apply_update(protocol.parse(sent[0]).payload)
    assert str(merged.get("content", type=Text)) == "one two"
    assert len(watchers) == 3


def unframe(data: bytes) -> list[bytes]:
    """The messages of a server's unmasked binary websocket frames (RFC 6455, 5.2)."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        assert data[at] == 0x82, "a final binary frame"
        length, at = data[at + 1], at + 2
        assert length & 0x80 == 0, "a server's frame is not masked"
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        out.append(data[at : at + length])
        at += length
    return out


async def test_a_large_room_spaces_its_flushes_and_loses_nothing() -> None:
    """Twelve peers that take frames (the bridge's endpoint) typing 300 edits over many loop
    turns: flushes are spaced (fewer frames than edits, updates merged), every frame parses
    back to protocol messages, and every peer's copy ends equal to the room's."""
    room = Room("big.py")
    frames: list[list[bytes]] = [[] for _ in range(12)]
    peers = [
        room.connect(lambda _: None, username=f"u{i}", may_edit=lambda: True, write=frames[i].append) for i in range(12)
    ]
    docs = [Doc() for _ in peers]
    for doc in docs:
        doc.apply_update(room.doc.get_update())
    for n in range(300):
        i = n % len(peers)
        _, update = client_update(f"{n};", doc=docs[i])
        await room.receive(peers[i], protocol.update_message(update))
        if n % 7 == 0:
            await asyncio.sleep(0.001)  # edits arrive across loop turns, some within a flush window
    await asyncio.sleep(0.05)  # the last window's flush
    expected = str(room.text)
    assert len(expected.split(";")) == 301
    for i, doc in enumerate(docs):
        messages = [protocol.parse(m) for frame in frames[i] for m in unframe(frame)]
        for m in messages:
            if m.kind == protocol.SYNC and m.step == protocol.UPDATE:
                doc.apply_update(m.payload)
        assert str(doc.get("content", type=Text)) == expected, f"peer {i}"
    assert 0 < len(frames[0]) < 300  # spaced and merged, not one write per edit


async def test_local_edits_reach_peers_and_observers_see_every_origin() -> None:
    room = Room("a.py")
    a, inbox = peer(room)
    seen: list[Any] = []
    unsubscribe = room.observe(lambda r, event, origin: seen.append((r, origin)))
    with room.local("lsp") as text:
        text.insert(0, "from the editor")
    await settle()
    [update] = inbox.messages(protocol.SYNC, protocol.UPDATE)
    copy: Doc = Doc()
    copy.apply_update(update.payload)
    assert str(copy.get("content", type=Text)) == "from the editor"
    _, theirs = client_update("yjs: ")
    await room.receive(a, protocol.update_message(theirs))
    assert seen == [(room, "lsp"), (room, a)]
    unsubscribe()
    with room.local("lsp") as text:
        text.insert(0, "x")
    assert len(seen) == 2


async def test_a_broken_observer_does_not_stop_a_peers_edit() -> None:
    room = Room("a.py")
    a, _ = peer(room)

    def broken(*_: Any) -> None:
        raise RuntimeError("an observer's bug")

    room.observe(broken)
    _, update = client_update("still applied")
    await room.receive(a, protocol.update_message(update))
    assert str(room.text) == "still applied"


async def test_a_guest_syncs_but_its_updates_are_refused_and_it_is_told_once() -> None:
    room = Room("a.py")
    with room.local() as text:
        text.insert(0, "shared")
    guest, guest_inbox = peer(room, username="gus", may_edit=False)
    other, other_inbox = peer(room, username="bob")
    await room.receive(guest, protocol.step1(Doc().get_state()))
    [step2] = guest_inbox.messages(protocol.SYNC, protocol.STEP2)
    copy: Doc = Doc()
    copy.apply_update(step2.payload)
    assert str(copy.get("content", type=Text)) == "shared"  # it may read
    doc, update = client_update("vandal", doc=copy)
    _, again = client_update("!", doc=doc)
    await room.receive(guest, protocol.update_message(update))
    await room.receive(guest, protocol.step2(again))
    await settle()
    assert str(room.text) == "shared"
    assert other_inbox.messages(protocol.SYNC, protocol.UPDATE) == []
    denied = guest_inbox.messages(protocol.AUTH)
    assert [d.reason for d in denied] == ["gus may not edit a.py (read-only)"]
    assert other.username == "bob"


async def test_awareness_is_relayed_and_removed_when_its_peer_leaves() -> None:
    room = Room("a.py")
    (a, _), (_, b_inbox) = peer(room), peer(room, username="bob")
    changes: list[list[int]] = []
    room.presence.observe(lambda r, clients: changes.append(clients))
    await room.receive(a, protocol.awareness_message([(5, 1, '{"user":{"name":"ada","id":"ada"},"file":"a.py"}')]))
    await settle()
    [relayed] = b_inbox.messages(protocol.AWARENESS)[-1:]
    assert protocol.decode_awareness(relayed.payload) == [(5, 1, '{"user":{"name":"ada","id":"ada"},"file":"a.py"}')]
    assert room.presence.states == {5: {"user": {"name": "ada", "id": "ada"}, "file": "a.py"}}
    room.disconnect(a)
    await settle()
    [removal] = b_inbox.messages(protocol.AWARENESS)[-1:]
    assert protocol.decode_awareness(removal.payload) == [(5, 2, "null")]
    assert room.presence.states == {}
    assert changes == [[5], [5]]


async def test_peer_states_not_renewed_expire_and_local_ones_stay() -> None:
    room = Room("a.py")
    a, _ = peer(room)
    _, b_inbox = peer(room, username="bob")
    await room.receive(a, protocol.awareness_message([(5, 0, '{"user":{"name":"ada"}}')]))
    local = room.presence.new_client()
    room.presence.set(local, {"user": {"name": "nvim"}})
    cutoff = room.presence.updated(5)
    assert room.presence.expire(before=cutoff) == []  # renewed at the cutoff: kept
    assert room.presence.expire(before=cutoff + 1) == [5]
    await settle()
    assert (5, 1, "null") in protocol.decode_awareness(b_inbox.messages(protocol.AWARENESS)[-1].payload)
    assert list(room.presence.states) == [local]


async def test_query_awareness_and_local_participants() -> None:
    room = Room("a.py")
    a, inbox = peer(room)
    client = room.presence.new_client()
    room.presence.set(client, {"user": {"name": "nvim", "id": "neo"}})
    await settle()
    [announced] = inbox.messages(protocol.AWARENESS)
    assert json.loads(protocol.decode_awareness(announced.payload)[0][2]) == {"user": {"name": "nvim", "id": "neo"}}
    await room.receive(a, protocol.query_awareness())
    [answer] = inbox.messages(protocol.AWARENESS)[1:]
    assert [c for c, _, _ in protocol.decode_awareness(answer.payload)] == [client]
    with pytest.raises(ValueError, match="belongs to a peer"):
        await room.receive(a, protocol.awareness_message([(77, 0, "{}")]))
        room.presence.set(77, {})
    # A peer cannot remove or overwrite a local participant.
    await room.receive(a, protocol.awareness_message([(client, 99, "null")]))
    assert room.presence.state(client) == {"user": {"name": "nvim", "id": "neo"}}


async def test_a_client_of_an_earlier_lifetime_is_stale() -> None:
    old = Room("a.py")
    old.seed("version one\n")
    with old.local() as text:
        text.insert(0, "old lifetime ")
    client: Doc = Doc()
    client.apply_update(old.doc.get_update())
    rebuilt = Room("a.py")  # the store was lost and the file changed meanwhile
    rebuilt.seed("old lifetime version one\n")
    with pytest.raises(StaleClient):
        rebuilt.connect(Inbox(), username="ada", may_edit=lambda: True, lifetime=old.lifetime)
    a, _ = peer(rebuilt)
    with pytest.raises(StaleClient):
        await rebuilt.receive(a, protocol.step1(client.get_state()))
    assert str(rebuilt.text) == "old lifetime version one\n"
    # A client of this lifetime, even with edits the room has not seen, is not stale.
    same: Doc = Doc()
    same.apply_update(rebuilt.doc.get_update())
    client_update("mine ", doc=same)
    b, b_inbox = peer(rebuilt, username="bob")
    await rebuilt.receive(b, protocol.step1(same.get_state()))
    assert b_inbox.messages(protocol.SYNC, protocol.STEP2)
    await rebuilt.receive(b, protocol.step1(Doc().get_state()))  # a fresh client


async def test_a_lifetime_seeded_again_from_the_same_file_takes_old_copies_back() -> None:
    """The bridge was killed before the store wrote the last edits: the room is seeded again
    from the unchanged file, and a client's copy brings those edits back, the file once."""
    old = Room("a.py")
    old.seed("def f():\n    pass\n")
    client: Doc = Doc()
    client.apply_update(old.doc.get_update())
    client.get("content", type=Text).insert(0, "# lost by the store\n")
    rebuilt = Room("a.py")
    rebuilt.seed("def f():\n    pass\n")
    assert rebuilt.lifetime == old.lifetime
    a, a_inbox = peer(rebuilt)
    await rebuilt.receive(a, protocol.step1(client.get_state()))
    await rebuilt.receive(a, protocol.step2(client.get_update(rebuilt.doc.get_state())))
    assert str(rebuilt.text) == "# lost by the store\ndef f():\n    pass\n"
    assert a_inbox.messages(protocol.SYNC, protocol.STEP2)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "not a file path"),
        ("/etc/passwd", "absolute"),
        ("../x", "leaves the workspace"),
        ("a/../../x", "leaves the workspace"),
        (".git/config", "not shared"),
        (".codeforge/state", "not shared"),
        ("./.", "names the workspace"),
        ("a\\b", "not a file path"),
    ],
)
def test_room_names_outside_the_shared_files_are_refused(name: str, says: str) -> None:
    with pytest.raises(RoomPathError, match=says):
        check_room_name(name)


def test_room_names_are_normalised() -> None:
    assert check_room_name("./src//app.py") == "src/app.py"
    assert check_room_name("données/été 😀.py") == "données/été 😀.py"


async def test_thirty_clients_opening_one_room_at_once_get_one_room(collab_server: CollabServer) -> None:
    clients = await asyncio.gather(*(PyClient.connect(f"{collab_server.url}/app.py") for _ in range(30)))
    try:
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in clients)), 60)
        original = (collab_server.workspace / "app.py").read_text()
        assert {str(c.text) for c in clients} == {original}  # loaded once, never twice
        room = collab_server.hub.get("app.py")
        assert room is not None and len(room.peers) == 30
        with clients[7].doc.transaction():
            clients[7].text.insert(0, "# seen by all\n")
        await eventually(lambda: all(str(c.text).startswith("# seen by all\n") for c in clients), "the edit everywhere")
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_idle_rooms_close_and_reopen_with_their_lifetime(tmp_path: Path) -> None:
    workspace = tmp_path / "w"
    workspace.mkdir()
    (workspace / "a.py").write_text("x = 1\n")
    store = RoomStore(tmp_path / "s.sqlite")
    await store.start()
    hub = RoomHub(workspace, store, idle_close=0.3, watch=False)
    await hub.start()
    try:
        room = await hub.open("a.py")
        release = room.hold()
        a, _ = peer(room)
        synced: Doc = Doc()
        synced.apply_update(room.doc.get_update())
        _, update = client_update("# typed\n", doc=synced)
        await room.receive(a, protocol.update_message(update))
        room.disconnect(a)
        await asyncio.sleep(1.0)
        assert hub.get("a.py") is room  # held by a language-server document
        release()
        await eventually(lambda: hub.get("a.py") is None, "the idle room to close")
        assert room.closed
        assert (workspace / "a.py").read_text() == "# typed\nx = 1\n"  # saved on close
        again = await hub.open("a.py")
        assert again is not room and again.lifetime == room.lifetime
        assert str(again.text) == "# typed\nx = 1\n"
        assert await store.flush(timeout=20)
        assert hub.health() == {"pending_writes": 0, "store_error": None, "rooms": 1}
    finally:
        await hub.close()


async def test_presence_of_finds_a_user_in_any_room(collab_server: CollabServer) -> None:
    hub = collab_server.hub
    (collab_server.workspace / "b.py").write_text("")
    first, second = await hub.open("app.py"), await hub.open("b.py")
    a, _ = peer(first, username="ada")
    await first.receive(a, protocol.awareness_message([(1, 0, '{"file":"app.py"}')]))
    await asyncio.sleep(0.01)
    local = second.presence.new_client()
    second.presence.set(local, {"user": {"id": "ada", "name": "Ada"}, "file": "b.py"})
    found = hub.presence_of("ada")
    assert found == ("b.py", {"user": {"id": "ada", "name": "Ada"}, "file": "b.py"})
    second.presence.set(local, None)
    assert hub.presence_of("ada") == ("app.py", {"file": "app.py"})
    assert hub.presence_of("nobody") is None
