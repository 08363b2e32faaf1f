"""Agents in the editor, through the real `codeforge lsp` (pytest-lsp over stdio) and a live
platform whose model is a ReplayServer scripted to fix a fixture bug: the code actions a source
file gets, "Fix with agent" run with `$/progress`, its change set offered as a
`workspace/applyEdit` whose edits need confirmation; applied ⇒ the file is fixed and its test
passes, refused ⇒ untouched; undo restores; a run that changes nothing says why; cancel stops
it; bad arguments are named."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.lsp.capabilities.agents.actions import comment_block, definition_name, pytest_id
from codeforge.lsp.capabilities.agents.edits import line_edits
from codeforge.platform.agents.replay import ReplayServer, Turn
from tests.conftest import RunningPlatform, start_platform
from tests.lsp.conftest import open_document, run, start_client, stop_client, wait_until

BUGGY = "def add(a, b):\n    return a - b\n\n\ndef double(x):\n    return add(x, x)\n"
FIXED = BUGGY.replace("return a - b", "return a + b")
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
DIAGNOSTIC = "test_add failed: assert add(2, 3) == 5 (add returned -1)"
SUMMARY = "add() subtracted; it adds now"
FIX_TURNS: list[Turn] = [
    {"tool_calls": [{"name": "read_file", "arguments": {"path": "calc.py"}}]},
    {
        "tool_calls": [
            {"name": "edit", "arguments": {"path": "calc.py", "search": "return a - b", "replace": "return a + b"}}
        ]
    },
    {"tool_calls": [{"name": "finish", "arguments": {"summary": SUMMARY}}]},
]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("projects")


@pytest.fixture(scope="module")
def agents_platform(tmp_path_factory: pytest.TempPathFactory, projects: Path) -> Iterator[RunningPlatform]:
    """A platform whose projects' folder holds the workspaces; the sandbox's `python` is this
    interpreter's (with pytest), as a developer's PATH would have it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    running = start_platform(tmp_path_factory.mktemp("platform"), CODEFORGE_PROJECTS_ROOT=str(projects), PATH=path)
    yield running
    running.stop()


@pytest.fixture
def replay(agents_platform: RunningPlatform) -> Iterator[list[ReplayServer]]:
    """Servers started by `_model`, stopped after the test."""
    servers: list[ReplayServer] = []
    yield servers
    for server in servers:
        server.stop()


def _model(platform: RunningPlatform, servers: list[ReplayServer], turns: list[Turn]) -> ReplayServer:
    """The project's model is a ReplayServer playing `turns`."""
    server = ReplayServer(turns)
    server.start()
    servers.append(server)
    with platform.client() as client:
        client.call(
            "agents.configure",
            {
                "project": platform.project,
                "base_url": server.base_url,
                "model": "replay-model",
                "api_key": "sk-test",
                "tools": True,
            },
        )
    return server


@pytest.fixture
def workspace(projects: Path, agents_platform: RunningPlatform, request: pytest.FixtureRequest) -> Path:
    folder = projects / request.node.name.replace("[", "_").replace("]", "")
    (folder / "tests").mkdir(parents=True)
    (folder / "codeforge.yaml").write_text(f"project: {agents_platform.project}\n")
    (folder / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (folder / "calc.py").write_text(BUGGY)
    (folder / "tests" / "test_calc.py").write_text(TEST)
    return folder


def _uri_path(uri: str) -> Path:
    from pygls.uris import to_fs_path

    return Path(to_fs_path(uri) or uri)


def _offset(text: str, position: types.Position) -> int:
    lines = text.splitlines(keepends=True)
    if position.line >= len(lines):
        return len(text)
    return sum(len(line) for line in lines[: position.line]) + position.character  # ASCII fixtures: UTF-16 = str


def _apply_text(text: str, edits: list[Any]) -> str:
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: _offset(text, edit.range.start)] + edit.new_text + text[_offset(text, edit.range.end) :]
    return text


@dataclass
class Editor:
    """The editor's side of workspace/applyEdit: the person's answer, what was asked, and the
    edit applied (then saved) as an editor does."""

    answer: bool = True
    only: str = ""  # apply only the changes of files whose path ends so (a partly ticked preview)
    choose: str = ""  # the action to pick in a window/showMessageRequest
    asked: list[types.ApplyWorkspaceEditParams] = field(default_factory=list)
    requests: list[types.ShowMessageRequestParams] = field(default_factory=list)

    def apply(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.asked.append(params)
        confirm = any(a.needs_confirmation for a in (params.edit.change_annotations or {}).values())
        if confirm and not self.answer:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="the person refused the change")
        for change in params.edit.document_changes or []:
            uri = change.text_document.uri if isinstance(change, types.TextDocumentEdit) else change.uri
            if self.only and not uri.endswith(self.only):
                continue
            if isinstance(change, types.CreateFile):
                _uri_path(change.uri).write_text("")
            elif isinstance(change, types.DeleteFile):
                _uri_path(change.uri).unlink()
            elif isinstance(change, types.TextDocumentEdit):
                path = _uri_path(change.text_document.uri)
                path.write_text(_apply_text(path.read_text(), list(change.edits)))
        return types.ApplyWorkspaceEditResult(applied=True)


@pytest_asyncio.fixture
async def editor(agents_platform: RunningPlatform, workspace: Path) -> AsyncIterator[tuple[LanguageClient, Editor]]:
    client = await start_client(agents_platform.env, workspace)
    person = Editor()

    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        return person.apply(params)

    client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)

    def message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        person.requests.append(params)
        return next((a for a in params.actions or [] if a.title == person.choose), None)

    client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(message_request)
    yield client, person
    await stop_client(client)


def _tests_pass(folder: Path) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _show(platform: RunningPlatform, run_id: str) -> Any:
    with platform.client() as client:
        return client.call("agents.show", {"run": run_id})


def _states(run: Any) -> list[str]:
    return [h.state for f in run.changes for h in f.hunks]


async def _code_actions(
    client: LanguageClient,
    uri: str,
    start: tuple[int, int],
    end: tuple[int, int],
    diagnostics: list[types.Diagnostic] | None = None,
) -> list[types.CodeAction]:
    got = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(*start), end=types.Position(*end)),
            context=types.CodeActionContext(diagnostics=diagnostics or []),
        )
    )
    return [a for a in got or [] if isinstance(a, types.CodeAction)]


def _diagnostic() -> types.Diagnostic:
    """What a test runner's language server reports on the buggy line."""
    return types.Diagnostic(
        range=types.Range(start=types.Position(1, 4), end=types.Position(1, 16)),
        message=DIAGNOSTIC,
        source="pytest",
        severity=types.DiagnosticSeverity.Error,
    )


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_fix_with_agent_applied_then_undone(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    client, person = editor
    _model(agents_platform, replay, FIX_TURNS)
    assert not _tests_pass(workspace)
    uri = open_document(client, workspace / "calc.py", BUGGY, "python")
    actions = await _code_actions(client, uri, (1, 4), (1, 4), [_diagnostic()])
    fix = next(a for a in actions if a.title.startswith("Fix with agent"))
    assert fix.title == f"Fix with agent: {DIAGNOSTIC}"
    assert fix.kind == types.CodeActionKind.QuickFix and fix.diagnostics and fix.diagnostics[0].message == DIAGNOSTIC
    assert fix.command is not None and fix.command.command == "codeforge.agents.fix"

    result = await run(client, fix.command.command, *(fix.command.arguments or []))

    assert result["applied"] is True and result["files"] == ["calc.py"], result
    # The job showed as cancellable progress, begun and ended.
    tokens = [t for t in client.progress_reports if str(t).startswith("codeforge/job/")]
    assert tokens, "no $/progress for the agent's job"
    reports = client.progress_reports[tokens[-1]]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable is True
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    # One edit, annotated, needing confirmation, for the open buffer's version.
    (asked,) = person.asked
    (change,) = asked.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == 1
    annotations = asked.edit.change_annotations or {}
    assert len(annotations) == 1
    (annotation,) = annotations.values()
    assert annotation.needs_confirmation is True
    assert annotation.label == "bug_fixer: calc.py" and annotation.description == SUMMARY
    assert all(isinstance(e, types.AnnotatedTextEdit) and e.annotation_id in annotations for e in change.edits)
    # Applied: the file is fixed, its test passes, the platform recorded it without writing.
    assert (workspace / "calc.py").read_text() == FIXED
    assert _tests_pass(workspace)
    shown = _show(agents_platform, result["run"])
    assert _states(shown) == ["accepted"]
    await wait_until(lambda: any("undo" in m.message and result["run"] in m.message for m in client.messages))

    # Undo: the reverse edit, applied by the editor with no question; the platform records it.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=FIXED)],
        )
    )
    await run(client, "codeforge.agents.undo", {"run": result["run"]})
    undo = person.asked[-1]
    assert not any(a.needs_confirmation for a in (undo.edit.change_annotations or {}).values())
    assert (workspace / "calc.py").read_text() == BUGGY
    assert not _tests_pass(workspace)
    assert _states(_show(agents_platform, result["run"])) == ["undone"]
    # Nothing accepted is left to undo.
    with pytest.raises(JsonRpcException, match="no accepted change"):
        await run(client, "codeforge.agents.undo", {"run": result["run"]})


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_refused_change_leaves_the_file(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    client, person = editor
    person.answer = False
    _model(agents_platform, replay, FIX_TURNS)
    uri = (workspace / "calc.py").as_uri()  # not open: the change is made against the disk
    result = await run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC})
    assert result["applied"] is False and len(person.asked) == 1
    (change,) = person.asked[0].edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version is None
    assert (workspace / "calc.py").read_text() == BUGGY
    assert _states(_show(agents_platform, result["run"])) == ["rejected"]
    await wait_until(lambda: any("not applied" in m.message for m in client.messages))
    # The proposed change can still be reviewed with comments (collab's review of a change set).
    review = await run(client, "codeforge.collab.review", {"run": result["run"]})
    assert review["base_ref"] == f"agent run {result['run']}" and review["title"].startswith("Agent bug_fixer")
    ((path, lines),) = [(f["path"], h["lines"]) for f in review["files"] for h in f["hunks"]]
    assert path == "calc.py" and "-    return a - b" in lines and "+    return a + b" in lines


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_a_partly_applied_change_accepts_only_what_the_editor_applied(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    client, person = editor
    person.only = "/calc.py"  # the person unticked the test file in the preview
    note = {"path": "tests/test_calc.py", "search": "def test_add():", "replace": "def test_add():  # the sum"}
    turns: list[Turn] = [FIX_TURNS[1], {"tool_calls": [{"name": "edit", "arguments": note}]}, FIX_TURNS[2]]
    _model(agents_platform, replay, turns)
    uri = (workspace / "calc.py").as_uri()
    result = await run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC})
    assert result["applied"] is True
    assert (workspace / "calc.py").read_text() == FIXED and (workspace / "tests" / "test_calc.py").read_text() == TEST
    shown = _show(agents_platform, result["run"])
    assert {f.path: [h.state for h in f.hunks] for f in shown.changes} == {
        "calc.py": ["accepted"],
        "tests/test_calc.py": ["rejected"],
    }


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_the_change_goes_where_the_open_buffer_has_its_lines(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    """The person typed above the function since the run copied the folder: the edit is made
    for the buffer's text (its line moved down by two), not for the disk's."""
    client, person = editor
    _model(agents_platform, replay, FIX_TURNS)
    uri = open_document(client, workspace / "calc.py", BUGGY, "python")
    moved = "import math\n\n" + BUGGY

    # The run sees the disk; the buffer changes before the edit is built (the run takes turns).
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=moved)],
        )
    )
    person.answer = False  # only the edit is looked at
    await run(client, "codeforge.agents.fix", {"uri": uri, "line": 3, "message": DIAGNOSTIC})
    (change,) = person.asked[0].edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 2
    assert _apply_text(moved, list(change.edits)) == "import math\n\n" + FIXED


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\nb\n", "a\nc\n"),
        ("a\nb\n", "a\nb\nc\n"),  # after the last line: made as a replacement of it (Neovim)
        ("a\nb", "a\nc"),  # no final newline
        ("a\nb", "a\nb\nc"),
        ("", "x\n"),
        ("a\n", ""),
        ("a\r\nb\r\n", "a\r\nB\r\nc\r\n"),
        ("a\nb\nc\nd\n", "a\nB\nc\nD\nE\n"),
    ],
)
def test_line_edits_turn_old_into_new(old: str, new: str) -> None:
    edits = line_edits(old, new, len)
    assert _apply_text(old, edits) == new
    assert all(e.range.start.line < max(len(old.splitlines()), 1) for e in edits), "an edit past the last line"


def test_test_ids_and_comment_blocks() -> None:
    lines = [
        "import x",
        "class TestA:",
        "    def test_b(self):",
        "        def test_inner(): pass",
        "def test_c():",
        "def helper():",
    ]
    ids = [pytest_id(lines, i, "tests/test_x.py") for i in range(len(lines))]
    assert ids == [None, None, "tests/test_x.py::TestA::test_b", None, "tests/test_x.py::test_c", None]
    assert pytest_id(lines, 4, "calc.py") is None
    source = ["#!/usr/bin/env python", "# Parse the date", "# in ISO form.", "x = 1  # not a block", "# type: ignore"]
    assert comment_block(source, 2, ".py") == (1, 2, "Parse the date\nin ISO form.")
    assert comment_block(source, 0, ".py") is None and comment_block(source, 4, ".py") is None
    assert comment_block(["#include <x.h>", "// add a cache"], 0, ".c") is None
    assert comment_block(["#include <x.h>", "// add a cache"], 1, ".c") == (1, 1, "add a cache")
    assert [
        definition_name(t) for t in ["export async function f() {", "func (s *S) G() {", "pub fn h()", "x = 1"]
    ] == [
        "f",
        "G",
        "h",
        None,
    ]


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_a_line_edited_meanwhile_is_a_conflict(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    """The person changed the very line the agent changes: nothing is offered, the error names
    the file, and the run keeps its change undecided (the CLI can still accept it)."""
    client, person = editor
    _model(agents_platform, replay, FIX_TURNS)
    uri = open_document(client, workspace / "calc.py", BUGGY, "python")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=BUGGY.replace("a - b", "b - a"))],
        )
    )
    with pytest.raises(JsonRpcException, match=r"calc\.py changed where the agent's change goes") as info:
        await run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC})
    assert "Fix:" in str(info.value)
    assert person.asked == [] and (workspace / "calc.py").read_text() == BUGGY
    with agents_platform.client() as platform:
        (latest,) = platform.call("agents.list", {"project": agents_platform.project, "limit": 1}).items
    assert _states(_show(agents_platform, latest.id)) == ["pending"]


async def test_code_actions_offered(editor: tuple[LanguageClient, Editor], workspace: Path) -> None:
    client, _ = editor
    text = "# Add a subtract function\n# that takes two numbers.\n" + BUGGY
    uri = open_document(client, workspace / "calc.py", text, "python")
    ours = types.Diagnostic(
        range=types.Range(start=types.Position(3, 0), end=types.Position(3, 1)), message="x", source="codeforge"
    )

    def titles(actions: list[types.CodeAction]) -> list[str]:
        return [a.title for a in actions if "agent" in a.title or "comment describes" in a.title]

    assert titles(await _code_actions(client, uri, (2, 0), (2, 0))) == ["Write tests for `add` with agent"]
    assert titles(await _code_actions(client, uri, (0, 3), (0, 3))) == ["Build the feature this comment describes"]
    feature = next(a for a in await _code_actions(client, uri, (1, 0), (1, 0)) if "comment" in a.title)
    assert feature.command is not None and list(feature.command.arguments or []) == [
        {"uri": uri, "line": 0, "end_line": 1}
    ]
    assert titles(await _code_actions(client, uri, (3, 0), (5, 0))) == ["Refactor selection with agent"]
    assert titles(await _code_actions(client, uri, (3, 0), (3, 0), [ours])) == []  # the platform's own: no bug
    # A test in a test file: fix it (the agent runs it first), with its pytest id.
    test_uri = open_document(client, workspace / "tests" / "test_calc.py", TEST, "python")
    (fix,) = [a for a in await _code_actions(client, test_uri, (3, 0), (3, 0)) if "agent" in a.title]
    assert fix.title == "Fix failing test `test_add` with agent" and fix.command is not None
    assert list(fix.command.arguments or []) == [{"uri": test_uri, "line": 3, "test": "tests/test_calc.py::test_add"}]
    # Not in codeforge.yaml.
    yaml_uri = (workspace / "codeforge.yaml").as_uri()
    assert titles(await _code_actions(client, yaml_uri, (0, 0), (0, 3), [_diagnostic()])) == []


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_a_run_that_changes_nothing_says_why(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    client, person = editor
    _model(agents_platform, replay, [{"tool_calls": [{"name": "finish", "arguments": {"summary": "nothing to do"}}]}])
    uri = (workspace / "calc.py").as_uri()
    result = await run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC})
    assert result["applied"] is False and result["files"] == [] and not result["resolved"]
    assert result["reason"], result
    assert person.asked == []
    await wait_until(lambda: bool(person.requests))
    offer = person.requests[0]
    assert "changed nothing" in offer.message and result["reason"] in offer.message
    assert [a.title for a in offer.actions or []] == ["Show transcript"]
    assert (workspace / "calc.py").read_text() == BUGGY


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_transcript_pane(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    """A run that changed nothing offers its transcript; chosen, the agent-run pane opens, as
    `codeforge.agents.transcript` opens it."""
    client, person = editor
    person.choose = "Show transcript"
    _model(agents_platform, replay, [{"tool_calls": [{"name": "finish", "arguments": {"summary": "nothing to do"}}]}])
    uri = (workspace / "calc.py").as_uri()
    result = await run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC})
    await wait_until(lambda: bool(client.shown_documents))
    link = await run(client, "codeforge.agents.transcript", {"run": result["run"]})
    assert "/panes/agent-run" in link["url"]
    await wait_until(lambda: len(client.shown_documents) == 2)
    assert all("/panes/agent-run" in d.uri and d.external is False for d in client.shown_documents)
    page = httpx.get(link["url"] + "&format=text", timeout=30)
    assert page.status_code == 200, page.text[:2000]
    assert "bug_fixer" in page.text and "not resolved" in page.text and "Transcript" in page.text, page.text[:2000]


@pytest.mark.slow  # an agent runs (a sandboxed copy, the model's turns)
async def test_cancel_stops_the_run(
    editor: tuple[LanguageClient, Editor], agents_platform: RunningPlatform, workspace: Path, replay: list[ReplayServer]
) -> None:
    client, person = editor
    _model(agents_platform, replay, [{"hang": True}])
    uri = (workspace / "calc.py").as_uri()
    task = asyncio.ensure_future(run(client, "codeforge.agents.fix", {"uri": uri, "line": 1, "message": DIAGNOSTIC}))
    await wait_until(lambda: any(str(t).startswith("codeforge/job/") for t in client.progress_reports))
    token = next(t for t in client.progress_reports if str(t).startswith("codeforge/job/"))
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    with pytest.raises(JsonRpcException, match="cancelled"):
        await task
    assert person.asked == [] and (workspace / "calc.py").read_text() == BUGGY


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("codeforge.agents.fix", {"uri": "CALC", "line": 1}, "message"),
    ("codeforge.agents.fix", {"uri": "CALC", "line": 99, "message": "m"}, "line"),
    ("codeforge.agents.fix", {"uri": "CALC", "line": -1, "message": "m"}, "line"),
    ("codeforge.agents.fix", {"uri": "CALC", "line": 3, "end_line": 1, "message": "m"}, "end_line"),
    ("codeforge.agents.fix", {"uri": "file:///etc/hostname", "line": 0, "message": "m"}, "uri"),
    ("codeforge.agents.fix", {"uri": "untitled:1", "line": 0, "message": "m"}, "uri"),
    ("codeforge.agents.fix", {"uri": "CALC", "line": 1, "message": "m", "colour": "red"}, "colour"),
    ("codeforge.agents.tests", {"uri": "CALC", "line": 1}, "line"),
    ("codeforge.agents.feature", {"uri": "CALC", "line": 0}, "line"),
    ("codeforge.agents.refactor", {"uri": "CALC", "line": 2, "end_line": 3}, "line"),
    ("codeforge.agents.undo", {"run": "not-a-run"}, "run"),
    ("codeforge.agents.transcript", {}, "run"),
]


async def test_bad_arguments_are_named(editor: tuple[LanguageClient, Editor], workspace: Path) -> None:
    client, person = editor
    calc = (workspace / "calc.py").as_uri()
    for command, argument, named in BAD_ARGUMENTS:
        given = {**argument, "uri": calc} if argument.get("uri") == "CALC" else argument
        with pytest.raises(JsonRpcInvalidParams) as info:
            await run(client, command, given)
        assert named in str(info.value), (command, given, info.value)
    assert person.asked == []
