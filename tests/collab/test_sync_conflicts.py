"""File-sync conflicts on files shared in a collaboration room reach the room's three-way view.

Real parts throughout: a `codeforge bridge` process on a workspace, `codeforge connect --sync
DIR --once` as the machine the workspace is synced with, and `codeforge connect` relays with
editor-like LSP clients in a session. A file changed both in the session (saved) and on the
synced machine since their last sync is a conflict for file sync; with the file open in a
room, its participants get `codeforge/collab/conflict` (origin "sync": base the last synced
text, ours the session's, theirs the synced machine's), the room keeps its text until someone
chooses, and `codeforge.collab.resolveConflict` applies the choice for everyone, saves it and
removes sync's copy, so the next sync carries the choice over without a new conflict.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.conftest import BridgeProcess, member_token
from tests.collab.lsp_helpers import Editor, converge
from tests.collab.test_lsp_sync import Team
from tests.conftest import ROOT, RunningPlatform

CONFLICT = "codeforge/collab/conflict"
BASE = "def total(items):\n    return sum(items)\n\n\nLIMIT = 10\n"


@pytest.fixture(scope="module")
def tokens(live_platform: RunningPlatform) -> dict[str, str]:
    return {"alice": live_platform.token, "bob": member_token(live_platform, "bob", "developer")}


@pytest.fixture
def team(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tokens: dict[str, str], tmp_path: Path
) -> Iterator[Team]:
    made = Team(live_bridge, live_platform, tokens, tmp_path)
    yield made
    made.stop()


def _sync_once(bridge: BridgeProcess, platform: RunningPlatform, local: Path) -> str:
    """`codeforge connect URL --sync LOCAL --once`: what it said (stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", bridge.url, "--sync", str(local), "--once"],
        env=platform.env, capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


def _copies(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.conflict-workspace-*"))


def _save_and_wait(editor: Editor, uri: str, path: Path) -> None:
    editor.save(uri)
    deadline = time.monotonic() + 60
    while path.read_text() != editor.texts[uri]:
        assert time.monotonic() < deadline, f"{path.name} was not saved: {path.read_text()!r}"
        editor.pump(0.05)


def _in_sync(bridge: BridgeProcess, team: Team, name: str, text: str, tmp_path: Path) -> tuple[Path, Path]:
    """The workspace's file `name` with `text`, synced once to a fresh local folder."""
    path = bridge.folder / name
    path.write_text(text)
    local = tmp_path / "laptop"
    local.mkdir()
    _sync_once(bridge, team.platform, local)
    assert (local / name).read_text() == text
    return path, local


def test_a_sync_conflict_on_a_shared_file_is_resolved_in_the_room_and_synced_back(team: Team, tmp_path: Path) -> None:
    name = "sync_conflict.py"
    path, local = _in_sync(team.bridge, team, name, BASE, tmp_path)
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    a, b = alice.open(path), bob.open(path)
    assert converge([(alice, a), (bob, b)]) == BASE
    # In the session: a line added and saved, then more typed and not saved.
    alice.insert(a, 0, "# total of a basket 🧺\n")
    converge([(alice, a), (bob, b)])
    _save_and_wait(alice, a, path)
    saved = alice.texts[a]
    bob.insert(b, bob.texts[b].index("LIMIT = 10") + len("LIMIT = 10"), "  # ours 😀")
    bob.insert(b, bob.texts[b].index("def total"), "DEFAULT = 3\n")
    ours = converge([(alice, a), (bob, b)])
    # On the synced machine meanwhile: line 2 changed, and a note where bob put his.
    theirs = BASE.replace("return sum(items)", "return sum(items) if items else 0  # 中文").replace(
        "LIMIT = 10", "LIMIT = 10  # theirs 中文"
    )
    (local / name).write_text(theirs)
    said = _sync_once(team.bridge, team.platform, local)
    assert "changed on both sides" in said, said
    # Both participants get the three-way view: base the last synced text, ours the room's
    # (its unsaved edits too), theirs the synced machine's.
    conflict = alice.notification(CONFLICT, lambda p: p["uri"] == a)
    assert (conflict["origin"], conflict["base"], conflict["ours"], conflict["theirs"]) == ("sync", BASE, ours, theirs)
    assert "file sync" in conflict["message"] and conflict["copy"].startswith(f"{name}.conflict-workspace-")
    assert bob.notification(CONFLICT)["id"] == conflict["id"]
    # Sync kept the workspace's saved version aside and wrote the other machine's at the name,
    # but the room did not take that write as an edit: it waits for a person.
    assert [p.name for p in _copies(team.bridge.folder, name)] == [conflict["copy"]]
    assert (team.bridge.folder / conflict["copy"]).read_text() == saved
    assert path.read_text() == theirs
    for editor in (alice, bob):
        editor.pump(1.0)  # past the workspace watcher's 400 ms debounce: no edit comes
    assert alice.texts[a] == bob.texts[b] == ours
    # bob keeps both: both sides of the clash, and every change that did not clash.
    resolved = bob.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "both"})
    assert resolved == {"resolved": conflict["id"], "uri": b, "saved": True, "copyRemoved": conflict["copy"]}
    chosen = converge([(alice, a), (bob, b)])
    assert chosen == (
        "# total of a basket 🧺\nDEFAULT = 3\ndef total(items):\n    return sum(items) if items else 0  # 中文\n\n\n"
        "LIMIT = 10  # ours 😀  # theirs 中文\n"
    )
    assert path.read_text() == chosen  # saved, for the sync
    assert _copies(team.bridge.folder, name) == []
    # The next sync takes the choice to the other machine and deletes its copy: no new conflict.
    said = _sync_once(team.bridge, team.platform, local)
    assert "changed on both sides" not in said, said
    assert (local / name).read_text() == chosen
    assert _copies(local, name) == []
    again = alice.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "ours"}, raw=True)
    assert "no open conflict" in again["error"]["message"]


def test_ours_keeps_the_room_text_and_a_guest_may_not_choose(
    team: Team, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    name = "sync_conflict_ours.py"
    path, local = _in_sync(team.bridge, team, name, BASE, tmp_path)
    alice, guest = team.session("guest", "bob")
    a, g = alice.open(path), guest.open(path)
    converge([(alice, a), (guest, g)])
    alice.replace(a, BASE.index("10"), BASE.index("10") + 2, "20")
    converge([(alice, a), (guest, g)])
    _save_and_wait(alice, a, path)
    ours = alice.texts[a]
    (local / name).write_text(BASE.replace("10", "30"))
    _sync_once(team.bridge, live_platform, local)
    conflict = guest.notification(CONFLICT, lambda p: p["uri"] == g)
    assert conflict["origin"] == "sync" and conflict["ours"] == ours
    refused = guest.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "theirs"}, raw=True)
    assert "may not change" in refused["error"]["message"]
    alice.notification(CONFLICT, lambda p: p["id"] == conflict["id"])
    resolved = alice.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "ours"})
    assert resolved["saved"] is True and resolved["copyRemoved"] == conflict["copy"]
    assert converge([(alice, a), (guest, g)]) == ours == path.read_text()
    _sync_once(team.bridge, live_platform, local)
    assert (local / name).read_text() == ours and _copies(local, name) == []


def test_a_copy_changed_meanwhile_is_kept_and_a_file_in_no_room_keeps_both_as_before(
    team: Team, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    name, alone = "sync_conflict_copy.py", "sync_conflict_alone.py"
    path, local = _in_sync(team.bridge, team, name, BASE, tmp_path)
    (team.bridge.folder / alone).write_text(BASE)
    _sync_once(team.bridge, live_platform, local)
    (alice,) = team.session("navigator")
    a = alice.open(path)
    converge([(alice, a)])
    alice.type_at_end(a, "X = 1\n")
    converge([(alice, a)])
    _save_and_wait(alice, a, path)
    (team.bridge.folder / alone).write_text(BASE + "WORKSPACE = 1\n")  # no room on it
    (local / name).write_text(BASE + "Y = 2\n")
    (local / alone).write_text(BASE + "LOCAL = 1\n")
    said = _sync_once(team.bridge, live_platform, local)
    assert said.count("changed on both sides") == 2, said
    conflict = alice.notification(CONFLICT, lambda p: p["uri"] == a)
    # The file in no room: sync's rule as before (the synced machine's at the name, a copy).
    assert (team.bridge.folder / alone).read_text() == BASE + "LOCAL = 1\n"
    assert [p.read_text() for p in _copies(team.bridge.folder, alone)] == [BASE + "WORKSPACE = 1\n"]
    # Someone edits sync's copy before the choice: it is theirs to keep.
    copy = team.bridge.folder / conflict["copy"]
    copy.write_text(copy.read_text() + "# kept by hand\n")
    resolved = alice.command("codeforge.collab.resolveConflict", {"id": conflict["id"], "choice": "theirs"})
    assert resolved["saved"] is True and resolved["copyRemoved"] is None
    assert converge([(alice, a)]) == BASE + "Y = 2\n" == path.read_text()
    assert copy.exists()
