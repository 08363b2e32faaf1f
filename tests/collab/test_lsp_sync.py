"""LSP editors co-edit through the language server the bridge runs per editor link: a real
`codeforge bridge` process, the real platform, `codeforge connect` relays and an editor-like
client on each (tests/collab/lsp_helpers.py). No room is mocked.

Each test starts its own collaboration session (alice is host) on its own file of the
module's bridge workspace, so rooms never mix between tests.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.conftest import BridgeProcess, member_token
from tests.collab.conftest import NodeClient, eventually
from tests.collab.lsp_helpers import Editor, converge
from tests.conftest import RunningPlatform


@pytest.fixture(scope="module")
def tokens(live_platform: RunningPlatform) -> dict[str, str]:
    return {
        "alice": live_platform.token,  # the platform's owner (the stored login)
        "bob": member_token(live_platform, "bob", "developer"),
        "carol": member_token(live_platform, "carol", "developer"),
    }


class Team:
    """Editors of one test, stopped after it (the session ended first, by its host)."""

    def __init__(self, bridge: BridgeProcess, platform: RunningPlatform, tokens: dict[str, str], logs: Path) -> None:
        self.bridge, self.platform, self.tokens, self.logs = bridge, platform, tokens, logs
        self.editors: list[Editor] = []
        self.host: Editor | None = None
        self.session_id = ""

    def editor(self, user: str, encoding: str = "utf-16", *, apply_edit: bool = True) -> Editor:
        editor = Editor.start(
            self.bridge.url,
            self.platform.env,
            self.bridge.folder,
            encoding=encoding,
            token=None if user == "alice" else self.tokens[user],
            name=user,
            log=self.logs / f"connect-{user}-{len(self.editors)}.log",
            apply_edit=apply_edit,
        )
        self.editors.append(editor)
        return editor

    def session(self, role: str = "navigator", *others: str, encodings: dict[str, str] | None = None) -> list[Editor]:
        """alice starts a session; each of `others` joins with an invitation of `role`."""
        encodings = encodings or {}
        alice = self.host = self.editor("alice", encodings.get("alice", "utf-16"))
        started = alice.command("codeforge.collab.start", {"title": "pairing"})
        self.session_id = str(started["id"])
        state = alice.notification("codeforge/collab/state", lambda p: p.get("session") == started["id"])
        assert state["role"] == "driver" and state["mayEdit"] is True
        team = [alice]
        for user in others:
            invitation = alice.command("codeforge.collab.invite", {"role": role})
            editor = self.editor(user, encodings.get(user, "utf-16"))
            joined = editor.command("codeforge.collab.join", {"invitation": invitation["token"]})
            assert joined["id"] == started["id"]
            editor.notification("codeforge/collab/state", lambda p: p.get("role") == role)
            team.append(editor)
        return team

    def stop(self) -> None:
        if self.host is not None:
            self.host.command("codeforge.collab.end", {}, raw=True)
        for editor in self.editors:
            editor.stop()


@pytest.fixture
def team(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tokens: dict[str, str], tmp_path: Path
) -> Iterator[Team]:
    made = Team(live_bridge, live_platform, tokens, tmp_path)
    yield made
    made.stop()


def _file(bridge: BridgeProcess, name: str, text: str) -> Path:
    path = bridge.folder / name
    path.write_text(text)
    return path


def test_two_editors_co_edit_one_file_and_converge(team: Team) -> None:
    path = _file(team.bridge, "co_edit.py", "def greet(name):\n    return 'hi ' + name\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    original = path.read_text()
    assert converge([(alice, a), (bob, b)]) == original  # joining added nothing
    # Both type at once, without waiting for each other.
    alice.insert(a, 0, "# alice\n")
    bob.type_at_end(b, "# bob\n")
    alice.type_at_end(a, "print(greet('x'))\n")
    bob.insert(b, original.index("return"), "name = name.strip()\n    ")
    final = converge([(alice, a), (bob, b)])
    assert final == (
        "# alice\ndef greet(name):\n    name = name.strip()\n    return 'hi ' + name\n# bob\nprint(greet('x'))\n"
    ) or final == (
        "# alice\ndef greet(name):\n    name = name.strip()\n    return 'hi ' + name\nprint(greet('x'))\n# bob\n"
    )
    for line in ("# alice\n", "# bob\n", "print(greet('x'))\n", "name = name.strip()"):
        assert final.count(line) == 1
    # A save writes the room's text into the workspace, atomically, through its disk mirror.
    alice.save(a)
    alice.wait(lambda: path.read_text() == final, "the save to reach the workspace file")


def test_emoji_cjk_and_combining_marks_land_exactly_from_utf16_and_utf8_editors(team: Team) -> None:
    text = "a😀b 漢字 e\u0301x\n🎉🎉\n"
    path = _file(team.bridge, "unicode.txt", text)
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    a, b = alice.open(path), bob.open(path)
    assert converge([(alice, a), (bob, b)]) == text
    # alice (UTF-16): after 😀 (a surrogate pair), between the two 🎉.
    alice.insert(a, text.index("b"), "1")
    bob.pump()
    # bob (UTF-8): after 漢 (3 bytes), after the combining acute (2 bytes).
    bob.insert(b, bob.texts[b].index("字"), "2")
    bob.insert(b, bob.texts[b].index("x"), "3")
    alice.insert(a, alice.texts[a].index("🎉") + 1, "4")
    expected = "a😀1b 漢2字 e\u03013x\n🎉4🎉\n"
    assert converge([(alice, a), (bob, b)]) == expected
    # Deletions of whole astral and combined characters, from both sides.
    alice.replace(a, alice.texts[a].index("😀"), alice.texts[a].index("😀") + 1, "")
    converge([(alice, a), (bob, b)])
    start = bob.texts[b].index("e\u0301")
    bob.replace(b, start, start + 2, "é")
    assert converge([(alice, a), (bob, b)]) == "a1b 漢2字 é3x\n🎉4🎉\n"


def test_an_edit_in_flight_while_the_user_types_is_recomputed_not_duplicated(team: Team) -> None:
    path = _file(team.bridge, "race.py", "one\ntwo\nthree\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.hold_edits = True
    alice.insert(a, 0, "X")
    bob.wait(lambda: bool(bob.held), "alice's edit to reach bob")
    bob.type_at_end(b, "Y")  # the version moves on under the applyEdit
    bob.hold_edits = False
    bob.release()  # refused (version mismatch): the server computes it again
    assert bob.edits_refused == 1
    final = converge([(alice, a), (bob, b)])
    assert final == "Xone\ntwo\nthree\nY"
    assert bob.edits_applied >= 1


def test_an_editor_that_reports_the_echo_and_its_typing_in_one_change(team: Team) -> None:
    """What a debounced editor (Neovim) does: the edit is applied, the answer goes out, and
    one later didChange carries both the edit and what the user typed since."""
    path = _file(team.bridge, "debounced.py", "alpha\nbeta\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.hold_edits = True
    alice.insert(a, len("alpha"), "!")
    bob.wait(lambda: bool(bob.held), "alice's edit to reach bob")
    (message,) = bob.held
    bob.held.clear()
    bob.hold_edits = False
    before = bob.texts[b]
    bob.apply_locally(message)
    bob.pipe.send({"id": message["id"], "result": {"applied": True}})
    bob.texts[b] = bob.texts[b] + "gamma\n"  # typed before the debounced report
    after = bob.texts[b]
    bob.texts[b] = before
    bob.send_changes(b, [(0, len(before), after)])  # one whole-range change, as a diff of lines would be
    assert converge([(alice, a), (bob, b)]) == "alpha!\nbeta\ngamma\n"


def test_typing_then_the_answer_then_the_echo_puts_nothing_in_twice(team: Team) -> None:
    """The order the cross-editor journey caught (Neovim: its typing flushed, then its answer,
    then its debounced report of the edit): the answer must not settle the edit before its
    echo, or the echo is taken for typing and the remote text goes into the room twice."""
    path = _file(team.bridge, "answer_first.py", "title\nend\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.hold_edits = True
    alice.insert(a, len("title\nend"), " — 終わり")
    bob.wait(lambda: bool(bob.held), "alice's edit to reach bob")
    (message,) = bob.held
    bob.held.clear()
    bob.hold_edits = False
    bob.insert(b, len("title"), " (live 🚀)")  # typed before the edit was applied
    before = bob.texts[b]
    echo = bob.apply_locally(message)
    bob.pipe.send({"id": message["id"], "result": {"applied": True}})  # the answer first
    bob.pump(0.3)
    bob.texts[b] = before
    bob.send_changes(b, echo)  # then the report of the edit
    assert converge([(alice, a), (bob, b)]) == "title (live 🚀)\nend — 終わり\n"


def test_a_read_only_guest_is_refused_and_put_back(team: Team) -> None:
    path = _file(team.bridge, "guarded.py", "x = 1\n")
    alice, carol = team.session("guest", "carol")
    a, c = alice.open(path), carol.open(path)
    converge([(alice, a), (carol, c)])
    carol.type_at_end(c, "import os\n")
    warning = carol.notification("window/showMessage", lambda p: "guest" in p["message"])
    assert warning["type"] == 2 and "guarded.py" in warning["message"]
    assert converge([(alice, a), (carol, c)]) == "x = 1\n"  # her buffer is put back
    # She still sees everyone else's edits.
    alice.type_at_end(a, "y = 2\n")
    assert converge([(alice, a), (carol, c)]) == "x = 1\ny = 2\n"
    # Made a navigator, she edits at once (the bridge's registry is updated by the command).
    alice.command("codeforge.collab.setRole", {"username": "carol", "role": "navigator"})
    carol.notification("codeforge/collab/state", lambda p: p.get("role") == "navigator" and p["mayEdit"])
    carol.type_at_end(c, "z = 3\n")
    assert converge([(alice, a), (carol, c)]) == "x = 1\ny = 2\nz = 3\n"


def test_pair_mode_only_the_driver_edits_until_the_hand_over(team: Team) -> None:
    path = _file(team.bridge, "pair.py", "")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    alice.command("codeforge.collab.setMode", {"mode": "pair"})
    bob.notification("codeforge/collab/state", lambda p: p.get("mode") == "pair" and not p["mayEdit"])
    bob.type_at_end(b, "bob was here\n")
    assert "only the driver" in bob.notification("window/showMessage")["message"]
    assert converge([(alice, a), (bob, b)]) == ""
    alice.command("codeforge.collab.handover", {"username": "bob"})
    bob.notification("codeforge/collab/state", lambda p: p.get("driver") == "bob" and p["mayEdit"])
    bob.type_at_end(b, "bob drives\n")
    alice.type_at_end(a, "alice may not\n")
    assert converge([(alice, a), (bob, b)]) == "bob drives\n"


def test_a_document_opened_later_joins_and_the_room_text_wins(team: Team) -> None:
    path = _file(team.bridge, "later.py", "base\n")
    alice, bob = team.session("navigator", "bob")
    a = alice.open(path)
    alice.type_at_end(a, "from alice\n")  # typed while her document is still joining its room
    alice.save(a)  # saved from the room: so it is in the room before bob comes
    alice.wait(lambda: path.read_text() == "base\nfrom alice\n", "alice's text in the room")
    # bob opens it from a stale copy: the room (alice is in it) wins, nothing is appended twice.
    b = bob.open(path, text="base\nstale line\n")
    assert converge([(alice, a), (bob, b)]) == "base\nfrom alice\n"
    bob.close(b)
    alice.type_at_end(a, "after bob left\n")
    alice.pump(0.3)
    assert b not in bob.texts


def test_the_session_ending_takes_everyone_out(team: Team) -> None:
    path = _file(team.bridge, "ending.py", "")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    alice.command("codeforge.collab.end", {})
    team.host = None
    bob.notification("codeforge/collab/state", lambda p: p.get("session") is None)
    assert any("ended" in m for m in bob.messages_shown())
    # Out of the session, edits stay local: alice's typing no longer reaches bob.
    alice.type_at_end(a, "solo\n")
    bob.pump(0.3)
    assert bob.texts[b] == ""


async def test_a_yjs_client_joins_the_room_of_lsp_editors(team: Team) -> None:
    path = _file(team.bridge, "yjs.md", "# notes\n")
    alice, bob = await asyncio.to_thread(team.session, "navigator", "bob")
    state_id = team.session_id
    a, b = alice.open(path), bob.open(path)
    await asyncio.to_thread(converge, [(alice, a), (bob, b)])
    base = team.bridge.url.replace("ws://", "ws://", 1).rstrip("/")
    node = await NodeClient.start(f"{base}/collab/{state_id}", "yjs.md", team.tokens["alice"])
    try:
        await node.event("synced")
        assert await node.text() == "# notes\n"
        await node.command("append", text="from yjs 🎉\n")
        alice.insert(a, 0, "<!-- lsp -->\n")
        expected = "<!-- lsp -->\n# notes\nfrom yjs 🎉\n"
        assert await asyncio.to_thread(converge, [(alice, a), (bob, b)]) == expected

        async def node_has_it() -> bool:
            return await node.text() == expected

        await eventually(node_has_it, "the Yjs client to converge with the editors")
    finally:
        await node.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_concurrent_typing_with_edits_in_flight_converges_exactly(team: Team, seed: int) -> None:
    """Both editors insert lines at random places without waiting for each other, and now and
    then hold the applyEdits they get while typing on (so they are refused and recomputed).
    Every line typed is there exactly once, and the original lines keep their order."""
    rng = random.Random(seed)
    original = [f"line {i} · ü 😀\n" for i in range(8)]
    path = _file(team.bridge, f"random{seed}.txt", "".join(original))
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    typed: list[str] = []
    for step in range(40):
        editor, uri = rng.choice([(alice, a), (bob, b)])
        if rng.random() < 0.2:
            editor.hold_edits = not editor.hold_edits
            if not editor.hold_edits:
                editor.release()
        text = editor.texts[uri]
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        line = f"{editor.name} {step} 漢字🎉\n"
        typed.append(line)
        editor.insert(uri, rng.choice(starts), line)
        for other in (alice, bob):
            other.pump(rng.choice([0.0, 0.01, 0.03]))
    for editor in (alice, bob):
        editor.hold_edits = False
        editor.release()
    final = converge([(alice, a), (bob, b)])
    lines = final.splitlines(keepends=True)
    for line in typed:
        assert lines.count(line) == 1, (line, final)
    assert [x for x in lines if x in original] == original
    assert len(lines) == len(original) + len(typed)


def test_a_disk_change_over_unsaved_edits_is_a_conflict_the_editor_resolves(team: Team) -> None:
    path = _file(team.bridge, "conflicted.py", "x = 1\ny = 1\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    alice.replace(a, 4, 5, "2")  # unsaved: x = 2
    converge([(alice, a), (bob, b)])
    path.write_text("x = 3\ny = 1\n")  # another writer (a formatter, git) changes the same line
    conflict = alice.notification("codeforge/collab/conflict", lambda p: p["uri"] == a)
    assert (conflict["base"], conflict["ours"], conflict["theirs"]) == (
        "x = 1\ny = 1\n",
        "x = 2\ny = 1\n",
        "x = 3\ny = 1\n",
    )
    assert bob.notification("codeforge/collab/conflict")["id"] == conflict["id"]  # everyone in the room hears it
    assert alice.texts[a] == "x = 2\ny = 1\n"  # nothing merged by itself
    resolved = alice.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "theirs"})
    assert resolved == {"resolved": conflict["id"], "uri": a}
    assert converge([(alice, a), (bob, b)]) == "x = 3\ny = 1\n"  # the choice, for everyone
    again = alice.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "ours"}, raw=True)
    assert "no open conflict" in again["error"]["message"]


def test_an_editor_that_cannot_apply_edits_is_told_and_stays_out(team: Team) -> None:
    path = _file(team.bridge, "no_apply.py", "v = 1\n")
    (alice,) = team.session("navigator")
    invitation = alice.command("codeforge.collab.invite", {})
    bob = team.editor("bob", apply_edit=False)
    bob.command("codeforge.collab.join", {"invitation": invitation["token"]})
    a, b = alice.open(path), bob.open(path)
    told = bob.notification("window/showMessage", lambda p: "workspace/applyEdit" in p["message"])
    assert told["type"] == 1 and "cannot co-edit" in told["message"]
    bob.type_at_end(b, "bob's own\n")  # stays his: not in the room
    alice.type_at_end(a, "w = 2\n")
    alice.save(a)
    alice.wait(lambda: path.read_text() == "v = 1\nw = 2\n", "alice's save")
    assert bob.texts[b] == "v = 1\nbob's own\n" and not bob.pipe.server_requests


def test_an_editor_refusing_for_no_version_change_is_not_asked_in_a_loop(team: Team) -> None:
    path = _file(team.bridge, "refusing.py", "")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.refuse_edits = True
    for i in range(3):
        alice.type_at_end(a, f"{i}\n")
        bob.wait(functools.partial(lambda n: bob.edit_requests >= n, i + 1), "alice's change to be offered")
    bob.pump(0.5)
    assert bob.edit_requests <= 4  # one per change on the other side, not a loop
    told = [m for m in bob.messages_shown() if "did not take the session's changes" in m]
    assert len(told) == 1 and "read-only" in told[0]
    bob.refuse_edits = False
    alice.type_at_end(a, "3\n")
    assert converge([(alice, a), (bob, b)]) == "0\n1\n2\n3\n"


def test_an_external_write_while_three_editors_type_loses_nothing(team: Team) -> None:
    original = "".join(f"# {i}\n" for i in range(20))
    path = _file(team.bridge, "external.py", original)
    alice, bob, carol = team.session("navigator", "bob", "carol", encodings={"carol": "utf-8"})
    a, b, c = alice.open(path), bob.open(path), carol.open(path)
    everyone = [(alice, a), (bob, b), (carol, c)]
    converge(everyone)  # the room was read from the file: that is its disk mirror's base
    for i in range(5):  # unsaved typing at the top, from all three
        for editor, uri in everyone:
            editor.insert(uri, 0, f"{editor.name} {i} ✓\n")
            editor.pump(0.01)
    # Another writer (a formatter, an agent) appends at the end of the file meanwhile.
    path.write_text(original + "# appended by a tool 🎉\n")
    alice.wait(lambda: alice.texts[a].endswith("# appended by a tool 🎉\n"), "the file's change in the room")
    final = converge(everyone)
    lines = final.splitlines(keepends=True)
    for editor, _uri in everyone:
        for i in range(5):
            assert lines.count(f"{editor.name} {i} ✓\n") == 1, final
    assert final.endswith(original + "# appended by a tool 🎉\n")
    assert len(lines) == 15 + 21


async def test_a_yjs_client_and_lsp_editors_typing_at_once_converge_exactly(team: Team) -> None:
    original = "".join(f"§ {i} 😀\n" for i in range(6))
    path = _file(team.bridge, "mixed.md", original)
    alice, bob = await asyncio.to_thread(
        team.session, "navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"}
    )
    a, b = alice.open(path), bob.open(path)
    await asyncio.to_thread(converge, [(alice, a), (bob, b)])
    node = await NodeClient.start(f"{team.bridge.url}/collab/{team.session_id}", "mixed.md", team.tokens["alice"])
    rng = random.Random(7)
    typed: list[str] = []

    def lsp_step(step: int) -> None:
        for editor, uri in ((alice, a), (bob, b)):
            text = editor.texts[uri]
            starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
            line = f"{editor.name} {step} 漢🎉\n"
            typed.append(line)
            editor.insert(uri, rng.choice(starts), line)
            editor.pump(0.01)

    try:
        await node.event("synced")
        for step in range(12):
            line = f"yjs {step} é\n"
            typed.append(line)
            await node.command("insert", index=0, text=line)
            await asyncio.to_thread(lsp_step, step)
        final = await asyncio.to_thread(converge, [(alice, a), (bob, b)])

        async def node_agrees() -> bool:
            return await node.text() == final

        await eventually(node_agrees, "the Yjs client to have the editors' text")
    finally:
        await node.close()
    lines = final.splitlines(keepends=True)
    for line in typed:
        assert lines.count(line) == 1, (line, final)
    assert [x for x in lines if x.startswith("§")] == original.splitlines(keepends=True)
    assert len(lines) == 6 + len(typed)


def test_an_edit_said_applied_but_never_reported_is_sent_again(team: Team) -> None:
    """Neovim 0.11 answers `applied: true` for an edit it skipped (made for an older version)."""
    path = _file(team.bridge, "skipped.py", "s = 1\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.skip_edits = 1
    alice.type_at_end(a, "t = 2\n")
    bob.wait(lambda: bob.edit_requests == 1 and not bob.skip_edits, "the edit bob skips")
    assert bob.texts[b] == "s = 1\n"
    assert converge([(alice, a), (bob, b)]) == "s = 1\nt = 2\n"  # sent again after a while
    assert bob.edit_requests == 2


def test_a_whole_document_change_goes_in_as_a_diff_keeping_others_concurrent_edits(team: Team) -> None:
    path = _file(team.bridge, "full.txt", "0123456789\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.hold_edits = True
    alice.insert(a, 5, "A")
    bob.wait(lambda: bool(bob.held), "alice's edit to reach bob")
    bob.send_full(b, "X0123456789\n")  # made without alice's A: a whole replace would drop it
    bob.hold_edits = False
    bob.release()
    assert converge([(alice, a), (bob, b)]) == "X01234A56789\n"


def test_a_malformed_change_stays_out_of_the_room(team: Team) -> None:
    path = _file(team.bridge, "malformed.py", "first\nsecond\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.versions[b] += 1
    bob.notify(  # a range whose end is before its start
        "textDocument/didChange",
        {
            "textDocument": {"uri": b, "version": bob.versions[b]},
            "contentChanges": [
                {"range": {"start": {"line": 1, "character": 3}, "end": {"line": 0, "character": 1}}, "text": "ZZ"}
            ],
        },
    )
    alice.type_at_end(a, "third\n")
    alice.save(a)
    alice.wait(lambda: path.read_text() == "first\nsecond\nthird\n", "alice's text, without bob's bad change, saved")
    assert "ZZ" not in alice.texts[a]
    answer = bob.command("codeforge.collab.setMode", {"mode": "pair"}, raw=True)  # bob's session still answers
    assert answer["error"]["code"] == -32803 and "host" in answer["error"]["message"]


def test_an_edit_refused_before_the_typing_that_caused_it_is_reported(team: Team) -> None:
    """An editor that answers `applied: false` first and reports the user's typing after
    (Neovim's debounced changes): the server sends the edit again once the typing arrives."""
    path = _file(team.bridge, "answer_first.py", "p = 1\n")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    bob.hold_edits = True
    alice.type_at_end(a, "q = 2\n")
    bob.wait(lambda: bool(bob.held), "alice's edit to reach bob")
    (message,) = bob.held
    bob.held.clear()
    bob.hold_edits = False
    bob.pipe.send({"id": message["id"], "result": {"applied": False, "failureReason": "buffer changed"}})
    bob.insert(b, 0, "# bob\n")  # the typing that made the version move on, reported late
    assert converge([(alice, a), (bob, b)]) == "# bob\np = 1\nq = 2\n"  # nothing else typed
    assert not [m for m in bob.messages_shown() if "did not take" in m]  # a race, not a refusal
