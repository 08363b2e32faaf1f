"""Collaboration sessions from the editor: the `codeforge.collab.*` commands of the language
server the bridge runs, their bad input, the state notifications, a reconnect after the
bridge restarted, and the language server outside a bridge. Real bridge, platform and
`codeforge connect` relays (tests/collab/lsp_helpers.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.conftest import BridgeProcess, LspPipe, make_workspace, member_token
from tests.collab.lsp_helpers import Editor, converge
from tests.conftest import ROOT, RunningPlatform

INVALID_PARAMS = -32602
REQUEST_FAILED = -32803


@pytest.fixture(scope="module")
def dave_token(live_platform: RunningPlatform) -> str:
    return member_token(live_platform, "dave", "developer")


@pytest.fixture
def editors(tmp_path: Path) -> Iterator[list[Editor]]:
    started: list[Editor] = []
    yield started
    for editor in started:
        editor.command("codeforge.collab.end", {}, raw=True)
        editor.stop()


def _editor(
    started: list[Editor], bridge: BridgeProcess, platform: RunningPlatform, tmp: Path, user: str, token: str | None
) -> Editor:
    editor = Editor.start(
        bridge.url, platform.env, bridge.folder, token=token, name=user, log=tmp / f"connect-{user}-{len(started)}.log"
    )
    started.append(editor)
    return editor


def _error(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer, answer
    return dict(answer["error"])


def test_bad_input_gets_a_clear_error(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, editors: list[Editor], tmp_path: Path
) -> None:
    alice = _editor(editors, live_bridge, live_platform, tmp_path, "alice", None)
    # Out of a session: what needs one says how to get one.
    for command in ("codeforge.collab.invite", "codeforge.collab.leave", "codeforge.collab.end"):
        error = _error(alice.command(command, None, raw=True))
        assert error["code"] == REQUEST_FAILED and "no collaboration session" in error["message"], error
        assert "codeforge.collab.start" in error["data"]["fix"]
    # No argument where one is needed, wrong fields, wrong values, unknown fields.
    error = _error(alice.command("codeforge.collab.join", None, raw=True))
    assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == "invitation"
    error = _error(alice.command("codeforge.collab.start", {"mode": "solo"}, raw=True))
    assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == "mode"
    error = _error(alice.command("codeforge.collab.start", {"title": "x", "colour": "red"}, raw=True))
    assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == "colour"
    error = _error(alice.command("codeforge.collab.start", "not an object", raw=True))
    assert error["code"] == INVALID_PARAMS and "one argument, an object" in error["message"]
    error = _error(alice.command("codeforge.collab.setRole", {"username": "bob", "role": "owner"}, raw=True))
    assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == "role"
    error = _error(alice.command("codeforge.collab.resolveConflict", {"id": "x", "choice": "text"}, raw=True))
    assert error["code"] == INVALID_PARAMS and "needs the resolved text" in error["message"]
    # Unknown invitations, in any script: refused by the platform, named.
    for invitation in ("no-such-invitation", "招待😀", "codeforge://collab/join?token=" + "0" * 40):
        error = _error(alice.command("codeforge.collab.join", {"invitation": invitation}, raw=True))
        assert error["code"] in (REQUEST_FAILED, INVALID_PARAMS) and error["message"], error
        assert "Traceback" not in error["message"]
    # A unicode title is taken as it is.
    started = alice.command("codeforge.collab.start", {"title": "合作 🎉 naïve", "mode": "pair"})
    assert started["title"] == "合作 🎉 naïve" and started["mode"] == "pair" and started["driver"] == "owner"
    state = alice.notification("codeforge/collab/state", lambda p: p.get("session") == started["id"])
    assert state["title"] == "合作 🎉 naïve" and state["host"] == "owner" and state["mayEdit"] is True
    # In a session: starting another is refused; a participant that is not one is the platform's error.
    for command, argument in (("codeforge.collab.start", {}), ("codeforge.collab.join", {"invitation": "x"})):
        error = _error(alice.command(command, argument, raw=True))
        assert "already" in error["message"] and "codeforge.collab.leave" in error["data"]["fix"], command
    error = _error(alice.command("codeforge.collab.handover", {"username": "nobody"}, raw=True))
    assert error["code"] == REQUEST_FAILED and "nobody" in error["message"]
    error = _error(alice.command("codeforge.collab.resolveConflict", {"id": "f" * 32, "choice": "ours"}, raw=True))
    assert error["code"] == REQUEST_FAILED and "no open conflict" in error["message"]
    invited = alice.command("codeforge.collab.invite", {"role": "guest", "expiresInMinutes": 5})
    assert set(invited) == {"link", "token", "role", "expiresAt"} and invited["role"] == "guest"
    error = _error(alice.command("codeforge.collab.invite", {"expiresInMinutes": 0}, raw=True))
    assert error["code"] == INVALID_PARAMS
    ended = alice.command("codeforge.collab.end", {})
    assert ended["state"] == "ended"
    assert alice.notification("codeforge/collab/state", lambda p: p.get("session") is None) == {"session": None}


def test_roles_and_state_reach_every_editor_at_once(
    live_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    dave_token: str,
    editors: list[Editor],
    tmp_path: Path,
) -> None:
    alice = _editor(editors, live_bridge, live_platform, tmp_path, "alice", None)
    started = alice.command("codeforge.collab.start", {"title": "roles"})
    invitation = alice.command("codeforge.collab.invite", {"role": "navigator"})
    dave = _editor(editors, live_bridge, live_platform, tmp_path, "dave", dave_token)
    joined = dave.command("codeforge.collab.join", {"invitation": invitation["link"]})  # the link works too
    assert joined["id"] == started["id"]
    state = dave.notification("codeforge/collab/state", lambda p: p.get("session") == started["id"])
    assert state["role"] == "navigator" and state["mayEdit"] is True and state["driver"] == "owner"
    assert {p["username"] for p in state["participants"]} == {"owner", "dave"}
    alice.notification("codeforge/collab/state", lambda p: len(p.get("participants", [])) == 2)
    # dave may not invite (host only): the platform says so.
    error = _error(dave.command("codeforge.collab.invite", {}, raw=True))
    assert error["code"] == REQUEST_FAILED
    alice.command("codeforge.collab.setRole", {"username": "dave", "role": "guest"})
    dave.notification("codeforge/collab/state", lambda p: p.get("role") == "guest" and p["mayEdit"] is False)
    # dave leaves: alice sees one participant; dave is out.
    left = dave.command("codeforge.collab.leave", {})
    assert "dave" not in {p["username"] for p in left["participants"]}
    assert dave.notification("codeforge/collab/state", lambda p: p.get("session") is None) == {"session": None}
    alice.notification("codeforge/collab/state", lambda p: len(p.get("participants", [])) == 1)
    assert not any("no longer a participant" in m for m in dave.messages_shown())  # leaving is not removal


def test_a_reconnect_after_the_bridge_restarted_rejoins_without_duplicating(
    bridge_factory: Callable[..., BridgeProcess],
    live_platform: RunningPlatform,
    dave_token: str,
    editors: list[Editor],
    tmp_path: Path,
) -> None:
    folder = make_workspace(tmp_path / "restart" / "workspace", live_platform.project)
    bridge = bridge_factory(folder)
    path = folder / "restart.py"
    path.write_text("a = 1\n")
    alice = _editor(editors, bridge, live_platform, tmp_path, "alice", None)
    started = alice.command("codeforge.collab.start", {})
    invitation = alice.command("codeforge.collab.invite", {})
    dave = _editor(editors, bridge, live_platform, tmp_path, "dave", dave_token)
    dave.command("codeforge.collab.join", {"invitation": invitation["token"]})
    a, d = alice.open(path), dave.open(path)
    alice.type_at_end(a, "b = 2  # 😀\n")
    dave.insert(d, 0, "# dave\n")
    before = converge([(alice, a), (dave, d)])
    assert before.count("b = 2") == 1 and before.count("# dave") == 1
    for editor in (alice, dave):
        editor.pipe.notifications.clear()
    bridge.restart(kill=True)  # as a crash: no goodbye, the relays find the session gone (410)
    for editor in (alice, dave):
        editor.notification("codeforge/connection", lambda p: p == {"state": "connected"}, timeout=90)
        state = editor.notification("codeforge/collab/state", lambda p: p.get("session") == started["id"], timeout=90)
        assert state["mayEdit"] is True
    after = converge([(alice, a), (dave, d)])
    assert after == before  # nothing typed twice, nothing lost
    # And the rooms work again, both ways.
    alice.type_at_end(a, "c = 3\n")
    dave.insert(d, 0, "# again\n")
    final = converge([(alice, a), (dave, d)])
    assert final == "# again\n" + before + "c = 3\n"


def test_outside_a_bridge_the_commands_say_to_connect_first(live_platform: RunningPlatform, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "lsp"],
        env=live_platform.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    client = LspPipe(process)
    try:
        client.initialize(tmp_path)
        for command, argument in (
            ("codeforge.collab.start", {}),
            ("codeforge.collab.join", {"invitation": "x"}),
            ("codeforge.collab.setMode", {"mode": "pair"}),
            ("codeforge.collab.resolveConflict", {"id": "x", "choice": "ours"}),
        ):
            answer = client.request("workspace/executeCommand", {"command": command, "arguments": [argument]})
            error = _error(answer)
            assert "connect to a workspace first (codeforge connect URL)" in error["message"], (command, error)
        # Documents stay the editor's own: no collaboration, no error.
        uri = (tmp_path / "x.py").as_uri()
        client.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "x"}}
        )
        answer = client.request("shutdown")
        assert "result" in answer
        client.notify("exit")
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_changes_made_on_the_platform_directly_reach_the_editors(
    live_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    dave_token: str,
    editors: list[Editor],
    tmp_path: Path,
) -> None:
    """The CLI (`codeforge collab set-role`, `end`) talks to the platform, not to the bridge:
    the language server asks the platform again every few seconds."""
    alice = _editor(editors, live_bridge, live_platform, tmp_path, "alice", None)
    started = alice.command("codeforge.collab.start", {})
    invitation = alice.command("codeforge.collab.invite", {})
    dave = _editor(editors, live_bridge, live_platform, tmp_path, "dave", dave_token)
    dave.command("codeforge.collab.join", {"invitation": invitation["token"]})
    path = live_bridge.folder / "platform_side.py"
    path.write_text("")
    a, d = alice.open(path), dave.open(path)
    with live_platform.client() as platform:
        platform.call("collab.set_role", {"session": started["id"], "username": "dave", "role": "guest"})
    dave.notification("codeforge/collab/state", lambda p: p.get("role") == "guest" and p["mayEdit"] is False)
    dave.type_at_end(d, "refused\n")
    assert converge([(alice, a), (dave, d)]) == ""
    with live_platform.client() as platform:
        platform.call("collab.end", {"session": started["id"]})
    for editor in (alice, dave):
        assert editor.notification("codeforge/collab/state", lambda p: p.get("session") is None) == {"session": None}
        assert any("ended" in m for m in editor.messages_shown())


def test_a_session_that_ended_while_the_bridge_was_down_is_not_rejoined(
    bridge_factory: Callable[..., BridgeProcess],
    live_platform: RunningPlatform,
    editors: list[Editor],
    tmp_path: Path,
) -> None:
    folder = make_workspace(tmp_path / "ended" / "workspace", live_platform.project)
    bridge = bridge_factory(folder)
    path = folder / "ended.py"
    path.write_text("kept = True\n")
    alice = _editor(editors, bridge, live_platform, tmp_path, "alice", None)
    started = alice.command("codeforge.collab.start", {})
    a = alice.open(path)
    alice.notification("codeforge/collab/state", lambda p: p.get("session") == started["id"])
    bridge.stop(kill=True)
    with live_platform.client() as platform:
        platform.call("collab.end", {"session": started["id"]})
    alice.pipe.notifications.clear()
    bridge.start()
    alice.notification("codeforge/connection", lambda p: p == {"state": "connected"}, timeout=90)
    assert alice.notification("codeforge/collab/state", timeout=90) == {"session": None}
    told = [m for m in alice.messages_shown() if "not back in the collaboration session" in m]
    assert len(told) == 1 and "ended" in told[0], alice.messages_shown()
    alice.type_at_end(a, "solo = True\n")  # the editor goes on alone
    alice.pump(0.3)
    assert alice.texts[a] == "kept = True\nsolo = True\n" and not alice.pipe.server_requests
