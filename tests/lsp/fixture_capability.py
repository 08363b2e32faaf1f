"""A capability added to the language server without editing any shared file: a module
with `contribute(c)`, loaded with `serve_stdio(extra_capabilities=[...])`. It subscribes to
every document event, checks codeforge.yaml, offers a quick fix for its diagnostic and has
a command, and reports what it saw with window/logMessage so a test client can check it."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import (
    CodeActionProvider,
    CodeActionRequest,
    Contributions,
    DocumentEvent,
    DocumentSubscriber,
    ProjectFileCheck,
    ProjectFileView,
)
from codeforge.lsp.session import CodeForgeSession

PREFIX = "[fixture]"


def _log(ls: CodeForgeSession, message: str) -> None:
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=f"{PREFIX} {message}"))


def _on_event(ls: CodeForgeSession, event: DocumentEvent) -> None:
    edits = ""
    if event.kind == "change":
        changes = event.params.content_changes
        edits = " " + ",".join(
            "range" if isinstance(c, types.TextDocumentContentChangePartial) else "whole" for c in changes
        )
    text = ls.workspace.get_text_document(event.uri).source if event.kind != "close" else ""
    _log(ls, f"{event.kind}{edits} lines={len(text.splitlines())}")


def _diagnose(ls: CodeForgeSession, view: ProjectFileView) -> list[types.Diagnostic]:
    if view.model is None or "FIXTURE_FLAG" not in view.model.env:
        return []
    return [
        view.diagnostic(
            ("env", "FIXTURE_FLAG"),
            "the fixture capability saw FIXTURE_FLAG",
            key=True,
            code="fixture-flag",
            data={"name": "FIXTURE_FLAG"},
        )
    ]


def _fixes(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    return [
        types.CodeAction(
            title="Fixture fix",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[d],
            command=types.Command(title="Fixture fix", command="codeforge.fixture.echo", arguments=[{"word": "fixed"}]),
        )
        for d in request.ours("fixture-flag")
    ]


class EchoArguments(CommandArguments):
    word: str


@lsp_command("codeforge.fixture.echo", EchoArguments)
async def echo(ls: CodeForgeSession, args: EchoArguments) -> dict[str, Any]:
    return {"echo": args.word}


def contribute(c: Contributions) -> None:
    c.add(
        DocumentSubscriber("fixture events", _on_event),
        ProjectFileCheck("fixture check", _diagnose),
        CodeActionProvider("fixture fixes", (types.CodeActionKind.QuickFix.value,), _fixes),
        echo,
    )
