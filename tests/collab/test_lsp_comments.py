"""Review comments and reviews through the language server: a real `codeforge bridge`, the
real platform, `codeforge connect` relays with editor-like clients, real git. Threads stay on
their lines through edits above them made by any editor; a thread whose text was deleted
stays at its last known line and says so.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codeforge.lsp.capabilities.collab.review import parse_diff
from tests.bridge.conftest import BridgeProcess, member_token
from tests.collab.lsp_helpers import converge
from tests.collab.test_lsp_sync import Team
from tests.conftest import RunningPlatform

COMMENTS = "codeforge/collab/comments"
TEXT = "😀🎉 emoji line\n中文字符 CJK line\ne\u0301 combining\nplain target line\nlast line\n"


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


def _file(bridge: BridgeProcess, name: str, text: str = TEXT) -> Path:
    path = bridge.folder / name
    path.write_text(text)
    return path


def _thread(thread_id: str, **expected: Any) -> Callable[[dict[str, Any]], bool]:
    """A check: the comments notification shows the thread with these fields."""

    def check(params: dict[str, Any]) -> bool:
        for thread in params["threads"]:
            if thread["id"] == thread_id:
                return all(thread.get(k) == v for k, v in expected.items())
        return False

    return check


def _line_start(text: str, line: int) -> int:
    return sum(len(x) + 1 for x in text.split("\n")[:line])


def test_threads_keep_their_lines_through_edits_above_them(team: Team) -> None:
    path = _file(team.bridge, "comments_anchor.py")
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    a, b = alice.open(path), bob.open(path)
    assert converge([(alice, a), (bob, b)]) == TEXT
    made = alice.command("codeforge.collab.comment", {"uri": a, "line": 3, "body": "check this"})
    assert made["line"] == 3 and made["quote"] == "plain target line" and made["anchor"]
    thread = made["id"]
    seen = bob.notification(COMMENTS, _thread(thread, line=3, anchored=True))
    (shown,) = [t for t in seen["threads"] if t["id"] == thread]
    assert shown["comments"][0]["body"] == "check this" and shown["state"] == "open"
    # Two lines typed above by bob (after the emoji line): both editors see the thread move.
    bob.insert(b, _line_start(bob.texts[b], 1), "import os\nimport sys\n")
    converge([(alice, a), (bob, b)])
    alice.notification(COMMENTS, _thread(thread, line=5))
    bob.notification(COMMENTS, _thread(thread, line=5))
    # alice deletes the first line (the emoji one).
    alice.replace(a, 0, _line_start(alice.texts[a], 1), "")
    converge([(alice, a), (bob, b)])
    bob.notification(COMMENTS, _thread(thread, line=4))
    # The anchored line itself edited in its middle: the thread stays on it.
    text = bob.texts[b]
    bob.insert(b, text.index("target"), "edited ")
    converge([(alice, a), (bob, b)])
    alice.notification(COMMENTS, _thread(thread, line=4, anchored=True, detached=False))
    # The platform learns the new line (collab.move), so a later reader finds it there.
    deadline = time.monotonic() + 60
    while True:
        listed = alice.command("codeforge.collab.comments", {"path": "comments_anchor.py"})
        if [t["line"] for t in listed["items"] if t["id"] == thread] == [4]:
            break
        assert time.monotonic() < deadline, listed
        alice.pump(0.2)
    # An editor opening the file later gets the thread on its line at once.
    bob.close(b)
    b = bob.open(path, alice.texts[a])
    bob.notification(COMMENTS, _thread(thread, line=4))
    # The anchored line deleted: the thread stays at its last known line, and says so.
    text = alice.texts[a]
    alice.replace(a, _line_start(text, 4), _line_start(text, 5), "")
    converge([(alice, a), (bob, b)])
    gone = bob.notification(COMMENTS, _thread(thread, line=4, detached=True, anchored=False))
    assert "deleted" in next(t for t in gone["threads"] if t["id"] == thread)["note"]


def test_reply_resolve_and_reopen_reach_every_editor(team: Team) -> None:
    path = _file(team.bridge, "comments_states.py")
    alice, bob = team.session("navigator", "bob")
    a, b = alice.open(path), bob.open(path)
    converge([(alice, a), (bob, b)])
    thread = alice.command("codeforge.collab.comment", {"uri": a, "line": 1, "body": "why CJK?"})["id"]
    bob.notification(COMMENTS, _thread(thread, line=1))
    replied = bob.command("codeforge.collab.reply", {"thread": thread, "body": "to test"})
    assert [c["body"] for c in replied["comments"]] == ["why CJK?", "to test"]
    alice.notification(COMMENTS, lambda p: _thread(thread)(p) and len(p["threads"][0]["comments"]) == 2)
    resolved = alice.command("codeforge.collab.resolve", {"thread": thread, "body": "fine"})
    assert resolved["state"] == "resolved" and resolved["comments"][-1]["body"] == "fine"
    bob.notification(COMMENTS, _thread(thread, state="resolved"))
    assert bob.command("codeforge.collab.reopen", {"thread": thread})["state"] == "open"
    alice.notification(COMMENTS, _thread(thread, state="open"))


def _lines_above(text: str, line: int) -> int:
    """The string index of line `line`'s start (lines end at \\n; a \\r before it is the line's)."""
    return sum(len(x) + 1 for x in text.split("\n")[:line])


# A thread on line `line` of `text`; `edit(text)` is (start, end, new) made by the other editor
# above it; the thread is then on line `expected`.
SHOWN_CASES: dict[str, tuple[str, int, Callable[[str], tuple[int, int, str]], int]] = {
    "start of a line, lines added above": (
        TEXT,
        3,
        lambda text: (_lines_above(text, 1), _lines_above(text, 1), "import os\nimport sys\n"),
        5,
    ),
    "last line, no newline at the end": (
        "first\nsecond\nthe end 🎉",
        2,
        lambda text: (0, 0, "# added 😀\n"),
        3,
    ),
    "a line deleted above": (
        TEXT,
        3,
        lambda text: (_lines_above(text, 1), _lines_above(text, 2), ""),
        2,
    ),
    "CRLF line ends": (
        "one\r\ntwo 😀\r\nthree\r\nfour\r\n",
        2,
        lambda text: (_lines_above(text, 1), _lines_above(text, 1), "zero 中文\r\nand e\u0301\r\n"),
        4,
    ),
    "non-ASCII typed above, in the middle of a line": (
        TEXT,
        4,
        lambda text: (text.index("CJK"), text.index("CJK"), "𝄞 astral\n한국어 "),
        5,
    ),
}


@pytest.mark.parametrize("case", list(SHOWN_CASES))
def test_a_thread_stays_on_its_line_after_reply_resolve_and_reopen(team: Team, case: str) -> None:
    """The answer to a reply, resolve or reopen, and the notifications after it, show the
    thread where its anchor is now, not at the line the platform last heard of: the platform's
    line is set by `collab.move` (1 s after the last change, from one session per file), so it
    lags the text; here it is made to lag for sure by moving it back to the old line."""
    text, line, edit, expected = SHOWN_CASES[case]
    name = f"comments_shown_{list(SHOWN_CASES).index(case)}.py"
    path = _file(team.bridge, name, text)
    alice, bob = team.session("navigator", "bob", encodings={"alice": "utf-16", "bob": "utf-8"})
    a, b = alice.open(path, text), bob.open(path, text)  # (read_text() would turn \r\n into \n)
    assert converge([(alice, a), (bob, b)]) == text
    made = alice.command("codeforge.collab.comment", {"uri": a, "line": line, "body": "here"})
    thread = made["id"]
    bob.notification(COMMENTS, _thread(thread, line=line, anchored=True))
    bob.replace(b, *edit(bob.texts[b]))
    converge([(alice, a), (bob, b)])
    for editor in (alice, bob):
        editor.notification(COMMENTS, _thread(thread, line=expected, anchored=True))
    deadline = time.monotonic() + 60
    while [t["line"] for t in alice.command("codeforge.collab.comments", {"path": name})["items"]] != [expected]:
        assert time.monotonic() < deadline, "the platform never learnt the thread's new line"
        alice.pump(0.2)
    # The platform's line lags again (as it does for a second after every change).
    assert alice.command("codeforge.collab.move", {"thread": thread, "line": line})["line"] == line

    def everyone_shows(comments: int, **fields: Any) -> None:
        for editor in (alice, bob):
            seen = editor.notification(
                COMMENTS,
                lambda p: (
                    _thread(thread, **fields)(p)
                    and [len(t["comments"]) for t in p["threads"] if t["id"] == thread] == [comments]
                ),
            )
            (shown,) = [t for t in seen["threads"] if t["id"] == thread]
            assert shown["line"] == expected, (editor.name, shown)

    replied = bob.command("codeforge.collab.reply", {"thread": thread, "body": "answered"})
    assert replied["line"] == expected and len(replied["comments"]) == 2
    everyone_shows(2, state="open", anchored=True)
    resolved = alice.command("codeforge.collab.resolve", {"thread": thread, "body": "done"})
    assert (resolved["line"], resolved["state"], len(resolved["comments"])) == (expected, "resolved", 3)
    everyone_shows(3, state="resolved")
    reopened = bob.command("codeforge.collab.reopen", {"thread": thread})
    assert (reopened["line"], reopened["state"]) == (expected, "open")
    everyone_shows(3, state="open")
    # Nothing later puts it anywhere else (the platform is told the line again meanwhile).
    for editor in (alice, bob):
        editor.pump(0.3)
        for note in editor.pipe.notifications:
            if note.get("method") == COMMENTS:
                for shown in note["params"]["threads"]:
                    if shown["id"] == thread and len(shown["comments"]) == 3:
                        assert shown["line"] == expected, (editor.name, shown)


def test_a_comment_made_outside_a_session_shows_on_its_line_in_one(team: Team) -> None:
    path = _file(team.bridge, "comments_solo.py")
    solo = team.editor("bob")  # in no session: the thread is anchored in the file's room all the same
    s = solo.open(path)
    made = solo.command("codeforge.collab.comment", {"uri": s, "line": 2, "body": "solo note"})
    assert made["session"] is None and made["anchor"] and made["quote"] == "e\u0301 combining"
    missing = solo.command(
        "codeforge.collab.comment",
        {"uri": s.replace("comments_solo", "no_such_file"), "line": 0, "body": "x"},
        raw=True,
    )
    assert "not a file in the workspace" in missing["error"]["message"]
    (alice,) = team.session("navigator")
    a = alice.open(path)
    converge([(alice, a)])
    alice.notification(COMMENTS, _thread(made["id"], line=2, anchored=True))
    alice.insert(a, 0, "# header 🎉\n")
    alice.notification(COMMENTS, _thread(made["id"], line=3, anchored=True))


def test_bad_input_for_every_comment_command(team: Team) -> None:
    path = _file(team.bridge, "comments_bad.py")
    (alice,) = team.session("navigator")
    a = alice.open(path)
    converge([(alice, a)])
    line_count = TEXT.count("\n") + 1
    cases: list[tuple[str, Any, str]] = [
        ("codeforge.collab.comment", {"uri": a, "line": line_count, "body": "x"}, "past the end"),
        ("codeforge.collab.comment", {"uri": a, "line": -1, "body": "x"}, "line"),
        ("codeforge.collab.comment", {"uri": a, "line": 0, "body": ""}, "body"),
        ("codeforge.collab.comment", {"uri": a, "line": 0}, "body"),
        (
            "codeforge.collab.comment",
            {"uri": "file:///etc/hostname", "line": 0, "body": "x"},
            "not a file of the workspace",
        ),
        ("codeforge.collab.comment", {"uri": a, "line": 0, "body": "x", "review": "nope"}, "review"),
        ("codeforge.collab.comment", {"uri": a, "line": 0, "body": "x", "colour": "red"}, "colour"),
        ("codeforge.collab.comment", [a, 0, "x"], "one argument"),
        ("codeforge.collab.reply", {"thread": "abc", "body": "x"}, "thread"),
        ("codeforge.collab.reply", {"thread": "0" * 32}, "body"),
        ("codeforge.collab.reply", {"thread": "0" * 32, "body": "x"}, "no comment thread"),
        ("codeforge.collab.resolve", {"thread": "0" * 32}, "no comment thread"),
        ("codeforge.collab.reopen", {}, "thread"),
        ("codeforge.collab.review", {"ref": "-rf"}, "not a git ref"),
        ("codeforge.collab.review", {"ref": ""}, "ref"),
        ("codeforge.collab.review", {"ref": "HEAD", "title": ""}, "title"),
        ("codeforge.collab.review", {"ref": "HEAD", "run": "abc"}, "either ref or run"),
        ("codeforge.collab.review", {"run": "0" * 32}, "run"),
    ]
    for command, argument, says in cases:
        answer = alice.command(command, argument, raw=True)
        assert "error" in answer, (command, argument, answer)
        assert says in answer["error"]["message"].lower() or says in str(answer["error"].get("data")), (
            command,
            argument,
            answer["error"],
        )


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_review_of_the_workspaces_git_change_set(team: Team) -> None:
    folder = team.bridge.folder
    path = _file(team.bridge, "reviewed.py", "def f():\n    return 1\n\n\ndef g():\n    return 2\n")
    (alice,) = team.session("navigator")
    if not (folder / ".git").exists():
        answer = alice.command("codeforge.collab.review", {}, raw=True)
        assert "not a git repository" in answer["error"]["message"]
        _git(folder, "init", "-q", "-b", "main")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "base", "--allow-empty")
    answer = alice.command("codeforge.collab.review", {}, raw=True)
    assert "nothing to review" in answer["error"]["message"]
    answer = alice.command("codeforge.collab.review", {"ref": "no-such-branch"}, raw=True)
    assert "does not know the ref 'no-such-branch'" in answer["error"]["message"]
    # The change: a line edited in reviewed.py, a new file git does not track yet.
    path.write_text("def f():\n    return 10\n\n\ndef g():\n    return 2\n")
    (folder / "added 文件.py").write_text("print('new')\n")
    review = alice.command("codeforge.collab.review", {"title": "Return ten"})
    assert review["title"] == "Return ten" and review["base_ref"] == "HEAD" and review["state"] == "open"
    files = {f["path"]: f["hunks"] for f in review["files"]}
    assert set(files) == {"reviewed.py", "added 文件.py"}
    (hunk,) = files["reviewed.py"]
    assert "-    return 1" in hunk["lines"] and "+    return 10" in hunk["lines"]
    assert (hunk["new_start"], hunk["old_start"]) == (1, 1)
    assert files["added 文件.py"] == [
        {"old_start": 0, "old_lines": 0, "new_start": 1, "new_lines": 1, "lines": ["+print('new')"]}
    ]
    # A comment on the review's changed line shows on that line, with the review named.
    a = alice.open(path)
    converge([(alice, a)])
    thread = alice.command(
        "codeforge.collab.comment", {"uri": a, "line": 1, "body": "why ten?", "review": review["id"]}
    )
    assert thread["review"] == review["id"]
    alice.notification(COMMENTS, _thread(thread["id"], line=1, review=review["id"]))
    shown = alice.command("codeforge.collab.review_show", {"review": review["id"]})
    assert [t["id"] for t in shown["threads"]] == [thread["id"]]


def test_parse_diff_reads_quoted_paths_deletions_and_missing_newlines() -> None:
    diff = (
        'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\n'
        "index 1..2 100644\n"
        '--- "a/caf\\303\\251.txt"\n'
        '+++ "b/caf\\303\\251.txt"\n'
        "@@ -1 +1 @@\n"
        "-old\n"
        "\\ No newline at end of file\n"
        "+new\n"
        "diff --git a/gone.py b/gone.py\n"
        "deleted file mode 100644\n"
        "--- a/gone.py\n"
        "+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n"
        "-a\n"
        "-b\n"
        "diff --git a/img.png b/img.png\n"
        "Binary files a/img.png and b/img.png differ\n"
    )
    files = parse_diff(diff)
    assert [f.path for f in files] == ["café.txt", "gone.py"]
    assert files[0].hunks[0].lines == ["-old", "+new"]
    assert (files[1].hunks[0].old_lines, files[1].hunks[0].new_lines, files[1].hunks[0].lines) == (2, 0, ["-a", "-b"])
