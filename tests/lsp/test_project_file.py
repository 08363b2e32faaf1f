"""codeforge.yaml in the editor: diagnostics, completion, hover and the code action."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.lsp.conftest import open_document, request, run, shown, wait_until


def _save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def test_syntax_error_is_at_its_line(lsp: LanguageClient, workspace: Path) -> None:
    uri = open_document(lsp, workspace / "codeforge.yaml", "project: demo\nenv:\n  A: [1, 2\n")
    await wait_until(lambda: uri in lsp.diagnostics)
    [diag] = lsp.diagnostics[uri]
    assert diag.severity == types.DiagnosticSeverity.Error
    assert diag.message.startswith("not valid YAML: expected ',' or ']'")
    assert "flow sequence that starts at line 3" in diag.message
    assert diag.range.start.line == 2  # the end of the file: where the sequence should close

    lsp.diagnostics.pop(uri)
    _change(lsp, uri, "project: demo\nenv:\n  A: b\n B: c\n", 2)
    await wait_until(lambda: uri in lsp.diagnostics)
    [diag] = lsp.diagnostics[uri]
    assert diag.message.startswith("not valid YAML") and diag.range.start.line == 3


async def test_schema_errors_point_at_the_key(lsp: LanguageClient, workspace: Path) -> None:
    text = "project: demo\nenv:\n  GOOD: 1\n  1BAD: x\npipelines: {}\n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    by_line = {d.range.start.line: d for d in lsp.diagnostics[uri]}
    assert set(by_line) == {3, 4}
    bad_name, unknown = by_line[3], by_line[4]
    assert "`1BAD` is not a valid variable name" in bad_name.message
    assert (bad_name.range.start.character, bad_name.range.end.character) == (2, 6)
    assert "unknown key `pipelines`" in unknown.message and "`project`, `env`, `databases`" in unknown.message
    assert (unknown.range.start.character, unknown.range.end.character) == (0, 9)

    lsp.diagnostics.pop(uri)
    _change(lsp, uri, "project: demo\nenv:\n  GOOD: 1\n", 2)
    await wait_until(lambda: uri in lsp.diagnostics)
    assert list(lsp.diagnostics[uri]) == []


async def test_declared_secret_missing_on_the_platform_is_a_warning(lsp: LanguageClient, workspace: Path) -> None:
    text = "project: demo\nenv:\n  STRIPE_KEY:\n    secret: true\n    description: Payments\n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: any(d.severity == types.DiagnosticSeverity.Warning for d in lsp.diagnostics.get(uri, [])))
    [warning] = lsp.diagnostics[uri]
    assert "`STRIPE_KEY` is declared here but not set on the platform" in warning.message
    assert "codeforge env set STRIPE_KEY --secret" in warning.message
    assert warning.range.start.line == 2


async def test_declared_but_not_set_has_a_quick_fix_on_its_diagnostic(lsp: LanguageClient, workspace: Path) -> None:
    path = workspace / "codeforge.yaml"
    text = "project: demo\nenv:\n  WEBHOOK_SECRET:\n    secret: true\n  REGION:\n    description: Where it runs\n"
    uri = open_document(lsp, path, text)

    def not_set() -> list[types.Diagnostic]:
        return [d for d in lsp.diagnostics.get(uri, []) if "not set on the platform" in d.message]

    await wait_until(lambda: len(not_set()) == 2)
    secret, region = sorted(not_set(), key=lambda d: d.range.start.line)
    assert secret.code == "env-not-set" and secret.data == {"name": "WEBHOOK_SECRET", "secret": True}

    async def fixes(diagnostic: types.Diagnostic, only: list[str] | None) -> list[types.CodeAction]:
        # What an editor sends for Ctrl+. on the diagnostic: its range and the diagnostics there.
        found = await lsp.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=diagnostic.range,
                context=types.CodeActionContext(diagnostics=[diagnostic], only=only),  # type: ignore[arg-type]
            )
        )
        return [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]

    [fix] = await fixes(secret, None)
    assert fix.title == "Set `WEBHOOK_SECRET` on the platform (secret)" and fix.is_preferred
    assert list(fix.diagnostics or []) == [secret]
    assert fix.command is not None and fix.command.command == "codeforge.env.set"
    assert list(fix.command.arguments or []) == [{"name": "WEBHOOK_SECRET", "secret": True}]
    assert [f.title for f in await fixes(region, ["quickfix"])] == ["Set `REGION` on the platform"]
    # The editor asks for the value (VS Code prompts for the missing field) and runs it.
    await run(lsp, fix.command.command, {**fix.command.arguments[0], "value": "whsec-1"})
    _save(lsp, uri)
    await wait_until(lambda: [d.data["name"] for d in not_set()] == ["REGION"])


async def test_completion_of_keys_and_values(lsp: LanguageClient, workspace: Path) -> None:
    text = "project: demo\n\nenv:\n  FOO:\n    \n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)

    async def labels(line: int, character: int) -> set[str]:
        result = await lsp.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        assert isinstance(result, types.CompletionList)
        return {item.label for item in result.items}

    assert await labels(1, 0) == {
        "databases",
        "language_servers",
        "monitoring",
        "domains",
        "deploy",
    }  # project and env are both there already
    assert await labels(4, 4) == {"value", "secret", "description"}
    _change(lsp, uri, "project: demo\nenv:\n  FOO:\n    secret: \n", 2)
    assert await labels(3, 12) == {"true", "false"}
    _change(lsp, uri, "project: \n", 3)
    assert "demo" in await labels(0, 9)  # from projects.list
    await run(lsp, "codeforge.env.set", {"name": "ON_THE_PLATFORM", "value": "1"})
    _change(lsp, uri, "project: demo\nenv:\n  FOO: 1\n  \n", 4)
    names = await labels(3, 2)
    assert "ON_THE_PLATFORM" in names and "FOO" not in names  # from env.list


async def test_hover_shows_the_description(lsp: LanguageClient, workspace: Path) -> None:
    text = "project: demo\nenv:\n  TOKEN:\n    secret: true\n    description: The payments API key\n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)

    async def hover(line: int, character: int) -> str:
        result = await lsp.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        assert result is not None and isinstance(result.contents, types.MarkupContent)
        return result.contents.value

    assert "Slug of the CodeForge project" in await hover(0, 2)
    assert "A secret: encrypted on the platform" in await hover(3, 6)
    token = await hover(2, 3)
    assert "The payments API key" in token and "--secret" in token


async def test_code_action_sets_the_declared_variables(lsp: LanguageClient, workspace: Path) -> None:
    await run(lsp, "codeforge.env.set", {"name": "KEEP", "value": "same"})
    text = (
        "project: demo\nenv:\n  KEEP: same\n  PORT: 8080\n"
        "  MODE:\n    value: production\n    description: How the app runs\n"
        "  LATER:\n    secret: true\n"
    )
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    actions = await lsp.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert actions is not None
    [action] = [a for a in actions if isinstance(a, types.CodeAction)]
    assert action.title == "Set environment variables from codeforge.yaml" and action.command is not None

    result = await run(lsp, action.command.command, *(action.command.arguments or []))
    assert sorted(result["set"]) == ["MODE", "PORT"]
    assert result["unchanged"] == ["KEEP"] and result["missing"] == ["LATER"]
    listed = {i["name"]: i for i in (await run(lsp, "codeforge.env.list", {}))["items"]}
    assert listed["PORT"]["value"] == "8080" and listed["MODE"]["value"] == "production"
    await shown(lsp, lambda m: "set 2 variable(s)" in m and "still to set on the platform: LATER" in m)

    again = await run(lsp, action.command.command, *(action.command.arguments or []))
    assert again["set"] == [] and sorted(again["unchanged"]) == ["KEEP", "MODE", "PORT"]


async def test_code_action_on_an_invalid_file_is_refused(lsp: LanguageClient, workspace: Path) -> None:
    uri = open_document(lsp, workspace / "codeforge.yaml", "project: demo\nenv:\n  1BAD: x\n")
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "env"})
    assert "env.1BAD" in info.value.message


async def test_commands_read_the_open_buffer_not_the_disk(lsp: LanguageClient, workspace: Path) -> None:
    # The disk says `project: demo` (the fixture's file); the editor holds unsaved edits.
    await run(lsp, "codeforge.projects.create", {"slug": "from-buffer"})
    uri = (workspace / "codeforge.yaml").as_uri()
    text = "project: from-buffer\nenv:\n  UNSAVED: yes\n"
    lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=text)
        )
    )
    status = await request(lsp, "codeforge/status")
    assert status["project"] == "from-buffer"
    result = await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "env"})
    assert result["project"] == "from-buffer" and result["set"] == ["UNSAVED"]
    assert "UNSAVED" in {i["name"] for i in (await run(lsp, "codeforge.env.list", {}))["items"]}
    # Closed without saving: the file on disk speaks again.
    lsp.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await wait_until(lambda: uri in lsp.diagnostics and not lsp.diagnostics[uri])
    assert (await request(lsp, "codeforge/status"))["project"] == "demo"
