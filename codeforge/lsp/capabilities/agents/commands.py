"""The agent commands code actions run, and undo and the transcript.

- `codeforge.agents.fix {uri, line, end_line?, message?, test?}` (Bug Fixer: a diagnostic's
  message, or a failing test id), `codeforge.agents.tests {uri, line}` (Test Writer: the
  definition on that line), `codeforge.agents.refactor {uri, line, end_line, message?}`
  (Refactor: the selected lines, `message` saying how), `codeforge.agents.feature {uri,
  line, end_line?, message?}` (Feature Builder: the comment block there). Lines are 0-based,
  as the editor's.

  Each calls `agents.start` (the session's workspace folder, the file's workspace-relative
  path, 1-based lines) and follows its job as `$/progress` (cancellable: the job stops, the
  run keeps no change set). A change set comes back as `workspace/applyEdit` whose edits need
  confirmation (`edits.py`): applied ⇒ `agents.accept {write: false}` (the editor changed the
  files), refused ⇒ `agents.reject`; either way the person is told the outcome, the cost and
  how to undo. A run that changed nothing says why and offers its transcript.
- `codeforge.agents.undo {run}`: the reverse of the run's accepted hunks, applied by the
  editor, then `agents.undo {write: false}`; `write: true` has the platform write the files
  itself (the catalog's `agents.undo`, whose command name this one takes in the editor).
- `codeforge.agents.transcript {run}`: the `agent-run` pane (`panes.open`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import Field, model_validator
from pygls.exceptions import JsonRpcException
from pygls.uris import to_fs_path

from codeforge import catalog
from codeforge.catalog.agents import ID_PATTERN
from codeforge.catalog.base import operation
from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, FieldProblem
from codeforge.lsp.capabilities.agents.actions import (
    FEATURE_COMMAND,
    FIX_COMMAND,
    REFACTOR_COMMAND,
    TESTS_COMMAND,
    comment_block,
    definition_name,
    workspace_folder,
)
from codeforge.lsp.capabilities.agents.edits import build_edit, landed_hunks, texts_now
from codeforge.lsp.capabilities.agents.run import RunView, read_run
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.commands import run_operation
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.reader import read_text
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "COMMANDS",
    "TRANSCRIPT_COMMAND",
    "UNDO_COMMAND",
    "AgentArguments",
    "RunArguments",
    "UndoArguments",
    "feature",
    "fix",
    "refactor",
    "tests",
    "transcript",
    "undo",
]

log = logging.getLogger(__name__)

UNDO_COMMAND = "codeforge.agents.undo"
TRANSCRIPT_COMMAND = "codeforge.agents.transcript"
RUN_PANE = "agent-run"
MAX_SELECTION_CHARS = 20_000  # of selected code quoted in a refactoring's task
SHOW_TRANSCRIPT = "Show transcript"
# How long the editor's text may lag its answer to applyEdit (its didChange comes after).
SETTLE_TRIES = 20
SETTLE_PAUSE_S = 0.05


class AgentArguments(CommandArguments):
    uri: str = Field(min_length=1, description="The file (a file: URI in the workspace).")
    line: int = Field(
        ge=0, description="0-based line: the diagnostic's, the definition's, the selection's or comment's first."
    )
    end_line: int | None = Field(default=None, ge=0, description="0-based last line (a selection, a comment block).")
    message: str | None = Field(
        default=None,
        min_length=1,
        max_length=20_000,
        description="What to do: the diagnostic's message, how to refactor.",
    )
    test: str | None = Field(default=None, min_length=1, max_length=500, description="A failing test id to make pass.")

    @model_validator(mode="after")
    def _ordered(self) -> AgentArguments:
        if self.end_line is not None and self.end_line < self.line:
            raise ValueError(f"end_line ({self.end_line}) is before line ({self.line})")
        return self


class UndoArguments(CommandArguments):
    """The catalog's `agents.undo` input: this command takes its name in the editor."""

    run: str = Field(pattern=ID_PATTERN, description="The run's id (agents.list).")
    write: bool = Field(default=False, description="Have the platform write the files itself instead of the editor.")


class RunArguments(CommandArguments):
    run: str = Field(pattern=ID_PATTERN, description="The run's id (agents.list).")
    project: str | None = Field(default=None, min_length=1, description="Default: the workspace's project.")


@dataclass(frozen=True)
class _Target:
    root: Path
    path: str  # workspace-relative, forward slashes
    lines: list[str]


def _warn(ls: CodeForgeSession, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))


def _root(ls: CodeForgeSession, path: str | None = None) -> Path:
    root = workspace_folder(ls, path)
    if root is None:
        raise BadInput("the editor opened no workspace folder", fix="open the project's folder in the editor")
    return root


def _target(ls: CodeForgeSession, args: AgentArguments) -> _Target:
    fs_path = to_fs_path(args.uri) if args.uri.startswith("file:") else None
    if not fs_path:
        raise BadInput(
            f"{args.uri} is not a file",
            errors=[FieldProblem("uri", "not a file: URI", "run the action in a file of the workspace")],
        )
    root = _root(ls, fs_path)
    try:
        relative = Path(fs_path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise BadInput(
            f"{fs_path} is outside the workspace {root}",
            errors=[
                FieldProblem("uri", "outside the workspace", "agents work on the files of the open workspace folder")
            ],
        ) from None
    lines = read_text(ls, args.uri).splitlines()
    last = max(len(lines) - 1, 0)
    for name, value in (("line", args.line), ("end_line", args.end_line)):
        if value is not None and value > last:
            raise BadInput(
                f"{relative} has {len(lines)} line(s); {name} {value} is past its end",
                errors=[FieldProblem(name, "past the end of the file", f"give a 0-based line up to {last}")],
            )
    return _Target(root, relative, lines)


def _project(ls: CodeForgeSession) -> str:
    project = ls.context_project()
    if not project:
        raise BadInput(
            "no project to run the agent in", fix="add `project: <slug>` to codeforge.yaml at the workspace root"
        )
    return project


async def _start(
    ls: CodeForgeSession, agent: str, args: AgentArguments, target: _Target, task: str, end_line: int | None
) -> dict[str, Any]:
    project = _project(ls)
    data: dict[str, Any] = {
        "project": project,
        "agent": agent,
        "task": task,
        "path": target.path,
        "line": args.line + 1,
        "workspace": str(target.root),
    }
    if end_line is not None:
        data["end_line"] = end_line + 1
    if args.test:
        data["test"] = args.test
    result = await call_operation(ls, operation("agents.start"), data)
    run = read_run(result)
    return await _deliver(ls, run, target.root)


def _supports_edits(ls: CodeForgeSession) -> bool:
    workspace = ls.client_capabilities.workspace
    edits = workspace.workspace_edit if workspace else None
    # Neovim 0.11 applies documentChanges without saying so; its resource operations imply them.
    return bool(workspace and workspace.apply_edit and edits and (edits.document_changes or edits.resource_operations))


async def _deliver(ls: CodeForgeSession, run: RunView, root: Path) -> dict[str, Any]:
    """Offer the run's change set for confirmation; accept or reject what the person chose."""
    answer: dict[str, Any] = {
        "run": run.id,
        "agent": run.agent,
        "resolved": run.resolved,
        "summary": run.summary,
        "reason": run.reason,
        "cost_usd": run.cost_usd,
        "files": [],
        "applied": False,
    }
    built = build_edit(ls, run, root) if any(f.open_hunks() for f in run.files) else None
    if built is None or not built.paths:
        why = run.reason or ("the agent finished without changing a file" if run.resolved else "no reason given")
        ls.spawn(_offer_transcript(ls, run, f"{run.agent} (run {run.id}) changed nothing: {why} ({run.cost})."))
        return answer
    answer["files"] = built.paths
    if not _supports_edits(ls):
        ls.info(
            f"{run.agent} (run {run.id}) proposes changes to {len(built.paths)} file(s) ({run.cost}); this editor cannot "
            f"preview them: accept with `codeforge agents accept {run.id}` or reject with `codeforge agents reject {run.id}`"
        )
        return answer
    params = types.ApplyWorkspaceEditParams(edit=built.edit, label=f"{run.agent}: {run.summary or 'proposed change'}")
    before = texts_now(ls, run, root)
    try:
        response = await ls.workspace_apply_edit_async(params)
    except JsonRpcException as exc:
        # The editor failed rather than refused: the run keeps its change for the CLI.
        _warn(
            ls,
            f"the editor could not show {run.agent}'s change ({exc}); the run {run.id} keeps it: "
            f"`codeforge agents accept {run.id}` or `codeforge agents reject {run.id}`",
        )
        return answer
    if response.applied:
        landed, left = await _landed(ls, run, root, before)
        await call_operation(ls, operation("agents.accept"), {"run": run.id, "write": False, "hunks": landed})
        if left:  # the person unticked these in the preview
            await call_operation(ls, operation("agents.reject"), {"run": run.id, "hunks": left})
        answer["applied"] = True
        ls.info(
            f"{run.agent} changed {', '.join(built.paths)}: {run.summary or 'done'} ({run.cost}; "
            f"{'resolved' if run.resolved else 'not resolved: ' + (run.reason or 'no reason given')}). "
            f"Undo with the command {UNDO_COMMAND} {{run: {run.id}}} (:CodeForge agents undo run={run.id})"
        )
    else:
        await call_operation(ls, operation("agents.reject"), {"run": run.id})
        reason = f" ({response.failure_reason})" if response.failure_reason else ""
        ls.info(f"{run.agent}'s change was not applied{reason}: run {run.id} rejected, no file changed ({run.cost})")
    return answer


async def _landed(
    ls: CodeForgeSession, run: RunView, root: Path, before: dict[str, str | None]
) -> tuple[list[str], list[str]]:
    """Which hunks the editor applied. Its didChange may reach us just after its answer, so
    the text is read again for a moment; an editor whose text we never see changed (it keeps
    files we are not told of) is taken at its word: all of them."""
    for _ in range(SETTLE_TRIES):
        landed, left = landed_hunks(ls, run, root, before)
        if landed:
            return landed, left
        await asyncio.sleep(SETTLE_PAUSE_S)
    return landed + left, []


async def _offer_transcript(ls: CodeForgeSession, run: RunView, message: str) -> None:
    """Say why nothing changed and offer the run's transcript."""
    try:
        chosen = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=f"{message} See its transcript with {TRANSCRIPT_COMMAND} {{run: {run.id}}}.",
                actions=[types.MessageActionItem(title=SHOW_TRANSCRIPT)],
            )
        )
    except JsonRpcException as exc:  # a client without showMessageRequest: the text is enough
        log.info("the editor did not offer the transcript: %s", exc)
        return
    if chosen is not None and chosen.title == SHOW_TRANSCRIPT:
        try:
            await run_operation(ls, catalog.panes.OPEN, {"pane": RUN_PANE, "item": run.id})
        except CodeForgeError as exc:
            _warn(ls, f"could not open the transcript of run {run.id}: {exc.message}")


@lsp_command(FIX_COMMAND, AgentArguments)
async def fix(ls: CodeForgeSession, args: AgentArguments) -> dict[str, Any]:
    if not (args.message or args.test):
        raise BadInput(
            f"{FIX_COMMAND} needs what to fix",
            errors=[
                FieldProblem("message", "missing", "pass the diagnostic's message (or `test`, a failing test's id)")
            ],
        )
    target = _target(ls, args)
    where = f"{target.path}:{args.line + 1}"
    parts = []
    if args.message:
        parts.append(f"Fix this problem reported at {where}: {args.message}")
    if args.test:
        parts.append(f"Make the failing test {args.test} pass" + ("" if args.message else f" (see {where})"))
    return await _start(ls, "bug_fixer", args, target, "\n".join(parts), args.end_line)


@lsp_command(TESTS_COMMAND, AgentArguments)
async def tests(ls: CodeForgeSession, args: AgentArguments) -> dict[str, Any]:
    target = _target(ls, args)
    name = definition_name(target.lines[args.line]) if target.lines else None
    if name is None:
        raise BadInput(
            f"line {args.line} of {target.path} defines nothing",
            errors=[FieldProblem("line", "no def, class, function, func or fn there", "run it on a definition's line")],
        )
    task = f"Write tests for `{name}` (defined at {target.path}:{args.line + 1})" + (
        f": {args.message}" if args.message else ""
    )
    return await _start(ls, "test_writer", args, target, task, None)


@lsp_command(REFACTOR_COMMAND, AgentArguments)
async def refactor(ls: CodeForgeSession, args: AgentArguments) -> dict[str, Any]:
    target = _target(ls, args)
    end = args.end_line if args.end_line is not None else args.line
    selected = "\n".join(target.lines[args.line : end + 1])
    if not selected.strip():
        raise BadInput(
            f"lines {args.line}-{end} of {target.path} are empty",
            errors=[FieldProblem("line", "nothing selected", "select the code to refactor")],
        )
    how = args.message or "make it clearer and simpler"
    task = (
        f"Refactor lines {args.line + 1}-{end + 1} of {target.path} ({how}), keeping its behaviour and the tests "
        f"passing. The selected code:\n{selected[:MAX_SELECTION_CHARS]}"
    )
    return await _start(ls, "refactor", args, target, task, end)


@lsp_command(FEATURE_COMMAND, AgentArguments)
async def feature(ls: CodeForgeSession, args: AgentArguments) -> dict[str, Any]:
    target = _target(ls, args)
    block = comment_block(target.lines, args.line, Path(target.path).suffix)
    if block is None and not args.message:
        raise BadInput(
            f"line {args.line} of {target.path} is no comment",
            errors=[
                FieldProblem(
                    "line", "no comment there", "run it on a comment that describes the feature, or pass `message`"
                )
            ],
        )
    first, last, prose = block if block is not None else (args.line, args.end_line or args.line, "")
    description = args.message or prose
    task = f"Build the feature described at {target.path}:{first + 1}, with tests:\n{description}"
    return await _start(ls, "feature_builder", args, target, task, last)


@lsp_command(UNDO_COMMAND, UndoArguments)
async def undo(ls: CodeForgeSession, args: UndoArguments) -> dict[str, Any]:
    if args.write:
        written: dict[str, Any] = await call_operation(ls, operation("agents.undo"), {"run": args.run, "write": True})
        return written
    run = read_run(await call_operation(ls, operation("agents.show"), {"run": args.run}))
    root = Path(run.workspace) if run.workspace else _root(ls)
    built = build_edit(ls, run, root, undo=True)
    if not built.paths:
        raise Conflict(
            f"run {run.id} has no accepted change to undo",
            fix="accept a run's change first (agents.list shows their states)",
        )
    if not _supports_edits(ls):
        raise BadInput("this editor cannot apply workspace edits", fix=f"undo with `codeforge agents undo {run.id}`")
    response = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=built.edit, label=f"Undo {run.agent} (run {run.id})")
    )
    if not response.applied:
        raise Conflict(
            f"the editor did not undo run {run.id}"
            + (f": {response.failure_reason}" if response.failure_reason else ""),
            fix=f"save or close the changed files and try again, or `codeforge agents undo {run.id}`",
        )
    undone: dict[str, Any] = await call_operation(ls, operation("agents.undo"), {"run": run.id, "write": False})
    ls.info(f"Undid {run.agent}'s change to {', '.join(built.paths)} (run {run.id})")
    return undone


@lsp_command(TRANSCRIPT_COMMAND, RunArguments)
async def transcript(ls: CodeForgeSession, args: RunArguments) -> dict[str, Any]:
    data: dict[str, Any] = {"pane": RUN_PANE, "item": args.run}
    if args.project:
        data["project"] = args.project
    opened: dict[str, Any] = await run_operation(ls, catalog.panes.OPEN, data)
    return opened


COMMANDS = (fix, tests, refactor, feature, undo, transcript)
