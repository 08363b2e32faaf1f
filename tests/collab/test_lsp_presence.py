"""Presence and follow mode through the language server: a real `codeforge bridge`, the real
platform, `codeforge connect` relays with editor-like clients (tests/collab/lsp_helpers.py),
and a real Yjs client (Node) in the same room. Nothing is mocked.

Expected positions are worked out here from the text (lsp_helpers' own conversion), not with
`codeforge.collab.text`, which the server uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeforge.lsp.capabilities.collab.follow import SAME_LINE_EVERY, due
from tests.bridge.conftest import BridgeProcess, TcpProxy, member_token
from tests.collab.conftest import NodeClient, eventually
from tests.collab.lsp_helpers import Editor, converge, position_of
from tests.collab.test_lsp_sync import Team
from tests.conftest import RunningPlatform

PRESENCE = "codeforge/collab/presence"


@pytest.fixture(scope="module")
def tokens(live_platform: RunningPlatform) -> dict[str, str]:
    return {
        "alice": live_platform.token,
        "bob": member_token(live_platform, "bob", "developer"),
        "carol": member_token(live_platform, "carol", "developer"),
    }


@pytest.fixture
def team(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tokens: dict[str, str], tmp_path: Path
) -> Iterator[Team]:
    made = Team(live_bridge, live_platform, tokens, tmp_path)
    yield made
    made.stop()


TEXT = "😀🎉 emoji line\n中文字符 CJK line\ne\u0301 combining\nplain target line\n"


def _file(bridge: BridgeProcess, name: str, text: str = TEXT) -> Any:
    path = bridge.folder / name
    path.write_text(text)
    return path


def _cursor(
    editor: Editor, uri: str, anchor: int, head: int | None = None, *, visible: tuple[int, int] | None = None
) -> None:
    """The editor's selection from string index `anchor` to `head`, in its encoding."""
    text = editor.texts[uri]
    head = anchor if head is None else head
    params: dict[str, Any] = {
        "uri": uri,
        "selections": [
            {"anchor": position_of(text, anchor, editor.encoding), "head": position_of(text, head, editor.encoding)}
        ],
    }
    if visible is not None:
        params["visibleRange"] = {
            "start": {"line": visible[0], "character": 0},
            "end": {"line": visible[1], "character": 0},
        }
    editor.notify("codeforge/collab/cursor", params)


def _me(editor: Editor) -> str:
    """The editor's username (the platform's owner is not called alice)."""
    listed = editor.command("codeforge.collab.participants", {})
    return str(next(p["username"] for p in listed["participants"] if p["you"]))


def _someone(username: str, selections: list[dict[str, Any]] | None = None) -> Any:
    """A check: the presence names `username` (with exactly these selections when given)."""

    def check(params: dict[str, Any]) -> bool:
        for p in params["participants"]:
            if p["username"] == username and (selections is None or p["selections"] == selections):
                return True
        return False

    return check


def _selection(editor: Editor, uri: str, anchor: int, head: int | None = None) -> dict[str, Any]:
    text = editor.texts[uri]
    head = anchor if head is None else head
    return {"anchor": position_of(text, anchor, editor.encoding), "head": position_of(text, head, editor.encoding)}


def test_two_editors_see_each_others_cursors_after_emoji_and_cjk(team: Team) -> None:
    path = _file(team.bridge, "presence_two.py")
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    host = _me(alice)
    a, b = alice.open(path), bob.open(path)
    assert converge([(alice, a), (bob, b)]) == TEXT
    # alice (UTF-16) selects "emoji" after two emoji; bob (UTF-8) must see it in his units.
    start = TEXT.index("emoji")
    _cursor(alice, a, start, start + len("emoji"), visible=(0, 3))
    seen = bob.notification(PRESENCE, _someone(host, [_selection(bob, b, start, start + 5)]))
    (shown,) = [p for p in seen["participants"] if p["username"] == host]
    assert shown["selections"][0]["anchor"] == {"line": 0, "character": len("😀🎉 ".encode())}
    assert shown["visibleRange"] == {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}
    assert shown["role"] == "driver" and shown["color"].startswith("#")
    # bob puts his cursor after the CJK characters; alice sees it in UTF-16 units.
    cjk = TEXT.index(" CJK")
    _cursor(bob, b, cjk)
    seen = alice.notification(PRESENCE, _someone("bob", [_selection(alice, a, cjk)]))
    assert next(p for p in seen["participants"] if p["username"] == "bob")["selections"][0]["head"] == {
        "line": 1,
        "character": 4,
    }
    # Nobody is shown their own cursor.
    assert all(p["username"] != host for p in seen["participants"])
    # bob types a line above alice's selection: her cursor stays on its text, one line down.
    bob.insert(b, 0, "# a new first line 👋\n")
    now = converge([(alice, a), (bob, b)])
    moved = now.index("emoji")
    bob.notification(PRESENCE, _someone(host, [_selection(bob, b, moved, moved + 5)]))


def test_a_late_joiner_sees_everyone_at_once_and_a_leaver_disappears(team: Team) -> None:
    path = _file(team.bridge, "presence_late.py")
    alice, bob, carol = team.session("navigator", "bob", "carol")
    host = _me(alice)
    a = alice.open(path)
    target = TEXT.index("target")
    _cursor(alice, a, target)
    b = bob.open(path)
    converge([(alice, a), (bob, b)])
    # bob opened the file after alice set her cursor: he is told where she is at once.
    bob.notification(PRESENCE, _someone(host, [_selection(bob, b, target)]))
    c = carol.open(path)
    carol.notification(PRESENCE, _someone(host, [_selection(carol, c, target)]))
    _cursor(carol, c, 0)
    bob.notification(PRESENCE, _someone("carol"))
    # carol leaves the session: gone from bob's and alice's view.
    carol.command("codeforge.collab.leave", {})
    bob.notification(PRESENCE, lambda p: not _someone("carol")(p) and _someone(host)(p))
    alice.notification(PRESENCE, lambda p: not _someone("carol")(p))
    # bob's link drops (his connect process is killed): gone from alice's view.
    _cursor(bob, b, 3)
    alice.notification(PRESENCE, _someone("bob"))
    assert bob.process.process is not None
    bob.process.process.kill()
    alice.notification(PRESENCE, lambda p: not _someone("bob")(p))


def test_a_dropped_link_hides_the_cursor_until_it_resumes(team: Team, tmp_path: Path) -> None:
    path = _file(team.bridge, "presence_resume.py")
    (alice,) = team.session("navigator")
    network = TcpProxy(team.bridge.port)
    try:
        bob = Editor.start(
            f"ws://127.0.0.1:{network.port}",
            team.platform.env,
            team.bridge.folder,
            token=team.tokens["bob"],
            name="bob",
            log=tmp_path / "connect-bob.log",
        )
        team.editors.append(bob)
        invitation = alice.command("codeforge.collab.invite", {"role": "navigator"})
        bob.command("codeforge.collab.join", {"invitation": invitation["token"]})
        a, b = alice.open(path), bob.open(path)
        converge([(alice, a), (bob, b)])
        target = TEXT.index("target")
        _cursor(bob, b, target)
        alice.notification(PRESENCE, _someone("bob", [_selection(alice, a, target)]))
        # Only what comes from now on counts: an older notification (before bob's cursor was
        # set) would pass the next check without the drop having been seen.
        alice.pipe.notifications[:] = [n for n in alice.pipe.notifications if n.get("method") != PRESENCE]
        network.block()  # the network goes away; the bridge holds bob's link for him to resume
        alice.notification(PRESENCE, lambda p: not _someone("bob")(p) and p["uri"] == a)
        network.unblock()  # his relay reconnects: the link resumes, his cursor is back where it was
        alice.notification(PRESENCE, _someone("bob", [_selection(alice, a, target)]))
    finally:
        network.close()


def test_moving_to_another_file_clears_the_old_one(team: Team) -> None:
    one, two = _file(team.bridge, "presence_one.py"), _file(team.bridge, "presence_other.py", "x = 1\ny = 2\n")
    alice, bob = team.session("navigator", "bob")
    host = _me(alice)
    a1, a2 = alice.open(one), alice.open(two)
    b1 = bob.open(one)
    converge([(alice, a1), (bob, b1)])
    _cursor(alice, a1, 5)
    bob.notification(PRESENCE, lambda p: p["uri"] == b1 and _someone(host, [_selection(bob, b1, 5)])(p))
    _cursor(alice, a2, 2)  # alice focuses the other file
    bob.notification(PRESENCE, lambda p: p["uri"] == b1 and not _someone(host)(p))


async def test_a_yjs_clients_cursor_is_shown_and_ours_reach_it(team: Team) -> None:
    path = _file(team.bridge, "presence_yjs.py")
    (alice,) = await asyncio.to_thread(team.session, "navigator")
    host = await asyncio.to_thread(_me, alice)
    a = alice.open(path)
    await asyncio.to_thread(converge, [(alice, a)])
    cjk = TEXT.index("CJK")
    _cursor(alice, a, cjk)
    client = await NodeClient.start(
        f"{team.bridge.url.rstrip('/')}/collab/{team.session_id}", "presence_yjs.py", team.tokens["alice"]
    )
    try:
        await client.event("synced")

        def utf16(index: int) -> int:
            return len(TEXT[:index].encode("utf-16-le")) // 2

        # alice's cursor, a relative position made by the server, read by Yjs itself.
        async def alice_seen() -> bool:
            return (await client.command("cursors"))["cursors"].get(host) == utf16(cjk)

        await eventually(alice_seen, "alice's cursor at the right index in the Yjs client")
        # The Yjs client's cursor (y-codemirror's awareness shape) in the editor's positions.
        target = TEXT.index("target")
        await client.command("cursor", index=utf16(target), name="yuki", color="#123456")
        await asyncio.to_thread(alice.notification, PRESENCE, _someone("yuki", [_selection(alice, a, target)]))
    finally:
        await client.close()
    await asyncio.to_thread(alice.notification, PRESENCE, lambda p: not _someone("yuki")(p))


def test_bad_cursor_reports_are_ignored_with_a_log_line(team: Team) -> None:
    path = _file(team.bridge, "presence_bad.py")
    (alice,) = team.session("navigator")
    a = alice.open(path)
    converge([(alice, a)])
    for bad in (
        {"selections": []},
        {"uri": a, "selections": [{"anchor": {"line": -1, "character": 0}, "head": {"line": 0, "character": 0}}]},
        {"uri": a, "selections": "everywhere"},
        [1, 2],
    ):
        alice.notify("codeforge/collab/cursor", bad)
        alice.notification("window/logMessage", lambda p: "codeforge/collab/cursor ignored" in p["message"])
    # Far past the end and a file outside the session: no error, and the server still answers.
    alice.notify(
        "codeforge/collab/cursor",
        {"uri": a, "selections": [{"anchor": {"line": 999, "character": 5}, "head": {"line": 999, "character": 9}}]},
    )
    alice.notify("codeforge/collab/cursor", {"uri": "file:///elsewhere/x.py", "selections": []})
    assert alice.command("codeforge.collab.participants", {})["session"] == team.session_id


# -- follow mode ------------------------------------------------------------------------------------


def _shown(editor: Editor, uri: str, line: int, timeout: float = 60) -> dict[str, Any]:
    """The first window/showDocument for `uri` at `line` the editor got."""
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        for request in editor.pipe.server_requests:
            params = request.get("params") or {}
            if (
                request.get("method") == "window/showDocument"
                and params.get("uri") == uri
                and params.get("selection", {}).get("start", {}).get("line") == line
            ):
                editor.pipe.server_requests.remove(request)
                found.append(params)
                return True
        return False

    editor.wait(seen, f"window/showDocument {uri} line {line}", timeout)
    return found[0]


def test_follow_moves_the_follower_to_the_drivers_file_and_line(team: Team) -> None:
    one = _file(team.bridge, "follow_one.py")
    two = _file(team.bridge, "follow_two.py", "first\nsecond\nthird 😀 line\nfourth\n")
    alice, bob = team.session("navigator", "bob")
    host = _me(alice)
    a1, a2 = alice.open(one), alice.open(two)
    b1 = bob.open(one)
    converge([(alice, a1), (bob, b1)])
    _cursor(alice, a1, TEXT.index("target"))
    assert bob.command("codeforge.collab.follow", {"username": host}) == {"following": host}
    bob.notification("codeforge/collab/state", lambda p: p.get("following") == host)
    shown = _shown(bob, b1, 3)
    assert shown["takeFocus"] is True
    # alice goes to a file bob does not have open, after an emoji on its line.
    text = alice.texts[a2]
    _cursor(alice, a2, text.index("line"))
    shown = _shown(bob, a2, 2)
    assert shown["selection"]["start"]["character"] == len("third 😀 ".encode("utf-16-le")) // 2
    # participants: where each one is.
    listed = bob.command("codeforge.collab.participants", {})
    where = {p["username"]: (p["file"], p["line"]) for p in listed["participants"]}
    assert where[host] == ("follow_two.py", 2)
    assert where["bob"][0] == "follow_one.py"
    assert [p["you"] for p in listed["participants"] if p["username"] == "bob"] == [True]
    # Stop following: alice moves, bob is not moved.
    assert bob.command("codeforge.collab.follow", {}) == {"following": None}
    bob.notification("codeforge/collab/state", lambda p: p.get("following") is None)
    bob.pipe.server_requests.clear()
    _cursor(alice, a1, 0)
    _cursor(alice, a2, 0)
    alice.command("codeforge.collab.participants", {})  # a round trip: the cursors were handled
    bob.pump(0.5)
    assert not [r for r in bob.pipe.server_requests if r.get("method") == "window/showDocument"]


def test_follow_refuses_yourself_strangers_bad_input_and_no_session(team: Team) -> None:
    alice, bob = team.session("navigator", "bob")
    cases = {
        _me(alice): "you cannot follow yourself",
        "nobody-here": "nobody-here is not a participant",
    }
    for username, message in cases.items():
        answer = alice.command("codeforge.collab.follow", {"username": username}, raw=True)
        assert message in answer["error"]["message"] and "bob" in answer["error"]["message"]
    for bad in ({"username": ""}, {"username": 5}, {"who": "bob"}, ["bob"]):
        answer = alice.command("codeforge.collab.follow", bad, raw=True)
        assert answer["error"]["code"] == -32602, answer
    answer = alice.command("codeforge.collab.participants", {"who": "bob"}, raw=True)
    assert answer["error"]["code"] == -32602 and "who" in answer["error"]["message"]
    bob.command("codeforge.collab.leave", {})
    for command in ("codeforge.collab.follow", "codeforge.collab.participants"):
        answer = bob.command(command, {"username": "bob"} if command.endswith("follow") else {}, raw=True)
        assert "no collaboration session" in answer["error"]["message"]


def test_follow_moves_at_once_to_a_new_file_or_line_and_along_a_line_at_a_pace() -> None:
    here = ("a.py", 3, 4)
    assert due(None, 0.0, here, 100.0)  # the first place: at once
    assert not due(here, 100.0, here, 500.0)  # where the follower already is
    assert not due(here, 100.0, None, 500.0)  # the followed participant is nowhere
    assert due(here, 100.0, ("a.py", 4, 4), 100.01)  # another line: at once
    assert due(here, 100.0, ("b.py", 3, 4), 100.01)  # another file: at once
    assert not due(here, 100.0, ("a.py", 3, 5), 100.0 + SAME_LINE_EVERY / 2)  # typing along the line
    assert due(here, 100.0, ("a.py", 3, 9), 100.0 + SAME_LINE_EVERY)
